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
import numpy as np
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
      lambda _, k=k: "train" if (k == HEAD or not freeze_features) else "freeze", v)
          for k, v in params.items()}


def finetune_optimizer(tx: optax.GradientTransformation, params: Mapping[str, Any],
                       freeze_features: bool = True) -> optax.GradientTransformation:
  """``tx`` for the trainable parameters, zero updates for frozen ones (optax multi_transform)."""
  return optax.multi_transform({"train": tx, "freeze": optax.set_to_zero()},
                               trainable_labels(params, freeze_features))


def to_conv_head(model, variables: Mapping[str, Any], input_shape: Sequence[int]
                 ) -> Tuple[Any, dict]:
  """The same trained net with its fully connected layers rewritten as convolutions.

  Every dense kernel ``(H·W·C, F)`` over a flattened ``(H, W, C)`` input becomes a conv
  kernel ``(H, W, C, F)`` (a dense layer after another becomes ``1×1``; a global-pool
  head ``(C, K)`` becomes ``1×1×C×K``): identical outputs on ``input_shape``, and class
  score maps on larger inputs. Returns ``(model with head="conv", variables)``.
  """
  from cnnlab.models.registry import abstract_init
  conv_model = model.clone(head="conv")
  target = abstract_init(conv_model, tuple(input_shape))["params"]
  params = unfreeze(variables["params"])
  head = dict(params[HEAD])
  if "dense" in head:  # Head: head/dense -> head/conv
    head["conv"] = head.pop("dense")
  params = {**params, HEAD: head}

  def reshape(path, leaf):
    want = target
    for key in path:
      want = want[key.key]
    if leaf.shape != want.shape:
      if leaf.size != int(np.prod(want.shape)):
        raise ValueError(f"{'/'.join(k.key for k in path)}: cannot turn {leaf.shape} into "
                         f"{want.shape}")
      return jnp.reshape(leaf, want.shape)
    return leaf
  params = jax.tree_util.tree_map_with_path(reshape, params)
  return conv_model, {**dict(variables), "params": params}


def score_map(model, variables: Mapping[str, Any], x) -> jax.Array:
  """Class scores per position, ``(N, *positions, K)``, for a model with ``head="conv"``.

  Nets whose classifier sits on a feature map return the map itself on inputs larger
  than the training size; globally pooled nets (ResNet, DenseNet, Inception,
  All-CNN) pool it away, so their per-position scores are read from what the head sows.
  """
  out, state = model.apply(variables, x, mutable=["intermediates"])
  sown = [leaf for path, leaf in jax.tree_util.tree_flatten_with_path(
      state.get("intermediates", {}))[0] if "score_map" in jax.tree_util.keystr(path)]
  if sown:
    return sown[-1]
  if out.ndim < 3:
    raise ValueError("the model returned one score vector per example: use head='conv' and "
                     "an input larger than the training size")
  return out
