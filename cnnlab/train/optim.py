"""Optimizers and schedules from a config (optax).

``config.optim`` fields: ``name`` (sgd, momentum, nesterov, adam, adamw, rmsprop),
``lr``, ``momentum``, ``b1``, ``b2``, ``eps``, ``weight_decay`` (decoupled, AdamW
style, applied by adamw or added to any optimizer), ``schedule`` (constant, step,
cosine, onecycle, piecewise), ``warmup_steps`` (linear from 0; it must end before the
run and before the first piecewise drop), ``decay_steps``/``decay_factor`` (step:
every ``decay_steps``), ``boundaries`` (piecewise: × ``decay_factor`` at these fractions of
the run, e.g. He et al.'s 32k and 48k of 64k iterations = (0.5, 0.75)),
``clip_norm`` (global-norm clipping, 0 = off).

L2 regularisation is part of the loss, not the optimizer: :func:`l2_penalty` has
the plain form ``0.5·λ·Σw²`` and Nielsen's ``0.5·λ·Σw²/num_batches`` (network3.py
divides by the number of training batches).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from cnnlab.errors import ConfigError

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam", "adamw", "rmsprop")
SCHEDULES = ("constant", "step", "piecewise", "cosine", "onecycle")


def make_schedule(cfg, total_steps: int) -> optax.Schedule:
  lr, warm = float(cfg.lr), int(cfg.get("warmup_steps", 0))
  kind = cfg.get("schedule", "constant")
  _check_warmup(cfg, kind, warm, total_steps)
  if kind == "constant":
    main = optax.constant_schedule(lr)
  elif kind == "step":
    every = int(cfg.get("decay_steps", 0)) or max(total_steps // 3, 1)
    main = optax.exponential_decay(lr, every, float(cfg.get("decay_factor", 0.1)), staircase=True)
  elif kind == "piecewise":  # published milestones, as fractions of the run
    factor = float(cfg.get("decay_factor", 0.1))
    main = optax.piecewise_constant_schedule(
        lr, {max(int(round(b * total_steps)) - warm, 1): factor
             for b in cfg.get("boundaries", (0.5, 0.75))})
  elif kind == "cosine":
    main = optax.cosine_decay_schedule(lr, max(total_steps - warm, 1))
  elif kind == "onecycle":
    return optax.cosine_onecycle_schedule(max(total_steps, 1), lr,
                                          pct_start=max(warm / max(total_steps, 1), 0.01) or 0.25)
  else:
    raise ValueError(f"optim.schedule {kind!r} unknown; valid: {', '.join(SCHEDULES)}")
  if warm:
    return optax.join_schedules([optax.linear_schedule(0.0, lr, warm), main], [warm])
  return main


def _check_warmup(cfg, kind: str, warm: int, total_steps: int) -> None:
  """A warm-up must end inside the run and before the first piecewise drop: past either,
  the joined schedule would silently never reach ``lr`` or move the drop to its end."""
  if not warm:
    return
  if warm >= total_steps:
    raise ConfigError(f"config.optim.warmup_steps: {warm} warm-up steps do not end before "
                      f"the run's {total_steps} steps (the rate would never reach optim.lr)")
  if kind == "piecewise":
    first = min(int(round(b * total_steps)) for b in cfg.get("boundaries", (0.5, 0.75)))
    if first <= warm:
      raise ConfigError(f"config.optim.warmup_steps: {warm} warm-up steps reach the first "
                        f"piecewise drop at step {first} (optim.boundaries of "
                        f"{total_steps} steps); the drop would move to the warm-up's end")


def make_optimizer(cfg, total_steps: int, traced: bool = False,
                   decays: bool = False) -> optax.GradientTransformation:
  """The optimizer of ``cfg`` (``config.optim``) for a run of ``total_steps``.

  ``traced=True`` keeps the learning rate and weight decay as traced state (optax's
  ``inject_hyperparams``: ``opt_state.hyperparams``) instead of constants compiled into
  the step, so that runs trained side by side can each have their own; the rate at a
  step is then ``learning_rate × (the schedule with peak 1)``. ``decays``: some run of the
  program has a weight decay (its optimizer adds the decay term, traced, for every run:
  ``cfg``'s own weight decay may be 0).
  """
  if not traced:
    return _optimizer(cfg, make_schedule(cfg, total_steps), float(cfg.get("weight_decay", 0.0)))
  unit = cfg.copy_and_resolve_references()
  with unit.unlocked():
    unit.lr = 1.0
  shape = make_schedule(unit, total_steps)

  def factory(learning_rate, weight_decay):
    return _optimizer(cfg, lambda count: learning_rate * shape(count), weight_decay,
                      decay_on=decays or float(cfg.get("weight_decay", 0.0)) > 0)
  return optax.inject_hyperparams(factory)(
      learning_rate=float(cfg.lr), weight_decay=float(cfg.get("weight_decay", 0.0)))


def _optimizer(cfg, sched, weight_decay, decay_on=None) -> optax.GradientTransformation:
  """The chain: clipping, (SGD-style) weight decay, the named optimizer with ``sched``."""
  name = cfg.name
  mom = float(cfg.get("momentum", 0.9))
  b1, b2, eps = float(cfg.get("b1", 0.9)), float(cfg.get("b2", 0.999)), float(cfg.get("eps", 1e-8))
  if name == "sgd":
    opt = optax.sgd(sched)
  elif name == "momentum":
    opt = optax.sgd(sched, momentum=mom)
  elif name == "nesterov":
    opt = optax.sgd(sched, momentum=mom, nesterov=True)
  elif name == "adam":
    opt = optax.adam(sched, b1=b1, b2=b2, eps=eps)
  elif name == "adamw":
    opt = optax.adamw(sched, b1=b1, b2=b2, eps=eps, weight_decay=weight_decay)
  elif name == "rmsprop":
    opt = optax.rmsprop(sched, decay=float(cfg.get("b2", 0.9)), eps=eps,
                        momentum=mom if cfg.get("momentum_rmsprop", False) else None)
  else:
    raise ValueError(f"optim.name {name!r} unknown; valid: {', '.join(OPTIMIZERS)}")
  chain = []
  if float(cfg.get("clip_norm", 0.0)) > 0:
    chain.append(optax.clip_by_global_norm(float(cfg.clip_norm)))
  decay = decay_on if decay_on is not None else weight_decay > 0
  if name != "adamw" and decay:
    # Weight decay added to the gradient before the optimizer (PyTorch's weight_decay):
    # for SGD the decoupled form, for Adam and RMSprop an L2 term the moments rescale.
    chain.append(optax.add_decayed_weights(weight_decay))
  chain.append(opt)
  # Over one ravelled vector: the optimizer's moments are then one array each instead of
  # one per parameter, and a step's program fewer arguments (a step of MNIST-1D's
  # ConvPooling 0.92-0.95x as long, benchmarks/NOTES.md §9); the values are the same.
  return optax.flatten(optax.chain(*chain) if len(chain) > 1 else opt)


def l2_penalty(params, lam: float, num_batches: int = 1, form: str = "plain"):
  """``0.5·λ·Σw²`` over weight matrices/kernels (biases and norm scales excluded).

  ``form="nielsen"`` divides by the number of training batches per epoch, as
  network3.py does (``0.5*lmbda*l2_norm_squared/num_training_batches``).
  """
  if lam == 0:
    return jnp.float32(0.0)
  leaves = [w for path, w in jax.tree_util.tree_flatten_with_path(params)[0]
            if getattr(path[-1], "key", "") == "kernel"]
  total = sum(jnp.sum(jnp.square(w.astype(jnp.float32))) for w in leaves)
  scale = 0.5 * lam / (num_batches if form == "nielsen" else 1)
  return scale * total
