"""Fine-tuning: load trained variables, swap the classifier head, freeze the features.

    variables = load_run_variables("runs/fashionnet")   # a training run's last checkpoint
    # or load_variables("trained.msgpack")               # an exported file
    model, variables = replace_head(model, variables, num_classes=5, input_shape=(28, 28, 1))
    tx = finetune_optimizer(optax.adam(1e-3), variables["params"], freeze_features=True)

Every model's classifier is the submodule ``head``; everything else is "features".
Batch-norm statistics are carried over unchanged. With frozen features, apply the
model with ``train=False`` (or keep the ``batch_stats`` update out of the state) if
the statistics should stay frozen too.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence, Tuple

import jax
import jax.numpy as jnp
import optax
from flax import serialization
from flax.core import unfreeze

from cnnlab.models.registry import init_rngs

HEAD = "head"


def save_variables(path: str, variables: Mapping[str, Any]) -> None:
  """Writes variables as msgpack (flax.serialization: no pickle)."""
  with open(path, "wb") as f:
    f.write(serialization.msgpack_serialize(jax.device_get(unfreeze(variables))))


def load_variables(path: str) -> dict:
  with open(path, "rb") as f:
    return serialization.msgpack_restore(f.read())


def load_run_variables(workdir: str, step=None, use_ema: bool = False) -> dict:
  """``{"params", "batch_stats"}`` from a run's checkpoint (the latest, or ``step``).

  ``use_ema`` takes the run's EMA parameters (``train.ema_decay > 0``).
  """
  import os
  from cnnlab.train.checkpoint import load_raw  # the train package imports the models
  state = load_raw(os.path.join(workdir, "checkpoints"), step)
  params = state["ema_params"] if use_ema else state["params"]
  if params is None:
    raise ValueError(f"the run in {workdir} kept no EMA parameters (train.ema_decay was 0)")
  return {"params": params, "batch_stats": state.get("batch_stats") or {}}


def replace_head(model, variables: Mapping[str, Any], num_classes: int,
                 input_shape: Sequence[int], rng=None) -> Tuple[Any, dict]:
  """A copy of ``model`` with ``num_classes`` outputs and its variables.

  All parameters and batch statistics except the head's are copied from
  ``variables``; the new head is freshly initialised from ``rng``.
  """
  variables = unfreeze(variables)
  if HEAD not in variables.get("params", {}):
    raise ValueError(f"{type(model).__name__} has no submodule named {HEAD!r} to replace")
  new_model = model.clone(num_classes=num_classes)
  rng = jax.random.PRNGKey(0) if rng is None else rng
  dummy = jnp.zeros((1,) + tuple(input_shape))
  fresh = unfreeze(jax.jit(lambda k: new_model.init(init_rngs(k), dummy, train=False))(rng))
  out = jax.tree_util.tree_map(lambda a: a, variables)
  out["params"][HEAD] = fresh["params"][HEAD]
  old_shapes = jax.tree_util.tree_map(jnp.shape, {k: v for k, v in variables["params"].items()
                                                  if k != HEAD})
  new_shapes = jax.tree_util.tree_map(jnp.shape, {k: v for k, v in fresh["params"].items()
                                                  if k != HEAD})
  if old_shapes != new_shapes:
    raise ValueError("the trained variables do not match the model's feature layers "
                     "(different architecture or input shape?)")
  return new_model, out


def trainable_labels(params: Mapping[str, Any], freeze_features: bool = True) -> dict:
  """``"train"``/``"freeze"`` per parameter leaf: only the head trains when freezing."""
  return {k: jax.tree_util.tree_map(
      lambda _: "train" if (k == HEAD or not freeze_features) else "freeze", v)
          for k, v in params.items()}


def finetune_optimizer(tx: optax.GradientTransformation, params: Mapping[str, Any],
                       freeze_features: bool = True) -> optax.GradientTransformation:
  """``tx`` for the trainable parameters, zero updates for frozen ones (optax multi_transform)."""
  return optax.multi_transform({"train": tx, "freeze": optax.set_to_zero()},
                               trainable_labels(params, freeze_features))
