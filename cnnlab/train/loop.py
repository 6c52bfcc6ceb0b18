"""The training loop: one run in one work directory, resumable, never losing work.

    result = train(config, workdir)

Writes ``config.json``, ``metrics.jsonl`` (+ TensorBoard events with tensorboardX),
``checkpoints/`` (orbax) and ``result.json``. Rerunning on the same workdir resumes
from the latest checkpoint; the data order is a function of (seed, epoch) and
each step's randomness of (seed, step), so the resumed run computes exactly what
an uninterrupted one would. SIGTERM/SIGINT checkpoint and stop cleanly. A NaN/inf
loss stops the run with ``status: diverged``.

Loop form (``train.loop``): the steps between two events (log, eval, checkpoint,
epoch end) run as one compiled ``lax.scan`` on accelerators (``"scan"``), and as
one compiled program per step on XLA's CPU backend (``"step"``), where a
FashionNet epoch measured 41–45 s per step against 298 s as one scan. ``"auto"``
picks by backend. Both forms compute the same steps (tested).

Data parallelism (``train.data_parallel``): with more than one device, the batch
is sharded over all of them and the state replicated (see
:mod:`cnnlab.train.steps`); batch norm then uses global-batch statistics.
"""

from __future__ import annotations

import json
import os
import platform
import re
import signal
import subprocess
import time
from typing import Any, Dict, Optional

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec as P

from cnnlab.data import DeviceSplit, load_dataset
from cnnlab.data.augment import shift_expand
from cnnlab.data.catalog import Split
from cnnlab.data.pipeline import epoch_batch_indices, eval_batch_indices
from cnnlab.models import create_model
from cnnlab.models.summary import forward_flops
from cnnlab.ops.shapes import param_count
from cnnlab.train import runtime
from cnnlab.train.checkpoint import Checkpointer
from cnnlab.train.config import ConfigError, validate
from cnnlab.train.losses import ENSEMBLE, LOSSES, check_fit, default_loss
from cnnlab.train.metrics import MetricWriter
from cnnlab.train.optim import make_optimizer
from cnnlab.train.progress import Progress
from cnnlab.train.steps import create_state, make_eval_loop, make_steps, make_train_loop


class Diverged(RuntimeError):
  """The loss became NaN or infinite."""


def _git_commit() -> Optional[str]:
  try:
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=os.path.dirname(__file__),
                          capture_output=True, text=True, timeout=5).stdout.strip() or None
  except (OSError, subprocess.SubprocessError):
    return None


_REPLICA_KEY = re.compile(r".+_r\d+")  # the per-replica entries _flat adds


def _flat(metrics: Dict[str, Any]) -> Dict[str, float]:
  """Scalars as they are; per-replica arrays as their mean plus ``name_r<i>`` entries."""
  out = {}
  for k, v in metrics.items():
    v = np.asarray(v)
    if v.ndim == 0:
      out[k] = float(v)
    else:
      out[k] = float(v.mean())
      out.update({f"{k}_r{i}": float(x) for i, x in enumerate(v)})
  return out


class _StopSignal:
  """Turns SIGTERM/SIGINT into a flag the loop checks after each chunk of steps."""

  def __init__(self):
    self.received = None
    self._old = {}

  def __enter__(self):
    for sig in (signal.SIGTERM, signal.SIGINT):
      try:
        self._old[sig] = signal.signal(sig, self._handle)
      except ValueError:  # not the main thread: leave signals alone
        pass
    return self

  def _handle(self, signum, frame):
    self.received = signal.Signals(signum).name

  def __exit__(self, *exc):
    for sig, old in self._old.items():
      signal.signal(sig, old)


class _Compiled:
  """A jitted function compiled ahead of time once per argument shape, timing each compile."""

  def __init__(self, fn):
    self.fn, self.cache, self.compile_s, self.last_compile_s = fn, {}, 0.0, 0.0

  def __call__(self, state, *args):
    key = tuple((a.shape, str(a.dtype)) for a in args)
    compiled = self.cache.get(key)
    self.last_compile_s = 0.0
    if compiled is None:
      t0 = time.time()
      compiled = self.cache[key] = self.fn.lower(state, *args).compile()
      self.last_compile_s = time.time() - t0
      self.compile_s += self.last_compile_s
    return compiled(state, *args)


class _Feeder:
  """Hands a compiled loop its data: the device-resident split, or host-gathered rows.

  A split on the device is passed whole with the batch indices; a host-streamed
  split has the chunk's rows gathered on the host and passed with indices into
  that gathered block. Either way the loop gathers batches by index.
  """

  def __init__(self, split: DeviceSplit, sharding):
    self.split, self.sharding = split, sharding

  def __call__(self, idx: np.ndarray):
    if self.split.on_device:
      return self.split.images, self.split.labels, idx
    rows = idx.reshape(-1)
    put = (lambda a: jax.device_put(a, self.sharding)) if self.sharding else jnp.asarray
    return (put(self.split.images[rows]), put(self.split.labels[rows]),
            np.arange(rows.size, dtype=np.int32).reshape(idx.shape))


def _class_subset(ds, classes):
  """The data set restricted to ``classes``, relabelled ``0..len(classes)-1`` in that order."""
  import dataclasses
  info = ds.info
  if info.target != "class":
    raise ConfigError(f"config.data.classes: data set {info.name!r} has {info.target} "
                      f"targets, not classes")
  bad = [k for k in classes if k >= info.num_classes]
  if bad:
    raise ConfigError(f"config.data.classes: {bad} out of range for data set {info.name!r} "
                      f"with {info.num_classes} classes")
  remap = np.full(info.num_classes, -1, np.int32)
  remap[list(classes)] = np.arange(len(classes))

  def keep(split):
    if split is None:
      return None
    sel = np.isin(split.labels, classes)
    return Split(split.images[sel], remap[split.labels[sel]])
  names = tuple(info.class_names[k] for k in classes) if info.class_names else ()
  return dataclasses.replace(
      ds, info=dataclasses.replace(info, num_classes=len(classes), class_names=names),
      train=keep(ds.train), test=keep(ds.test), validation=keep(ds.validation))


def train(config, workdir: str, log=print) -> Dict[str, Any]:
  """Runs (or resumes) one training run; returns the result dict (also in result.json).

  SIGTERM/SIGINT are caught from the start (a signal during data loading or
  compilation stops the run after its next chunk of steps, checkpointed).
  """
  with _StopSignal() as stop:
    return _train(config, workdir, log, stop)


def _check_workdir_config(workdir: str, cfg_json: Dict, has_checkpoints: bool) -> None:
  cfg_path = os.path.join(workdir, "config.json")
  if os.path.exists(cfg_path) and has_checkpoints:
    with open(cfg_path) as f:
      old = json.load(f)
    ignore = {"stop_after_steps"}
    strip = lambda c: {**c, "train": {k: v for k, v in c["train"].items() if k not in ignore}}
    if strip(old) != strip(cfg_json):
      raise ConfigError(f"workdir {workdir} holds checkpoints of a run with a different "
                        f"config ({cfg_path}); use a new workdir")


def _train(config, workdir: str, log, stop: _StopSignal) -> Dict[str, Any]:
  validate(config)
  t_start = time.time()
  t = config.train
  deterministic = bool(config.deterministic) and (
      runtime.describe()["deterministic_xla_flags"] or runtime.set_deterministic())
  if config.deterministic and not deterministic:
    log("warning: config.deterministic is set but JAX had started before the XLA flags "
        "could be set; run through `python -m cnnlab.main` to apply them")
  mesh = runtime.make_mesh(t.data_parallel)
  num_devices = 1 if mesh is None else mesh.size
  if t.batch_size % num_devices:
    raise ConfigError(f"config.train.batch_size: {t.batch_size} is not divisible by the "
                      f"{num_devices} devices it is sharded over (or set "
                      f"config.train.data_parallel=False)")
  loop_form = t.loop if t.loop != "auto" else (
      "step" if jax.default_backend() == "cpu" else "scan")

  d = config.data
  ds = load_dataset(d.name, path=d.path or None, validation_size=d.validation_size,
                    validation_from=d.validation_from, **dict(d.options))
  if d.classes:
    ds = _class_subset(ds, tuple(d.classes))
  if d.train_size:
    if d.train_size > len(ds.train.labels):
      raise ConfigError(f"config.data.train_size: {d.train_size} is more than the "
                        f"{len(ds.train.labels)} training examples of {d.name}")
    ds.train = Split(ds.train.images[:d.train_size], ds.train.labels[:d.train_size])
  if d.expand == "nielsen_shift":  # 5× the training set: originals + 1-pixel shifts
    images, labels = shift_expand(ds.train.images, ds.train.labels)
    ds.train = Split(np.asarray(images), np.asarray(labels))
  input_shape = tuple(d.pad_to) + ds.info.shape[-1:] if d.pad_to else ds.info.shape
  loss_name = default_loss(ds.info.target) if t.loss == "auto" else t.loss
  unfit = check_fit(loss_name, d.name, ds.info.target, ds.info.num_classes)
  if unfit:
    raise ConfigError(f"config.train.loss: {unfit}")
  if t.label_smoothing and loss_name != "softmax_cross_entropy":
    raise ConfigError(f"config.train.label_smoothing applies to softmax_cross_entropy only, "
                      f"not to {loss_name!r}")
  loss_spec = LOSSES.get(loss_name)
  model_kwargs = {k: v for k, v in config.model.items() if k != "name" and v is not None}
  model_kwargs.setdefault("num_classes", loss_spec.num_outputs(ds.info.num_classes))
  if t.dtype == "bfloat16":
    model_kwargs["dtype"] = jnp.bfloat16
  model = create_model(config.model.name, input_shape=input_shape, **model_kwargs)

  # Only now, with data and model built, does the workdir take the config: a config
  # rejected above leaves nothing behind that would block its corrected rerun.
  os.makedirs(workdir, exist_ok=True)
  ckpt = Checkpointer(os.path.join(workdir, "checkpoints"), keep=t.keep_checkpoints)
  cfg_json = json.loads(config.to_json_best_effort())
  resumed_from = ckpt.latest_step()
  _check_workdir_config(workdir, cfg_json, resumed_from is not None)
  with open(os.path.join(workdir, "config.json"), "w") as f:
    json.dump(cfg_json, f, indent=1, sort_keys=True)

  replicated = t.num_replicas > 1
  n = len(ds.train)
  steps_per_epoch = n // t.batch_size
  if steps_per_epoch == 0:
    raise ConfigError(f"config.train.batch_size: {t.batch_size} exceeds the {n} training examples")
  total = t.num_steps or t.num_epochs * steps_per_epoch
  tx = make_optimizer(config.optim, total)
  train_step, eval_step = make_steps(
      model, tx, mean=ds.info.mean, std=ds.info.std, num_classes=ds.info.num_classes,
      loss=loss_name, label_smoothing=t.label_smoothing, l2=config.optim.l2, l2_form=config.optim.l2_form,
      num_batches=steps_per_epoch, augment=tuple(d.augment), replicas=replicated,
      ema_decay=t.ema_decay, pad_to=tuple(d.pad_to), jit=False,
      augment_options={"crop_padding": d.crop_padding, "max_shift": d.max_shift,
                       "cutout_size": d.cutout_size})
  run_train = _Compiled(make_train_loop(train_step, mesh=mesh, replicas=replicated))
  eval_loops = {"": _Compiled(make_eval_loop(eval_step, mesh=mesh))}
  if t.ema_decay > 0:
    eval_loops["_ema"] = _Compiled(make_eval_loop(eval_step, mesh=mesh, use_ema=True))

  # Replica r is the run with seed `seed + r`: its init, data order and step keys.
  seeds = config.seed + np.arange(max(t.num_replicas, 1))
  keys = jax.vmap(jax.random.PRNGKey)(jnp.asarray(seeds)) if replicated else \
      jax.random.PRNGKey(config.seed)
  replicated_sharding = None if mesh is None else NamedSharding(mesh, P())
  state = create_state(model, tx, keys, input_shape, t.num_replicas if replicated else 0,
                       ema=t.ema_decay > 0, sharding=replicated_sharding)
  if resumed_from is not None:
    state = ckpt.restore(state)
    log(f"resumed from step {resumed_from} ({ckpt.directory})")

  # Data sets and host-gathered chunks go to every device; the loops shard the batches.
  feed = lambda split: _Feeder(DeviceSplit.place(split, sharding=replicated_sharding),
                               replicated_sharding)
  train_feed = feed(ds.train)
  eval_feeds = {"test": feed(ds.test)}
  if ds.validation is not None:
    eval_feeds["validation"] = feed(ds.validation)
  if t.eval_train_set:  # training error in eval mode (Zeiler & Fergus, Krizhevsky Fig. 1)
    eval_feeds["train_set"] = train_feed
  # Evaluation batches are padded (and masked) to a multiple of the device count.
  eval_bs = -(-t.eval_batch_size // num_devices) * num_devices
  writer = MetricWriter(workdir)
  result_path = os.path.join(workdir, "result.json")
  prev = {}
  if os.path.exists(result_path):
    with open(result_path) as f:
      prev = json.load(f)
  best = prev.get("best", {})
  eval_every = t.eval_every_steps or steps_per_epoch
  step = int(np.asarray(state.step).reshape(-1)[0])  # replicas all share the step
  progress = Progress(total, start=step)
  log = progress.wrap(log)

  def evaluate(loop, feed):
    m = len(feed.split)
    idx, mask = eval_batch_indices(m, min(eval_bs, -(-m // num_devices) * num_devices))
    chunks = [slice(0, len(idx))] if loop_form == "scan" else \
        [slice(i, i + 1) for i in range(len(idx))]
    sums, outputs = None, []
    for c in chunks:
      images, labels, rows = feed(idx[c])
      out, outs = loop(state, images, labels, rows, mask[c])
      sums = out if sums is None else jax.tree_util.tree_map(jnp.add, sums, out)
      if outs is not None:
        outputs.append(np.asarray(outs))
    sums = jax.device_get(sums)
    ensemble = sums.pop(ENSEMBLE, {})
    targets = None
    if outputs:  # (batches, [R,] B, K) -> ([R,] examples, K), padding dropped
      o = np.concatenate(outputs)
      if replicated:
        o = np.moveaxis(o, 1, 0)
      outputs = o.reshape(o.shape[:-3] + (-1, o.shape[-1]))[..., :m, :]
      targets = np.asarray(feed.split.labels)  # only ranking metrics need them
    else:
      outputs = None
    if replicated:  # finalize each replica's sums, then stack: (R,) per metric
      per = [loss_spec.finalize(jax.tree_util.tree_map(lambda a, r=r: a[r], sums),
                                None if outputs is None else outputs[r], targets)
             for r in range(len(seeds))]
      metrics = {k: np.asarray([p[k] for p in per]) for k in per[0]}
    else:
      metrics = loss_spec.finalize(sums, outputs, targets)
    count = np.asarray(sums["count"], np.float64)
    metrics.update({f"{ENSEMBLE}_{k}": np.float64(v) / count.reshape(-1)[0]
                    for k, v in ensemble.items()})
    return {**metrics, "count": count}

  primary, higher = loss_spec.primary, loss_spec.higher_is_better
  better = (lambda a, b: a > b) if higher else (lambda a, b: a < b)
  worst = -np.inf if higher else np.inf

  def evaluate_all(step):
    out = {}
    for suffix, loop in eval_loops.items():
      for name, feed in eval_feeds.items():
        split = name + suffix
        m = evaluate(loop, feed)
        flat = _flat(m)
        writer.write(step, split, flat)
        out[split] = flat
        if better(flat[primary], best.get(split, {}).get(primary, worst)):
          best[split] = {primary: flat[primary], "step": step}
        if replicated:  # each replica's own best, as separate runs would report it
          per = best.get(f"{split}_per_replica", [{primary: worst}] * len(seeds))
          best[f"{split}_per_replica"] = [
              {primary: float(a), "step": step} if better(a, old[primary]) else old
              for a, old in zip(np.atleast_1d(m[primary]), per)]
    if "validation" in out:  # the test metric at the best validation step (Nielsen's report)
      key = "test_at_best_validation"
      if best["validation"]["step"] == step:
        best[key] = {primary: out["test"][primary], "step": step}
      if replicated:
        prev_at = best.get(f"{key}_per_replica", [None] * len(seeds))
        best[f"{key}_per_replica"] = [
            {primary: out["test"][f"{primary}_r{r}"], "step": step}
            if v["step"] == step else prev_at[r]
            for r, v in enumerate(best["validation_per_replica"])]
    return out

  timing = {"images": 0, "seconds": 0.0, "first_chunk": True,
            "train_s": prev.get("train_time_s", 0.0)}  # all steps, compile excluded
  target = prev.get("target") or ({"metric": t.target_metric, "value": t.target_value,
                                   "reached_at_step": [None] * len(seeds)}
                                  if t.target_metric else None)

  def target_reached(step: int, out: Dict[str, Dict[str, float]]) -> bool:
    """Records the first evaluation at which each replica met ``train.target_metric``;
    True once all have (time-to-accuracy runs stop there)."""
    if target is None:
      return False
    split, _, name = t.target_metric.partition(".")
    if split not in out or name not in out[split]:
      raise ConfigError(
          f"config.train.target_metric: {t.target_metric!r} is not evaluated; evaluated: "
          + ", ".join(f"{k}.{m}" for k, v in out.items() for m in v
                      if m != "count" and not _REPLICA_KEY.fullmatch(m)))
    values = [out[split][f"{name}_r{r}"] for r in range(len(seeds))] if replicated \
        else [out[split][name]]
    lower = "loss" in name or name in ("rmse", "mse", "mae", "error")
    hits = target["reached_at_step"]
    for r, v in enumerate(values):
      if hits[r] is None and (v <= t.target_value if lower else v >= t.target_value):
        hits[r] = step
        if r == 0 or not replicated:
          target.update({"reached_at_epoch": step / steps_per_epoch,
                         "train_time_s": timing["train_s"]})
    return all(h is not None for h in hits)

  def finish(status: str, step: int, extra: Optional[Dict] = None) -> Dict[str, Any]:
    ckpt.close()
    progress.close()
    ips = timing["images"] / timing["seconds"] if timing["seconds"] else None
    result = {
        "status": status, "step": step, "total_steps": total,
        "epochs": step / steps_per_epoch, "best": best,
        "wall_time_s": prev.get("wall_time_s", 0.0) + (time.time() - t_start),
        "compile_time_s": run_train.compile_s + sum(e.compile_s for e in eval_loops.values()),
        "train_images_per_s": ips, "train_time_s": timing["train_s"], "loop": loop_form, "num_devices": num_devices,
        "loss": loss_name, "primary_metric": primary,
        "params": param_count(state.params) // len(seeds), "model": config.model.name,
        "flops_per_example": flops, "flops_note": "forward pass, XLA cost analysis",
        "seeds": [int(x) for x in seeds] if replicated else [int(config.seed)],
        "data": ds.source | {"summary": ds.summary()}, "device": str(jax.devices()[0]),
        "backend": jax.default_backend(), "jax": jax.__version__,
        "flax": __import__("flax").__version__, "python": platform.python_version(),
        "git_commit": _git_commit(), "resumed_from": resumed_from,
        "deterministic": {"requested": bool(config.deterministic),
                          "xla_flags_applied": deterministic},
        "runtime": runtime.describe(), **({"target": target} if target else {}),
        **(extra or {})}
    if jax.process_index() == 0:
      with open(result_path + ".tmp", "w") as f:
        json.dump(result, f, indent=1, default=str)
      os.replace(result_path + ".tmp", result_path)
    writer.close()
    return result

  flops = forward_flops(model, input_shape)
  last_eval = {}
  at_target = target is not None and all(h is not None for h in target["reached_at_step"])
  try:
    while step < total and not at_target:
      epoch, pos = divmod(step, steps_per_epoch)
      order = np.asarray(epoch_batch_indices(jnp.asarray(seeds) if replicated else config.seed,
                                             epoch, n, t.batch_size, t.shuffle))
      epoch_sums, epoch_steps = None, 0  # the epoch's training metrics, averaged at its end
      while pos < steps_per_epoch and step < total and not at_target:
        # Run up to the next event: every event step is a chunk boundary.
        length = 1 if loop_form == "step" else min(
            steps_per_epoch - pos, total - step,
            *[e - step % e for e in (t.log_every_steps, eval_every, t.checkpoint_every_steps,
                                     t.scan_chunk_steps) if e],
            *([t.stop_after_steps - step] if t.stop_after_steps > step else []))
        idx = order[:, pos:pos + length].swapaxes(0, 1) if replicated else \
            order[pos:pos + length]
        t0 = time.time()
        state, metrics = run_train(state, *train_feed(idx))
        losses = np.asarray(metrics["loss"])  # syncs: timing and the NaN guard
        dt = time.time() - t0 - run_train.last_compile_s
        timing["train_s"] += dt
        if timing["first_chunk"]:  # includes warm-up; left out of the throughput
          timing["first_chunk"] = False
        else:
          timing["images"] += length * t.batch_size * len(seeds)
          timing["seconds"] += dt
        bad = ~np.isfinite(losses.reshape(length, -1)).all(axis=1)
        if bad.any():
          at = step + int(np.argmax(bad)) + 1
          loss = float(losses.reshape(length, -1)[int(np.argmax(bad))].mean())
          log(f"diverged at step {at}: loss {loss}")
          writer.write(at, "train", {"loss": loss})
          # The last good checkpoint is kept; the diverged state is not saved.
          finish("diverged", at, {"diverged_at_step": at})
          raise Diverged(f"loss is {loss} at step {at}; run recorded as diverged in "
                         f"{result_path}")
        step += length
        pos += length
        sums = jax.tree_util.tree_map(lambda a: np.asarray(a).sum(axis=0), jax.device_get(metrics))
        epoch_sums = sums if epoch_sums is None else jax.tree_util.tree_map(
            np.add, epoch_sums, sums)
        epoch_steps += length
        loss = float(losses[-1].mean())
        ips = timing["images"] / timing["seconds"] if timing["seconds"] else None
        progress.update(step, loss, ips)
        if (t.log_every_steps and step % t.log_every_steps == 0) or step == total:
          last = jax.tree_util.tree_map(lambda a: np.asarray(a)[-1], jax.device_get(metrics))
          writer.write(step, "train", _flat(last))
          if not progress.enabled:
            rate = f", {ips:,.0f} img/s" if ips else ""
            log(f"step {step}/{total} epoch {step / steps_per_epoch:.2f} loss {loss:.4f}{rate}")
        if step % eval_every == 0 or step == total:
          last_eval = evaluate_all(step)
          log(f"step {step}: " + ", ".join(f"{k} {primary} {v[primary]:.4f}"
                                           for k, v in last_eval.items()))
          if not t.target_metric.startswith("train_epoch."):
            at_target = target_reached(step, last_eval)
        if pos == steps_per_epoch:
          # Split "train_epoch": the mean over the epoch's batches (train mode), the training
          # error cuda-convnet plots (Krizhevsky Fig. 1). After a resume it covers the
          # epoch's steps since the resume.
          means = _flat(jax.tree_util.tree_map(lambda a: a / epoch_steps, epoch_sums))
          writer.write(step, "train_epoch", means)
          if t.target_metric.startswith("train_epoch."):
            at_target = target_reached(step, {"train_epoch": means})
        if at_target:
          log(f"{t.target_metric} reached {t.target_value} at step {step}: stopping")
        if t.checkpoint_every_steps and step % t.checkpoint_every_steps == 0:
          ckpt.save(step, state)
        if stop.received or (t.stop_after_steps and step >= t.stop_after_steps and step < total):
          ckpt.save(step, state)
          why = stop.received or "stop_after_steps"
          log(f"stopped at step {step} ({why}); rerun the same command to resume")
          return finish("preempted", step, {"stopped_by": why})
    ckpt.save(step, state)
    if not last_eval:
      last_eval = evaluate_all(step)
    names = [m for m in last_eval["test"] if m != "count" and not _REPLICA_KEY.fullmatch(m)]
    final = {f"{k}_{m}": v[m] for k, v in last_eval.items() for m in names}
    if replicated:
      final["per_replica"] = [
          {"seed": int(sd), **{f"{k}_{m}": v[f"{m}_r{r}"] for k, v in last_eval.items()
                               for m in names if not m.startswith(ENSEMBLE)}}
          for r, sd in enumerate(seeds)]
    result = finish("done", step, {"final": final})
    log(f"done: {final}; results in {workdir}")
    return result
  finally:
    ckpt.close()
    progress.close()
