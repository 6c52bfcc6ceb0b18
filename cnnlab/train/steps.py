"""Pure, jit-compiled train and eval steps.

``train_step(state, images, labels) -> (state, metrics)``: the step's randomness
(dropout, stochastic pooling, augmentation) is ``fold_in(state.rng, state.step)``,
so a run resumed from a checkpoint draws exactly the keys an uninterrupted run
would. ``eval_step(state, images, labels, mask) -> sums`` returns sums over the
valid (unmasked) examples, so a padded last batch counts each example once.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence, Tuple

import flax
import jax
import jax.numpy as jnp
import optax

from cnnlab.data import augment as aug
from cnnlab.train.optim import l2_penalty


@flax.struct.dataclass
class TrainState:
  step: jax.Array
  params: Any
  batch_stats: Any
  opt_state: Any
  rng: jax.Array


def init_state(model, tx, rng, example_shape) -> TrainState:
  """The initial state from one key (pure: jit it, or vmap it over keys for replicas)."""
  init_key, run_key = jax.random.split(rng)
  p, d, s = jax.random.split(init_key, 3)
  variables = model.init({"params": p, "dropout": d, "pool": s},
                         jnp.zeros((1,) + tuple(example_shape)), train=False)
  params = variables["params"]
  return TrainState(step=jnp.zeros((), jnp.int32), params=params,
                    batch_stats=variables.get("batch_stats", {}), opt_state=tx.init(params),
                    rng=run_key)


def create_state(model, tx, rng, example_shape, num_replicas: int = 0) -> TrainState:
  """One state from key ``rng``, or ``num_replicas`` stacked states from keys ``rng[r]``."""
  init = lambda k: init_state(model, tx, k, example_shape)
  return jax.jit(jax.vmap(init) if num_replicas else init)(rng)


def make_steps(model, tx, *, mean: Sequence[float], std: Sequence[float],
               num_classes: int, label_smoothing: float = 0.0, l2: float = 0.0,
               l2_form: str = "plain", num_batches: int = 1, augment: Sequence[str] = (),
               augment_options=None, replicas: bool = False) -> Tuple[Callable, Callable]:
  """Builds the jitted ``train_step`` and ``eval_step`` for a model and optimizer.

  With ``replicas=True`` both are vmapped over a leading replica axis: the state and
  the training batch carry it (each replica trains on its own data order with its
  own keys); the evaluation batch is shared.
  """
  augment_options = dict(augment_options or {})

  def prepare(images):
    return aug.normalize(images, mean, std)

  def loss_fn(params, state, x, y, key):
    k_drop, k_pool = jax.random.split(key)
    out, updates = model.apply({"params": params, "batch_stats": state.batch_stats}, x,
                               train=True, rngs={"dropout": k_drop, "pool": k_pool},
                               mutable=["batch_stats"])
    targets = optax.smooth_labels(jax.nn.one_hot(y, num_classes), label_smoothing) \
        if label_smoothing else jax.nn.one_hot(y, num_classes)
    ce = optax.softmax_cross_entropy(out, targets).mean()
    loss = ce + l2_penalty(params, l2, num_batches, l2_form)
    acc = (out.argmax(-1) == y).mean()
    return loss, (updates.get("batch_stats", {}), ce, acc)

  def train_step(state: TrainState, images, labels):
    key = jax.random.fold_in(state.rng, state.step)
    k_aug, k_model = jax.random.split(key)
    x = prepare(images)
    if augment:
      x = aug.apply_augmentations(k_aug, x, augment, **augment_options)
    grads, (stats, ce, acc) = jax.grad(loss_fn, has_aux=True)(state.params, state, x, labels,
                                                              k_model)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    new = state.replace(step=state.step + 1, params=params, batch_stats=stats,
                        opt_state=opt_state)
    return new, {"loss": ce, "accuracy": acc, "grad_norm": optax.tree.norm(grads)}

  def eval_step(state: TrainState, images, labels, mask):
    out = model.apply({"params": state.params, "batch_stats": state.batch_stats},
                      prepare(images), train=False)
    ce = optax.softmax_cross_entropy_with_integer_labels(out, labels)
    m = mask.astype(jnp.float32)
    return {"loss_sum": (ce * m).sum(), "correct": ((out.argmax(-1) == labels) * m).sum(),
            "count": m.sum()}

  if replicas:
    return (jax.jit(jax.vmap(train_step), donate_argnums=0),
            jax.jit(jax.vmap(eval_step, in_axes=(0, None, None, None))))
  return jax.jit(train_step, donate_argnums=0), jax.jit(eval_step)
