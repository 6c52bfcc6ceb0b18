"""Tests generated from the model registry (as timm parametrizes over list_models()).

Every registered model — built in or registered later — is initialised and run in
a tiny variant: output shape and dtype, jit, finite gradients, train vs eval mode
(batch statistics move only in train mode), bfloat16 compute with float32
parameters, determinism, its summary, and a fine-tuning head swap; and swept over three
pooling types × three activations,
abstractly (traced, never compiled), with invalid combinations rejected by name.
"""


import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnlab.models import MODELS, create_model, init_rngs
from cnnlab.models.registry import model_fields
from cnnlab.ops import IncompatibleLayersError
from cnnlab.ops.pooling import get_pool

NUM_CLASSES = 3


def _tiny(name):
  spec = MODELS.get(name)
  shape = spec.test_input_shape or spec.input_shape
  return create_model(name, shape, num_classes=NUM_CLASSES, **spec.test_kwargs), shape


def test_model_conformance(model_name):
  model, shape = _tiny(model_name)
  x = jnp.asarray(np.random.default_rng(0).normal(size=(2,) + shape), jnp.float32)
  variables = jax.jit(lambda k, z: model.init(init_rngs(k), z))(jax.random.PRNGKey(0), x)
  rngs = {"dropout": jax.random.PRNGKey(1), "pool": jax.random.PRNGKey(2)}

  eval_fn = jax.jit(lambda v, z: model.apply(v, z, train=False))
  y = eval_fn(variables, x)
  assert y.shape == (2, NUM_CLASSES) and y.dtype == jnp.float32
  assert np.all(np.isfinite(y))
  np.testing.assert_array_equal(eval_fn(variables, x), y)  # deterministic

  has_stats = "batch_stats" in variables

  def loss(params):
    out, state = model.apply({**variables, "params": params}, x, train=True, rngs=rngs,
                             mutable=["batch_stats"])
    return jnp.mean((out - 1.0) ** 2), state

  (value, state), grads = jax.jit(jax.value_and_grad(loss, has_aux=True))(variables["params"])
  leaves = jax.tree_util.tree_leaves(grads)
  assert np.isfinite(value) and all(np.all(np.isfinite(g)) for g in leaves)
  assert sum(float(jnp.abs(g).sum()) for g in leaves) > 0
  if has_stats:
    moved = [not np.allclose(a, b) for a, b in zip(
        jax.tree_util.tree_leaves(state["batch_stats"]),
        jax.tree_util.tree_leaves(variables["batch_stats"]))]
    assert any(moved), "train mode must update batch statistics"

  # Summarised and fine-tunable: a new head for another class count, features frozen.
  from cnnlab.models import finetune, summary
  spec = MODELS.get(model_name)
  s = summary.summarize(model_name, shape, flops=False, num_classes=NUM_CLASSES,
                        **spec.test_kwargs)
  assert s.params == sum(int(np.size(p)) for p in jax.tree_util.tree_leaves(variables["params"]))
  assert "total parameters" in s.format()
  new_model, new_vars = finetune.replace_head(model, variables, NUM_CLASSES + 2, shape)
  assert jax.jit(lambda v, z: new_model.apply(v, z))(new_vars, x).shape == (2, NUM_CLASSES + 2)
  labels = finetune.trainable_labels(new_vars["params"])
  assert set(jax.tree_util.tree_leaves(labels["head"])) == {"train"}
  assert all(label == "freeze" for k, v in labels.items() if k != "head"
             for label in jax.tree_util.tree_leaves(v))

  bf16 = model.clone(dtype=jnp.bfloat16)
  yb = jax.jit(lambda v, z: bf16.apply(v, z, train=False))(variables, x)
  assert yb.dtype == jnp.float32 and np.all(np.isfinite(yb))
  assert all(p.dtype == jnp.float32 for p in jax.tree_util.tree_leaves(variables["params"]))


def _pools_for(model) -> list:
  if "pool" not in model_fields(type(model)):
    return [None]
  if get_pool(model.pool).kind == "global":
    return ["global_avg", "global_max", "gem"]
  return ["max", "avg", "mixed", "stochastic"]


def test_model_sweeps_pools_and_activations(model_name):
  spec = MODELS.get(model_name)
  base, shape = _tiny(model_name)
  fields = model_fields(type(base))
  acts = ["relu", "tanh", "silu"] if "act" in fields else [None]
  built = 0
  for pool in _pools_for(base):
    for act in acts:
      kw = {k: v for k, v in (("pool", pool), ("act", act)) if v is not None}
      stochastic_bad = pool == "stochastic" and (act in ("tanh", "silu") or model_name.startswith(
          ("nielsen", "densenet")))
      if stochastic_bad:
        with pytest.raises(IncompatibleLayersError, match="non-negative"):
          create_model(model_name, shape, num_classes=NUM_CLASSES, **spec.test_kwargs, **kw)
        continue
      model = create_model(model_name, shape, num_classes=NUM_CLASSES, **spec.test_kwargs, **kw)
      x = jax.ShapeDtypeStruct((2,) + shape, jnp.float32)
      variables = jax.eval_shape(lambda k, z: model.init(init_rngs(k), z),
                                 jax.random.PRNGKey(0), x)
      out = jax.eval_shape(lambda v, z: model.apply(v, z, train=True, rngs=init_rngs(
          jax.random.PRNGKey(1)), mutable=["batch_stats"])[0], variables, x)
      assert out.shape == (2, NUM_CLASSES)
      built += 1
  if "pool" in fields and "act" in fields:
    assert built >= 9  # at least 3 poolings × 3 activations

