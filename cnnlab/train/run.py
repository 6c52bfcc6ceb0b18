"""A run's set-up: a config turned into data, model, loss, optimizer, compiled steps and schedule.

    run = Run.build(config)        # validated; raises before anything is compiled or written
    state = run.init_state()
    for chunk in run.chunks(start=0):
      state, metrics = run.train(state, chunk)

Everything a config can get wrong fails in :meth:`Run.build` with the field named, so a
rejected config leaves its work directory untouched.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import subprocess
import time
from typing import Any, Callable, Dict, Iterator, Optional, Sequence, Tuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec as P

from cnnlab.data import DeviceSplit, load_dataset
from cnnlab.data.catalog import Dataset, DatasetInfo, dataset_info
from cnnlab.data.pipeline import epoch_batch_indices
from cnnlab.data.prepare import input_shape as prepared_shape, prepare, subset_info
from cnnlab.errors import ConfigError
from cnnlab.models import create_model
from cnnlab.train import runtime
from cnnlab.config import validate
from cnnlab.config.base import replica_values
from cnnlab.train.losses import LOSSES, LossSpec, check_fit, default_loss
from cnnlab.train.optim import make_optimizer, make_schedule
from cnnlab.train.schedule import Chunk, Events, chunks
from cnnlab.train.steps import (IN_OPTIMIZER, TRACED, StepSpec, create_state, make_steps,
                                make_train_loop)


class Compiled:
  """A jitted function compiled ahead of time once per argument shape, timing each compile."""

  def __init__(self, fn: Callable):
    self.fn, self.cache, self.compile_s, self.last_compile_s = fn, {}, 0.0, 0.0

  def __call__(self, state, *args, **static):
    key = (tuple((a.shape, a.dtype) for a in args), tuple(static.items()))
    compiled = self.cache.get(key)
    self.last_compile_s = 0.0
    if compiled is None:
      t0 = time.time()
      compiled = self.cache[key] = self.fn.lower(state, *args, **static).compile()
      self.last_compile_s = time.time() - t0
      self.compile_s += self.last_compile_s
    return compiled(state, *args)


class Feeder:
  """Hands a compiled loop its data: the device-resident split, or host-gathered rows.

  A split on the device is passed whole with the batch indices; a host-streamed
  split has the chunk's rows gathered on the host and passed with indices into
  that gathered block. Either way the loop gathers batches by index.
  """

  def __init__(self, split: DeviceSplit, sharding):
    self.split, self.sharding = split, sharding

  def __len__(self) -> int:
    return len(self.split)

  def __call__(self, idx: np.ndarray):
    if self.split.on_device:
      return self.split.images, self.split.labels, idx
    rows = idx.reshape(-1)
    put = (lambda a: jax.device_put(a, self.sharding)) if self.sharding else jnp.asarray
    return (put(self.split.images[rows]), put(self.split.labels[rows]),
            np.arange(rows.size, dtype=np.int32).reshape(idx.shape))


def build_model(config, info: DatasetInfo) -> Tuple[Any, Tuple[int, ...], str]:
  """``(model, input_shape, loss name)`` for ``config`` on data described by ``info``
  (after the class subset): the model is validated on that shape without compiling."""
  t = config.train
  shape = prepared_shape(info, config.data.pad_to)
  loss_name = default_loss(info.target) if t.loss == "auto" else t.loss
  unfit = check_fit(loss_name, config.data.name, info.target, info.num_classes)
  if unfit:
    raise ConfigError(f"config.train.loss: {unfit}")
  if t.label_smoothing and loss_name != "softmax_cross_entropy":
    raise ConfigError(f"config.train.label_smoothing applies to softmax_cross_entropy only, "
                      f"not to {loss_name!r}")
  kwargs = {k: v for k, v in config.model.items() if k != "name" and v is not None}
  kwargs.setdefault("num_classes", LOSSES.get(loss_name).num_outputs(info.num_classes))
  if t.dtype == "bfloat16":
    kwargs["dtype"] = jnp.bfloat16
  return create_model(config.model.name, input_shape=shape, **kwargs), shape, loss_name


def check_runnable(config, models_seen: Optional[Dict[str, Any]] = None) -> None:
  """Everything :meth:`Run.build` refuses that can be known without loading the data: the
  fields, the data set and its options, the model built on the data's shape (op names and
  options, layer combinations, windows that do not fit) and, with a fixed step count, the
  schedule. A sweep calls it on every point before launching any; ``models_seen`` caches
  the model check across points that build the same model on the same shape."""
  validate(config)
  d, t = config.data, config.train
  info, _ = dataset_info(d.name, dict(d.options))
  info = subset_info(info, tuple(d.classes))
  key = json.dumps([json.loads(config.model.to_json_best_effort()), info.to_json(),
                    list(d.pad_to), t.dtype, t.loss, t.label_smoothing], sort_keys=True,
                   default=str)
  if models_seen is None or key not in models_seen:
    build_model(config, info)
    if models_seen is not None:
      models_seen[key] = True
  if t.num_steps:
    make_schedule(config.optim, t.num_steps)


def load_run_data(config) -> Dataset:
  """The data set of ``config``: loaded, then subset, reduced and expanded as it asks."""
  d = config.data
  ds = load_dataset(d.name, path=d.path or None, validation_size=d.validation_size,
                    validation_from=d.validation_from, **dict(d.options))
  return prepare(ds, classes=tuple(d.classes), train_size=d.train_size, expand=d.expand)


def _git(*args: str) -> Optional[str]:
  try:
    out = subprocess.run(["git", *args], cwd=os.path.dirname(__file__), capture_output=True,
                         text=True, timeout=5)
  except (OSError, subprocess.SubprocessError):
    return None
  return out.stdout if out.returncode == 0 else None


def git_state() -> Dict[str, Any]:
  """The commit of the code that ran, and whether its tree had uncommitted changes."""
  commit = _git("rev-parse", "HEAD")
  status = _git("status", "--porcelain", "--untracked-files=no")
  return {"git_commit": commit.strip() or None if commit else None,
          "git_dirty": None if status is None else bool(status.strip())}


def _check_batch(config, n: int, num_devices: int) -> int:
  """Steps per epoch; a batch the devices cannot split or the data cannot fill fails here."""
  bs = config.train.batch_size
  if bs % num_devices:
    t = config.train
    fix = (f"set config.train.cpu_devices to a divisor of {bs} (0 picks one per core that "
           f"divides it) or to 1" if jax.default_backend() == "cpu" and t.cpu_devices != 1
           else "or set config.train.data_parallel=False")
    raise ConfigError(f"config.train.batch_size: {bs} is not divisible by the {num_devices} "
                      f"devices it is sharded over ({fix})")
  if bs > n:
    raise ConfigError(f"config.train.batch_size: {bs} exceeds the {n} training examples")
  return n // bs


@dataclasses.dataclass
class Run:
  """Everything one run needs, built and validated from its config."""
  config: Any
  data: Dataset
  input_shape: Tuple[int, ...]
  model: Any
  loss_name: str
  loss: LossSpec
  tx: Any
  spec: StepSpec
  mesh: Any
  loop_form: str
  events: Events
  seeds: np.ndarray           # replica r trains with seed seeds[r] (one entry without replicas)
  replicated: bool
  train_loop: Compiled
  eval_step: Callable
  feeds: Dict[str, Feeder]    # "train", "test" and, when carved out, "validation"
  deterministic: bool
  schedule: Callable          # the learning rate at a step (0-based: the step's update)
  hyper: Dict[str, np.ndarray]  # traced hyperparameters, one value per replica (packed runs)
  _order: Any = dataclasses.field(default=None, init=False, repr=False)  # the epoch's order
  _order_epoch: Optional[int] = dataclasses.field(default=None, init=False, repr=False)
  _device_order: Any = dataclasses.field(default=None, init=False, repr=False)
  _device_order_epoch: Optional[int] = dataclasses.field(default=None, init=False, repr=False)
  _checked_step: bool = dataclasses.field(default=False, init=False, repr=False)
  data_s: float = 0.0  # seconds loading the data set took

  @classmethod
  def build(cls, config, log: Callable[[str], None] = print, maskable: bool = False) -> "Run":
    """The run of ``config`` (a program of several runs side by side where it packs them);
    ``maskable``: its runs can be stopped one by one inside the program (:meth:`mask`)."""
    validate(config)
    t = config.train
    note = runtime.cpu_devices_note(t.cpu_devices)
    if note:
      log(note)
    mesh = runtime.make_mesh(t.data_parallel)
    num_devices = 1 if mesh is None else mesh.size
    start = time.time()
    ds = load_run_data(config)
    data_s = time.time() - start
    model, shape, loss_name = build_model(config, ds.info)
    steps_per_epoch = _check_batch(config, len(ds.train), num_devices)
    total = t.num_steps or t.num_epochs * steps_per_epoch
    seeds, hyper = _replicas(config)
    if maskable and t.num_replicas > 1:
      hyper["active"] = np.ones(t.num_replicas, np.float32)
    tx = make_optimizer(config.optim, total, traced=any(k in IN_OPTIMIZER for k in hyper),
                        decays=bool(np.any(hyper.get("weight_decay", 0) > 0)))
    schedule = make_schedule(config.optim, total)
    spec = StepSpec.from_config(config, ds.info, loss_name, steps_per_epoch)
    replicated = t.num_replicas > 1
    train_step, eval_step = make_steps(model, tx, spec, replicas=replicated, jit=False)
    sharding = None if mesh is None else NamedSharding(mesh, P())
    place = lambda split, pad=0: Feeder(  # noqa: E731
        DeviceSplit.place(split, sharding=sharding, pad_to=pad), sharding)
    if t.pad_train_to and t.pad_train_to < len(ds.train):
      raise ConfigError(f"config.train.pad_train_to: {t.pad_train_to} is fewer rows than the "
                        f"training split's {len(ds.train)} examples (set it to at least the "
                        f"largest training size of the sweep, or 0)")
    feeds = {"train": place(ds.train, t.pad_train_to), "test": place(ds.test)}
    if ds.validation is not None:
      feeds["validation"] = place(ds.validation)
    events = Events(total, steps_per_epoch, t.log_every_steps, t.eval_every_steps,
                    t.checkpoint_every_steps, t.scan_chunk_steps, t.stop_after_steps)
    loop_form = t.loop if t.loop != "auto" else (
        "step" if jax.default_backend() == "cpu" else "scan")
    return cls(config, ds, shape, model, loss_name, LOSSES.get(loss_name), tx, spec, mesh,
               loop_form, events, seeds, replicated,
               Compiled(make_train_loop(train_step, mesh=mesh, replicas=replicated)),
               eval_step, feeds, _deterministic(config, log), schedule, hyper, data_s=data_s)

  @property
  def num_devices(self) -> int:
    return 1 if self.mesh is None else self.mesh.size

  @property
  def sharding(self):
    return None if self.mesh is None else NamedSharding(self.mesh, P())

  def init_state(self):
    """The initial train state (replica r from key ``PRNGKey(seeds[r])``)."""
    t = self.config.train
    keys = jax.vmap(jax.random.PRNGKey)(jnp.asarray(self.seeds)) if self.replicated else \
        jax.random.PRNGKey(self.config.seed)
    return create_state(self.model, self.tx, keys, self.input_shape,
                        t.num_replicas if self.replicated else 0, ema=self.ema,
                        sharding=self.sharding, hyper=self.hyper)

  @property
  def ema(self) -> bool:
    """Whether EMA parameters are kept (``train.ema_decay`` > 0, for a replica at least)."""
    return self.config.train.ema_decay > 0 or bool(np.any(self.hyper.get("ema_decay", 0) > 0))

  def mask(self, state, active: Sequence[bool]):
    """``state`` with only the ``active`` runs training on (built ``maskable``): the others'
    updates stop; the program is not compiled again (the flags are traced values)."""
    flags = jnp.asarray(np.asarray(active, np.float32))
    if self.sharding is not None:
      flags = jax.device_put(flags, self.sharding)
    return state.replace(hyper={**state.hyper, "active": flags})

  def chunks(self, start: int) -> Iterator[Chunk]:
    return chunks(self.events, start, one_step=self.loop_form == "step")

  def batch_indices(self, chunk: Chunk) -> np.ndarray:
    """The data-set rows of the chunk's batches: ``(L, B)``, or ``(L, R, B)`` with replicas."""
    epoch, pos = divmod(chunk.start, self.events.steps_per_epoch)
    # One order per epoch, a function of (seed, epoch); unshuffled, every epoch's is the
    # same (MNIST-1D's 1k-example runs have 600 ten-step epochs: 6% of their time).
    if self._order_epoch != epoch and (self._order is None or self.config.train.shuffle):
      seed = jnp.asarray(self.seeds) if self.replicated else self.config.seed
      self._order = np.asarray(epoch_batch_indices(
          seed, epoch, len(self.data.train), self.config.train.batch_size,
          self.config.train.shuffle))
      self._order_epoch = epoch
    if self.replicated:
      return self._order[:, pos:pos + chunk.length].swapaxes(0, 1)
    return self._order[pos:pos + chunk.length]

  def train(self, state, chunk: Chunk):
    """Runs the chunk's steps: ``(state, metrics)``, metrics stacked ``(L,)`` or ``(L, R)``.

    A split on the device is indexed by the epoch's order, also on the device (sent once
    an epoch, or once a run unshuffled), at the state's step; a host-streamed split is
    sent the chunk's rows.
    """
    feed = self.feeds["train"]
    if not feed.split.on_device:
      return self.train_loop(state, *feed(self.batch_indices(chunk)))
    if not self._checked_step:  # the program slices the order at state.step: they agree
      step = int(np.asarray(state.step).reshape(-1)[0])
      if step != chunk.start:
        raise RuntimeError(f"the train state is at step {step} but its chunk starts at "
                           f"{chunk.start}")
      self._checked_step = True
    order, epoch_steps = self.epoch_order(chunk)
    return self.train_loop(state, feed.split.images, feed.split.labels, order, epoch_steps,
                           length=chunk.length)

  def epoch_order(self, chunk: Chunk) -> Tuple[jax.Array, jax.Array]:
    """The order of the chunk's epoch on the device, ``(S', B)`` or ``(R, S', B)`` with
    replicas, and ``S`` (steps an epoch) as a device scalar; computed once an epoch (once
    a run when unshuffled). ``S' = S`` unless ``train.pad_train_to`` pads the training
    split: then ``S'`` is that many examples' batches, the same for every training size."""
    t = self.config.train
    epoch = chunk.start // self.events.steps_per_epoch
    if self._device_order is None or (t.shuffle and self._device_order_epoch != epoch):
      seed = jnp.asarray(self.seeds) if self.replicated else self.config.seed
      order = epoch_batch_indices(seed, epoch, len(self.data.train), t.batch_size, t.shuffle)
      rows = max(t.pad_train_to // t.batch_size, order.shape[-2])
      if rows > order.shape[-2]:
        pad = [(0, 0)] * order.ndim
        pad[-2] = (0, rows - order.shape[-2])
        order = jnp.pad(order, pad)
      steps = jnp.asarray(self.events.steps_per_epoch, jnp.int32)
      if self.sharding is not None:
        order, steps = jax.device_put((order, steps), self.sharding)
      self._device_order, self._device_order_epoch = (order, steps), epoch
    return self._device_order

  def provenance(self, params: Any) -> Dict[str, Any]:
    """The result fields that say what trained, where and with which code."""
    from cnnlab.models.summary import forward_flops
    from cnnlab.ops.shapes import param_count
    return {"model": self.config.model.name, "loss": self.loss_name, "loop": self.loop_form,
            "params": param_count(params) // len(self.seeds),
            "flops_per_example": forward_flops(self.model, self.input_shape),
            "num_devices": self.num_devices,
            "primary_metric": self.loss.primary, "total_steps": self.events.total,
            "data": self.data.source | {"summary": self.data.summary()},
            "device": str(jax.devices()[0]), "backend": jax.default_backend(),
            "jax": jax.__version__, "flax": __import__("flax").__version__,
            "python": platform.python_version(), **git_state(),
            "deterministic": {"requested": bool(self.config.deterministic),
                              "xla_flags_applied": self.deterministic},
            "runtime": runtime.describe()}


def _replicas(config) -> Tuple[np.ndarray, Dict[str, np.ndarray]]:
  """Each replica's seed, and the traced hyperparameters (``train.replica_values``)."""
  t = config.train
  values = replica_values(t)
  seeds = np.asarray(values.pop("seed", config.seed + np.arange(max(t.num_replicas, 1))))
  return seeds, {TRACED[k]: np.asarray(v, np.float32) for k, v in values.items()}


def _deterministic(config, log) -> bool:
  """Whether XLA's determinism flags are in effect, as ``config.deterministic`` asks."""
  applied = bool(config.deterministic) and (
      runtime.describe()["deterministic_xla_flags"] or runtime.set_deterministic())
  if config.deterministic and not applied:
    log("warning: config.deterministic is set but JAX had started before the XLA flags "
        "could be set; run through `python -m cnnlab.main` to apply them")
  return applied
