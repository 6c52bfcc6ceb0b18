"""Pure train and eval steps, and the compiled loops that drive them.

``train_step(state, batch, rng=None) -> (state, metrics)`` with ``batch =
{"image": ..., "label": ...}``. When ``rng`` is None the step's key is
``fold_in(state.rng, state.step)``, so a run resumed from a checkpoint draws
exactly the keys an uninterrupted run would. ``eval_step(state, batch) -> sums``
returns sums over the valid examples (``batch["mask"]``), so a padded last batch
counts each example once.

:func:`make_train_loop` compiles ``L`` steps as one program: the batches are
gathered on the device from the device-resident data set by index, and the steps
run in a ``lax.scan`` (a plain call when ``L == 1``). The trainer calls it
with ``L = 1`` on XLA's CPU backend, where a per-step program measured faster,
and with whole chunks on accelerators. With a mesh, the gathered batch is
sharded over the ``"data"`` axis and the state replicated: XLA then computes the
batch-norm statistics, the loss and the gradients over the global batch
(synchronised batch norm), which makes data-parallel training the same
computation as single-device training.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Dict, Optional, Tuple

import flax
import jax
import jax.numpy as jnp
import optax
from jax.sharding import NamedSharding, PartitionSpec as P

from cnnlab.data import augment as aug
from cnnlab.train.losses import LOSSES, make_loss
from cnnlab.train.optim import l2_penalty


@flax.struct.dataclass
class TrainState:
  step: jax.Array
  params: Any
  batch_stats: Any
  opt_state: Any
  rng: jax.Array
  ema_params: Any = None  # the exponential moving average of params, when enabled
  # Hyperparameters held as traced values (replicas trained side by side, each with its
  # own): "label_smoothing", "ema_decay" (the learning rate and weight decay live in
  # opt_state.hyperparams), and "active" (1.0, or 0.0 for a run stopped inside the program:
  # a pruned trial's, whose state then stays as it is). None: every hyperparameter is a
  # constant of the step.
  hyper: Any = None


# The packable hyperparameters: config path -> the state's name for it.
TRACED = {"optim.lr": "learning_rate", "optim.weight_decay": "weight_decay",
          "train.label_smoothing": "label_smoothing", "train.ema_decay": "ema_decay"}
IN_OPTIMIZER = ("learning_rate", "weight_decay")


def init_state(model, tx, rng, example_shape, ema: bool = False, hyper=None) -> TrainState:
  """The initial state from one key (pure: jit it, or vmap it over keys for replicas).

  ``hyper`` holds traced hyperparameters (see :data:`TRACED`); the learning rate and
  weight decay go into the optimizer's injected hyperparameters.
  """
  init_key, run_key = jax.random.split(rng)
  p, d, s = jax.random.split(init_key, 3)
  variables = model.init({"params": p, "dropout": d, "pool": s},
                         jnp.zeros((1,) + tuple(example_shape)), train=False)
  params = variables["params"]
  opt_state = tx.init(params)
  if hyper and any(k in hyper for k in IN_OPTIMIZER):
    opt_state = opt_state._replace(hyperparams={
        **opt_state.hyperparams, **{k: jnp.asarray(v, jnp.float32) for k, v in hyper.items()
                                    if k in IN_OPTIMIZER}})
  rest = {k: jnp.asarray(v, jnp.float32) for k, v in (hyper or {}).items()
          if k not in IN_OPTIMIZER}
  return TrainState(step=jnp.zeros((), jnp.int32), params=params,
                    batch_stats=variables.get("batch_stats", {}), opt_state=opt_state,
                    rng=run_key, ema_params=params if ema else None, hyper=rest or None)


def create_state(model, tx, rng, example_shape, num_replicas: int = 0,
                 ema: bool = False, sharding=None, hyper=None) -> TrainState:
  """One state from key ``rng``, or ``num_replicas`` stacked states from keys ``rng[r]``
  (and traced hyperparameters ``hyper[name][r]``).

  ``sharding`` places the state (e.g. replicated over a mesh for data parallelism).
  """
  init = lambda k, h: init_state(model, tx, k, example_shape, ema, h)
  return jax.jit(jax.vmap(init) if num_replicas else init, out_shardings=sharding)(
      rng, {k: jnp.asarray(v, jnp.float32) for k, v in (hyper or {}).items()})


@dataclasses.dataclass(frozen=True)
class StepSpec:
  """What a train and eval step compute besides the model and the optimizer.

  ``mean``/``std`` normalise the raw images (after zero-padding them to ``pad_to``,
  e.g. MNIST to 32×32 for LeNet-5); ``loss`` names a registered loss (``num_classes``
  its targets' classes); ``l2`` adds ``l2_penalty(params, l2, num_batches, l2_form)``;
  ``augment`` names on-device augmentations (options ``crop_padding``, ``max_shift``,
  ``cutout_size``); ``ema_decay > 0`` keeps ``state.ema_params``, updated after each
  step as ``d·ema + (1 - d)·params``.
  """
  mean: Tuple[float, ...]
  std: Tuple[float, ...]
  num_classes: int
  loss: str = "softmax_cross_entropy"
  label_smoothing: float = 0.0
  l2: float = 0.0
  l2_form: str = "plain"
  num_batches: int = 1
  augment: Tuple[str, ...] = ()
  crop_padding: int = 4
  max_shift: int = 2
  cutout_size: int = 8
  ema_decay: float = 0.0
  pad_to: Tuple[int, ...] = ()

  @classmethod
  def from_config(cls, config, info, loss: str, num_batches: int) -> "StepSpec":
    """The spec of a run's config: the data set's ``info`` (normalisation, classes), the
    resolved ``loss`` name and the batches per epoch (the L2 penalty's scale)."""
    d, t, o = config.data, config.train, config.optim
    return cls(mean=tuple(info.mean), std=tuple(info.std), num_classes=info.num_classes,
               loss=loss, label_smoothing=t.label_smoothing, l2=o.l2, l2_form=o.l2_form,
               num_batches=num_batches, augment=tuple(d.augment), crop_padding=d.crop_padding,
               max_shift=d.max_shift, cutout_size=d.cutout_size, ema_decay=t.ema_decay,
               pad_to=tuple(d.pad_to))

  def augment_options(self) -> Dict[str, int]:
    return {"crop_padding": self.crop_padding, "max_shift": self.max_shift,
            "cutout_size": self.cutout_size}


def _masked(old: TrainState, new: TrainState) -> TrainState:
  """``new``, but ``old``'s parameters, statistics and optimizer state for a run stopped
  inside its program (``hyper["active"]`` 0): the program (its shapes, its compiled code)
  stays the same for the runs that go on; the step counts on for all (they step
  together)."""
  if "active" not in (old.hyper or {}):
    return new
  keep = lambda n, o: jnp.where(old.hyper["active"] > 0, n, o)  # noqa: E731
  fields = ("params", "batch_stats", "opt_state", "ema_params")
  return new.replace(**{f: jax.tree_util.tree_map(keep, getattr(new, f), getattr(old, f))
                        for f in fields})


def make_steps(model, tx, spec: StepSpec, *, replicas: bool = False,
               jit: bool = True) -> Tuple[Callable, Callable]:
  """Builds ``train_step`` and ``eval_step`` for a model, an optimizer and a :class:`StepSpec`.

  With ``replicas=True`` both are vmapped over a leading replica axis: the state,
  the training batch and ``rng`` carry it (each replica trains on its own data
  order with its own keys); the evaluation batch is shared. ``jit=False`` returns
  the pure functions (to compose into a larger program, see
  :func:`make_train_loop`). Evaluate EMA parameters with
  ``eval_step(ema_view(state), batch)``.
  """
  loss_spec = LOSSES.get(spec.loss)
  per_example = make_loss(spec.loss, spec.num_classes, spec.label_smoothing)
  traced_loss = lambda smoothing: make_loss(spec.loss, spec.num_classes, smoothing)  # noqa
  augment, pad_to, ema_decay = tuple(spec.augment), tuple(spec.pad_to), spec.ema_decay

  def prepare(images):
    return aug.normalize(aug.pad_to(images, pad_to) if pad_to else images, spec.mean, spec.std)

  def loss_fn(params, state, x, y, key):
    k_drop, k_pool = jax.random.split(key)
    out, updates = model.apply({"params": params, "batch_stats": state.batch_stats}, x,
                               train=True, rngs={"dropout": k_drop, "pool": k_pool},
                               mutable=["batch_stats"])
    out = out.astype(jnp.float32)  # the loss in fp32 also when the model computes in bf16
    hyper = state.hyper or {}
    loss = traced_loss(hyper["label_smoothing"]) if "label_smoothing" in hyper else per_example
    data_loss = loss(out, y).mean()
    total = data_loss + l2_penalty(params, spec.l2, spec.num_batches, spec.l2_form)
    return total, (updates.get("batch_stats", {}), data_loss, loss_spec.train_metrics(out, y))

  def train_step(state: TrainState, batch, rng=None):
    key = jax.random.fold_in(state.rng, state.step) if rng is None else rng
    k_aug, k_model = jax.random.split(key)
    x, labels = prepare(batch["image"]), batch["label"]
    if augment:
      x = aug.apply_augmentations(k_aug, x, augment, **spec.augment_options())
    grads, (stats, data_loss, metrics) = jax.grad(loss_fn, has_aux=True)(
        state.params, state, x, labels, k_model)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    ema, decay = state.ema_params, (state.hyper or {}).get("ema_decay", ema_decay)
    if ema is not None and (not isinstance(decay, (int, float)) or decay > 0):
      ema = jax.tree_util.tree_map(lambda e, p: decay * e + (1.0 - decay) * p, ema, params)
    new = _masked(state, state.replace(step=state.step + 1, params=params, batch_stats=stats,
                                       opt_state=opt_state, ema_params=ema))
    return new, {"loss": data_loss, **metrics, "grad_norm": optax.tree.norm(grads)}

  def forward(state: TrainState, images):
    return model.apply({"params": state.params, "batch_stats": state.batch_stats},
                       prepare(images), train=False).astype(jnp.float32)

  def batch_mask(batch):  # every example counts unless the batch is padded
    return batch["mask"] if "mask" in batch else jnp.ones(batch["label"].shape[:1], bool)

  def sums_of(out, batch):
    sums = loss_spec.eval_sums(out, batch["label"], batch_mask(batch))
    if loss_spec.needs_outputs:  # ranking metrics (mAP) need every example's outputs
      sums["outputs"] = out
    return sums

  def eval_step(state: TrainState, batch):
    return sums_of(forward(state, batch["image"]), batch)

  def replicas_eval_step(state: TrainState, batch):
    outs = jax.vmap(forward, in_axes=(0, None))(state, batch["image"])  # (R, B, K)
    return jax.vmap(sums_of, in_axes=(0, None))(outs, batch)

  if replicas:
    train_step = jax.vmap(train_step)  # over state, batch and (when given) rng
    eval_step = replicas_eval_step
  if jit:
    return jax.jit(train_step, donate_argnums=0), jax.jit(eval_step)
  return train_step, eval_step


def batch_sharding(mesh, replicas: bool) -> Optional[NamedSharding]:
  """How a batch is laid out on the mesh: split over ``"data"`` on its batch axis."""
  if mesh is None:
    return None
  return NamedSharding(mesh, P(None, "data") if replicas else P("data"))


def _gather(images, labels, idx, sharding):
  x, y = jnp.take(images, idx, axis=0), jnp.take(labels, idx, axis=0)
  if sharding is not None:
    x = jax.lax.with_sharding_constraint(x, sharding)
    y = jax.lax.with_sharding_constraint(y, sharding)
  return x, y


def _scan_or_call(body, carry, xs):
  """``lax.scan(body, carry, xs)``, but a plain call when there is one step.

  On XLA's CPU backend any ``lax.scan``, even of length 1 and unrolled, made a
  FashionNet step 12× slower (0.83 s against 0.066 s, 2-core CPU): one step is
  therefore never wrapped in a loop.
  """
  if jax.tree_util.tree_leaves(xs)[0].shape[0] != 1:
    return jax.lax.scan(body, carry, xs)
  carry, out = body(carry, jax.tree_util.tree_map(lambda a: a[0], xs))
  return carry, jax.tree_util.tree_map(lambda a: a[None], out)


def make_train_loop(train_step: Callable, *, mesh=None, replicas: bool = False) -> Callable:
  """``run(state, images, labels, idx, epoch_steps=None, length=None) -> (state, metrics)``,
  jitted, state donated.

  ``idx`` is ``(L, B)`` (or ``(L, R, B)`` with replicas): the data-set rows of ``L``
  consecutive batches. With the static ``length=L``, ``idx`` is instead the whole
  epoch's order, ``(S, B)`` (or ``(R, S, B)``) for ``S`` steps an epoch, kept on the
  device, and the chunk's rows are sliced from it at the state's own step — nothing
  crosses from the host per step (a NumPy index array sent with each step cost 2–4% of
  an MNIST-1D step). ``epoch_steps`` (a device scalar) is ``S`` where the order is padded
  to more rows (a padded training split: one program for every training size). The
  ``L`` steps run as one ``lax.scan`` (a plain call when ``L == 1``); the metrics come
  back stacked, ``(L,)`` or ``(L, R)``. ``train_step`` must be the pure (unjitted) step
  from :func:`make_steps`.
  """
  sharding = batch_sharding(mesh, replicas)

  def run(state, images, labels, idx, epoch_steps=None, length=None):
    if length is not None:
      step = state.step[0] if replicas else state.step  # replicas step together
      pos = step % (idx.shape[-2] if epoch_steps is None else epoch_steps)
      idx = jax.lax.dynamic_slice_in_dim(idx, pos, length, axis=idx.ndim - 2)
      if replicas:
        idx = jnp.swapaxes(idx, 0, 1)  # (R, L, B) -> (L, R, B)

    def body(state, rows):
      x, y = _gather(images, labels, rows, sharding)
      return train_step(state, {"image": x, "label": y})

    return _scan_or_call(body, state, idx)

  # Pinning the outputs replicated keeps the state's layout fixed from step to step.
  out = None if mesh is None else NamedSharding(mesh, P())
  return jax.jit(run, donate_argnums=0, out_shardings=out, static_argnames="length")


def ema_view(state: TrainState) -> TrainState:
  """The state with its EMA parameters in place of the trained ones (for evaluation)."""
  return state.replace(params=state.ema_params)


def make_eval_loop(eval_step: Callable, *, mesh=None, use_ema: bool = False) -> Callable:
  """``run(state, images, labels, idx, mask) -> (sums, outputs)`` over ``L`` batches, jitted.

  ``idx`` and ``mask`` are ``(L, B)``; the evaluation batch is shared by replicas.
  ``outputs`` is None, or the stacked model outputs ``(L, [R,] B, K)`` for losses whose
  metrics rank examples. ``use_ema`` evaluates ``state.ema_params``.
  """
  sharding = batch_sharding(mesh, False)

  def run(state, images, labels, idx, mask):
    if use_ema:
      state = ema_view(state)

    def body(total, args):
      rows, m = args
      x, y = _gather(images, labels, rows, sharding)
      sums = eval_step(state, {"image": x, "label": y, "mask": m})
      outputs = sums.pop("outputs", None)
      return jax.tree_util.tree_map(jnp.add, total, sums), outputs

    zero = jax.eval_shape(lambda: eval_step(state, {"image": images[:1], "label": labels[:1],
                                                    "mask": mask[0, :1]}))
    zero.pop("outputs", None)
    zero = jax.tree_util.tree_map(lambda s: jnp.zeros(s.shape, s.dtype), zero)
    return _scan_or_call(body, zero, (idx, mask))

  return jax.jit(run, out_shardings=None if mesh is None else NamedSharding(mesh, P()))
