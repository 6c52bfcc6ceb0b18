"""Norms and dropout against closed forms and NumPy loops."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import reference as ref
from cnnlab.ops import normalization as N


def _x(shape=(4, 3, 3, 6), seed=0):
  return np.random.default_rng(seed).normal(size=shape) * 2 + 1


def test_batch_norm_train_and_eval():
  x = _x()
  scale, bias = np.linspace(0.5, 2, 6), np.linspace(-1, 1, 6)
  mean0, var0 = np.zeros(6), np.ones(6)
  y, (m, v) = N.batch_norm(jnp.asarray(x), scale, bias, mean0, var0, train=True, momentum=0.9,
                           eps=1e-5)
  bm, bv = x.mean((0, 1, 2)), x.var((0, 1, 2))
  np.testing.assert_allclose(y, (x - bm) / np.sqrt(bv + 1e-5) * scale + bias, atol=1e-4)
  np.testing.assert_allclose(m, 0.1 * bm, atol=1e-5)
  np.testing.assert_allclose(v, 0.9 + 0.1 * bv, atol=1e-4)
  y2, stats = N.batch_norm(jnp.asarray(x), scale, bias, m, v, train=False)
  np.testing.assert_allclose(y2, (x - np.asarray(m)) / np.sqrt(np.asarray(v) + 1e-5) * scale
                             + bias, atol=1e-4)
  assert stats[0] is m


def test_batch_norm_axis_name_averages_across_devices():
  x = jnp.asarray(_x((2, 4, 2, 2, 3)), jnp.float32)  # 2 "devices" of 4 examples
  one = lambda z: N.batch_norm(z, 1.0, 0.0, jnp.zeros(3), jnp.ones(3), train=True,
                               axis_name="d")[0]
  synced = jax.vmap(one, axis_name="d")(x)
  whole = N.batch_norm(x.reshape(8, 2, 2, 3), 1.0, 0.0, jnp.zeros(3), jnp.ones(3),
                       train=True)[0]
  np.testing.assert_allclose(synced.reshape(8, 2, 2, 3), whole, atol=1e-5)


@pytest.mark.parametrize("size", [1, 2, 3, 5])
def test_lrn_matches_loop(size):
  x = _x((2, 3, 3, 7))
  ours = N.local_response_norm(jnp.asarray(x, jnp.float32), size=size, k=2.0, alpha=1e-2,
                               beta=0.75)
  np.testing.assert_allclose(ours, ref.lrn_ref(x, size, 2.0, 1e-2, 0.75), rtol=1e-5)
  scaled = N.local_response_norm(jnp.asarray(x, jnp.float32), size=size, alpha=1e-2,
                                 alpha_over_size=True)
  np.testing.assert_allclose(scaled, ref.lrn_ref(x, size, 2.0, 1e-2 / size, 0.75), rtol=1e-5)


def test_group_and_layer_norm():
  x = _x((2, 3, 3, 6))
  g = x.reshape(2, 3, 3, 3, 2)
  want = (g - g.mean((1, 2, 4), keepdims=True)) / np.sqrt(g.var((1, 2, 4), keepdims=True) + 1e-5)
  np.testing.assert_allclose(N.group_norm(jnp.asarray(x), 1.0, 0.0, num_groups=3),
                             want.reshape(x.shape), atol=1e-4)
  want = (x - x.mean((1, 2, 3), keepdims=True)) / np.sqrt(x.var((1, 2, 3), keepdims=True) + 1e-5)
  np.testing.assert_allclose(N.layer_norm(jnp.asarray(x), 1.0, 0.0), want, atol=1e-4)
  with pytest.raises(ValueError, match="not divisible"):
    N.group_norm(jnp.asarray(x), 1.0, 0.0, num_groups=4)


def test_dropout_modes():
  x = jnp.ones((2000,))
  key = jax.random.PRNGKey(0)
  y = N.dropout(x, 0.25, key, train=True)
  kept = np.asarray(y) != 0
  assert abs(kept.mean() - 0.75) < 0.03
  np.testing.assert_allclose(np.asarray(y)[kept], 1 / 0.75, rtol=1e-6)
  z = N.dropout(x, 0.25, key, train=True, mode="scale_at_test")
  np.testing.assert_array_equal(np.asarray(z) != 0, kept)  # same key, same mask
  np.testing.assert_allclose(np.asarray(z)[kept], 1.0)
  np.testing.assert_allclose(N.dropout(x, 0.25, None, train=False, mode="scale_at_test"), 0.75)
  assert N.dropout(x, 0.25, None, train=False) is x
  with pytest.raises(ValueError, match="key"):
    N.dropout(x, 0.5, None, train=True)
  with pytest.raises(ValueError, match=r"\[0, 1\)"):
    N.dropout(x, 1.0, key, train=True)
