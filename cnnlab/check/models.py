"""The conformance battery of registered models: one function per property.

Every registered model — built in, or registered by a researcher in their own file —
is built in its tiny test variant (``test_kwargs``, ``test_input_shape``) and must have
these properties. Each check takes the model's registry name and raises
:class:`AssertionError` with the reason when the property fails. The test suite
parametrizes over them (``tests/test_model_registry.py``), and ``python -m cnnlab.check``
runs them on a user's models.
"""

from __future__ import annotations

import functools
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np

from cnnlab.errors import IncompatibleLayersError
from cnnlab.models.registry import MODELS, create_model, init_rngs, model_fields
from cnnlab.ops.pooling import get_pool

NUM_CLASSES = 3


@functools.lru_cache(maxsize=8)
def built(name: str):
  """``(model, input shape, input batch, variables)`` of the tiny variant (built once)."""
  spec = MODELS.get(name)
  shape = spec.test_input_shape or spec.input_shape
  model = create_model(name, shape, num_classes=NUM_CLASSES, **spec.test_kwargs)
  x = jnp.asarray(np.random.default_rng(0).normal(size=(2,) + shape), jnp.float32)
  variables = jax.jit(lambda k, z: model.init(init_rngs(k), z))(jax.random.PRNGKey(0), x)
  return model, shape, x, variables


@functools.lru_cache(maxsize=16)
def _eval_fn(name: str, bfloat16: bool = False):
  """The model's eval-mode apply, jitted once per model (and compute dtype)."""
  model = built(name)[0]
  model = model.clone(dtype=jnp.bfloat16) if bfloat16 else model
  return jax.jit(lambda v, z: model.apply(v, z, train=False))


def _eval(name: str, bfloat16: bool = False):
  _, _, x, variables = built(name)
  return _eval_fn(name, bfloat16)(variables, x)


def model_output(name: str) -> None:
  """Eval outputs are ``(N, num_classes)`` float32 logits, finite."""
  y = _eval(name)
  assert y.shape == (2, NUM_CLASSES) and y.dtype == jnp.float32, f"{name}: {y.shape} {y.dtype}"
  assert np.all(np.isfinite(y)), f"{name}: non-finite outputs"


def model_deterministic(name: str) -> None:
  np.testing.assert_array_equal(_eval(name), _eval(name), err_msg=f"{name}: eval differs")


@functools.lru_cache(maxsize=8)
def _train_loss(name: str):
  model, _, x, variables = built(name)
  rngs = {"dropout": jax.random.PRNGKey(1), "pool": jax.random.PRNGKey(2)}

  def loss(params):
    out, state = model.apply({**variables, "params": params}, x, train=True, rngs=rngs,
                             mutable=["batch_stats"])
    return jnp.mean((out - 1.0) ** 2), state
  return jax.jit(jax.value_and_grad(loss, has_aux=True))(variables["params"])


def model_gradients(name: str) -> None:
  """A train-mode loss has finite gradients, some of them non-zero."""
  (value, _), grads = _train_loss(name)
  leaves = jax.tree_util.tree_leaves(grads)
  assert np.isfinite(value) and all(np.all(np.isfinite(g)) for g in leaves), \
      f"{name}: non-finite loss or gradient"
  assert sum(float(jnp.abs(g).sum()) for g in leaves) > 0, f"{name}: all gradients are zero"


def model_batch_statistics(name: str) -> None:
  """Train mode moves the batch statistics (when the model keeps any)."""
  variables = built(name)[3]
  if "batch_stats" not in variables:
    return
  (_, state), _ = _train_loss(name)
  moved = [not np.allclose(a, b) for a, b in zip(
      jax.tree_util.tree_leaves(state["batch_stats"]),
      jax.tree_util.tree_leaves(variables["batch_stats"]))]
  assert any(moved), f"{name}: train mode must update batch statistics"


def model_summary(name: str) -> None:
  """The summary counts the parameters init makes."""
  from cnnlab.models import summary
  _, shape, _, variables = built(name)
  s = summary.summarize(name, shape, flops=False, num_classes=NUM_CLASSES,
                        **MODELS.get(name).test_kwargs)
  want = sum(int(np.size(p)) for p in jax.tree_util.tree_leaves(variables["params"]))
  assert s.params == want, f"{name}: summary says {s.params} parameters, init made {want}"
  assert "total parameters" in s.format()


def model_finetune(name: str) -> None:
  """A new head for another class count; only the head trains when features freeze."""
  from cnnlab.models import finetune
  model, shape, x, variables = built(name)
  new_model, new_vars = finetune.replace_head(model, variables, NUM_CLASSES + 2, shape)
  # abstractly: a head that does not fit its features fails while tracing (compiling the
  # new net only to read its output shape cost 0.7 s a model)
  y = jax.eval_shape(lambda v, z: new_model.apply(v, z), new_vars, x)
  assert y.shape == (2, NUM_CLASSES + 2), f"{name}: new head gives {y.shape}"
  labels = finetune.trainable_labels(new_vars["params"])
  assert set(jax.tree_util.tree_leaves(labels["head"])) == {"train"}
  assert all(label == "freeze" for k, v in labels.items() if k != "head"
             for label in jax.tree_util.tree_leaves(v)), f"{name}: a feature layer trains"


def model_bfloat16(name: str) -> None:
  """bfloat16 compute: float32 logits, finite; the parameters stay float32."""
  variables = built(name)[3]
  yb = _eval(name, bfloat16=True)
  assert yb.dtype == jnp.float32 and np.all(np.isfinite(yb)), f"{name}: bfloat16 output"
  assert all(p.dtype == jnp.float32 for p in jax.tree_util.tree_leaves(variables["params"]))


def _pools_for(model) -> list:
  if "pool" not in model_fields(type(model)):
    return [None]
  if get_pool(model.pool).kind == "global":
    return ["global_avg", "global_max", "gem"]
  return ["max", "avg", "mixed", "stochastic"]


def _rejected(name: str, kw) -> Optional[str]:
  """The error building ``name`` with ``kw`` gives, or None when it builds."""
  spec = MODELS.get(name)
  shape = spec.test_input_shape or spec.input_shape
  try:
    model = create_model(name, shape, num_classes=NUM_CLASSES, **spec.test_kwargs, **kw)
  except IncompatibleLayersError as e:
    return str(e)
  x = jax.ShapeDtypeStruct((2,) + shape, jnp.float32)
  # One abstract trace of a train-mode call gives the output and the variables (an init
  # followed by a separate apply traced the model twice: 1.6x slower for ResNet-50).
  out, _ = jax.eval_shape(lambda k, z: model.init_with_output(init_rngs(k), z, train=True),
                          jax.random.PRNGKey(0), x)
  assert out.shape == (2, NUM_CLASSES), f"{name} {kw}: output {out.shape}"
  return None


def _pool_activation_pairs(pools: list, acts: list) -> list:
  """Every pooling once, with the activations in turn (every activation at least once):
  a covering of the grid by ``max(len(pools), len(acts))`` builds. The full grid traced
  the model 10-12 times; each trace of a deep net costs 1-2 s of Python, and a pairing
  fails only through a rule that names both (stochastic pooling after a negative
  activation), whose pairs :func:`model_pools_and_activations` tries in full."""
  n = max(len(pools), len(acts))
  return [(pools[i % len(pools)], acts[i % len(acts)]) for i in range(n)]


def model_pools_and_activations(name: str) -> None:
  """Built (abstractly) with each of 3+ poolings and each of 3 activations (a covering of
  the grid, every non-stochastic pairing must build); stochastic pooling is tried after
  every activation and may only be rejected by name, as needing non-negative inputs
  (a rejection comes before tracing: free)."""
  base = built(name)[0]
  fields = model_fields(type(base))
  acts = ["relu", "tanh", "silu"] if "act" in fields else [None]
  pools = _pools_for(base)
  pairs = _pool_activation_pairs([p for p in pools if p != "stochastic"], acts)
  if "stochastic" in pools:
    pairs += [("stochastic", a) for a in acts]
  for pool, act in pairs:
    kw = {k: v for k, v in (("pool", pool), ("act", act)) if v is not None}
    why = _rejected(name, kw)
    assert why is None or (pool == "stochastic" and "non-negative" in why), f"{name} {kw}: {why}"


MODEL_CHECKS = {"output": model_output, "deterministic": model_deterministic,
                "gradients": model_gradients, "batch statistics": model_batch_statistics,
                "summary": model_summary, "fine-tuning": model_finetune,
                "bfloat16": model_bfloat16, "pools x activations": model_pools_and_activations}
