"""Flax wrappers: names resolved and combinations checked before any tracing."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnlab.layers import Act, Conv, Dropout, Norm, Pool
from cnnlab.ops import IncompatibleLayersError, ShapeError
from cnnlab.ops.pooling import max_pool
from cnnlab.registry import UnknownNameError


class Block(nn.Module):
  pool: str = "max"
  act: str = "relu"
  norm: str = "batch"

  @nn.compact
  def __call__(self, x, train=False):
    x = Conv(4, 3, padding="SAME", use_bias=False, name="conv1")(x)
    opts = {"num_groups": 2} if self.norm == "group" else None
    x = Norm(self.norm, options=opts, name="norm1")(x, train)
    x = Act(self.act)(x)
    x = Pool(self.pool, 2, input_act=self.act, name="pool1")(x, train)
    x = Dropout(0.5)(x, train)
    return x


def _apply(model, x, train):
  variables = model.init(jax.random.PRNGKey(0), x)
  rngs = {"pool": jax.random.PRNGKey(1), "dropout": jax.random.PRNGKey(2)}
  return model.apply(variables, x, train, rngs=rngs, mutable=["batch_stats"]), variables


@pytest.mark.parametrize("pool", ["max", "avg", "stochastic", "mixed", "gated", "l2_sum"])
@pytest.mark.parametrize("act,norm", [("relu", "batch"), ("sigmoid", "lrn"), ("abs_tanh", "group"),
                                      ("tanh", "layer"), ("elu", "none")])
def test_block_over_pools_acts_norms(pool, act, norm):
  x = jnp.asarray(np.random.default_rng(0).normal(size=(2, 6, 6, 3)), jnp.float32)
  model = Block(pool, act, norm)
  if pool == "stochastic" and act in ("tanh", "elu"):
    # Rejected while tracing init abstractly: nothing is compiled.
    with pytest.raises(IncompatibleLayersError, match="layer 'pool1'.*non-negative"):
      jax.eval_shape(model.init, jax.random.PRNGKey(0), x)
    return
  (y, state), variables = _apply(model, x, True)
  assert y.shape == (2, 3, 3, 4)
  if norm == "batch":
    assert not np.allclose(state["batch_stats"]["norm1"]["mean"], 0)


def test_group_norm_options_through_module():
  x = jnp.ones((2, 4, 4, 6)) * jnp.arange(6.0)
  m = Norm("group", options={"num_groups": 3})
  v = m.init(jax.random.PRNGKey(0), x)
  assert m.apply(v, x).shape == x.shape


def test_conv_module_matches_lax_and_bf16_compute():
  x = jnp.asarray(np.random.default_rng(0).normal(size=(2, 7, 7, 3)), jnp.float32)
  m = Conv(5, (3, 3), strides=2, padding=1)
  v = m.init(jax.random.PRNGKey(0), x)
  y = m.apply(v, x)
  want = jax.lax.conv_general_dilated(x, v["params"]["kernel"], (2, 2), ((1, 1), (1, 1)),
                                      dimension_numbers=("NHWC", "HWIO", "NHWC"))
  np.testing.assert_allclose(y, want + v["params"]["bias"], atol=1e-5)
  yb = Conv(5, 3, strides=2, padding=1, dtype=jnp.bfloat16).apply(v, x)
  assert yb.dtype == jnp.bfloat16 and v["params"]["kernel"].dtype == jnp.float32
  masked = Conv(2, 1, kernel_mask=np.array([[1, 0], [0, 1], [1, 1]]))
  vm = masked.init(jax.random.PRNGKey(0), x)
  ym = masked.apply(vm, x)
  k = np.asarray(vm["params"]["kernel"])[0, 0]
  np.testing.assert_allclose(ym[..., 0], x[..., 0] * k[0, 0] + x[..., 2] * k[2, 0], atol=1e-5)


def test_errors_come_before_compilation():
  with pytest.raises(UnknownNameError, match="Valid names"):
    Pool("median")
  with pytest.raises(UnknownNameError, match="Valid names"):
    Act("swishy")
  with pytest.raises(UnknownNameError, match="Valid names"):
    Norm("instance")
  with pytest.raises(IncompatibleLayersError, match="'lecun_tanh'"):
    Pool("stochastic", 2, input_act="lecun_tanh")
  # A window larger than its feature map fails during abstract evaluation
  # (jax.eval_shape traces but never compiles), naming the layer.
  model = Block()
  with pytest.raises(ShapeError, match="layer 'pool1'.*window 2 is larger"):
    jax.eval_shape(model.init, jax.random.PRNGKey(0), jnp.ones((1, 1, 1, 3)))


def test_stochastic_pool_module_train_vs_eval():
  x = jnp.abs(jnp.asarray(np.random.default_rng(0).normal(size=(1, 4, 4, 2)), jnp.float32))
  m = Pool("stochastic", 2)
  v = m.init(jax.random.PRNGKey(0), x)
  a = m.apply(v, x, True, rngs={"pool": jax.random.PRNGKey(3)})
  b = m.apply(v, x, True, rngs={"pool": jax.random.PRNGKey(3)})
  np.testing.assert_array_equal(a, b)
  assert np.all(np.asarray(a) <= np.asarray(max_pool(x, 2)))
  with pytest.raises(Exception, match="pool"):
    m.apply(v, x, True)  # no "pool" rng
  e = m.apply(v, x, False)
  assert e.shape == a.shape


def test_learnable_pool_parameters_get_gradients():
  x = jnp.asarray(np.random.default_rng(0).normal(size=(2, 4, 4, 3)), jnp.float32)
  for kind, opts, name in (("mixed", {"per_channel": True}, "alpha_logit"),
                           ("gated", {}, "omega"), ("gem", {}, "p")):
    m = Pool(kind, 2, options=opts)
    v = m.init(jax.random.PRNGKey(0), jnp.abs(x))
    g = jax.grad(lambda p: m.apply({"params": p}, jnp.abs(x)).sum())(v["params"])
    assert np.all(np.isfinite(g[name])) and np.any(np.asarray(g[name]) != 0), kind
  assert Pool("mixed", 2, options={"per_channel": True}).init(
      jax.random.PRNGKey(0), x)["params"]["alpha_logit"].shape == (3,)
