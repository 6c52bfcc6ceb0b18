"""The training loop: one run in one work directory, resumable, never losing work.

    result = train(config, workdir)

Writes ``config.json``, ``metrics.jsonl`` (+ TensorBoard events with tensorboardX),
``checkpoints/`` and ``result.json``. Rerunning on the same workdir resumes from the
latest checkpoint; the data order is a function of (seed, epoch) and each step's
randomness of (seed, step), so the resumed run computes exactly what an
uninterrupted one would. SIGTERM/SIGINT checkpoint and stop cleanly. A NaN/inf
loss stops the run with ``status: diverged``.

Loop form: one jitted step per batch, which is the faster form on XLA's CPU backend
(a FashionNet epoch measured 41–45 s per-step against 298 s as one ``lax.scan``);
the epoch-as-one-``lax.scan`` form for accelerators is not built yet (issue
"Training", item 3).
"""

from __future__ import annotations

import json
import os
import platform
import signal
import subprocess
import time
from typing import Any, Dict, Optional

import jax
import jax.numpy as jnp
import numpy as np

from cnnlab.data import DeviceSplit, load_dataset
from cnnlab.data.pipeline import epoch_batch_indices
from cnnlab.models import create_model
from cnnlab.ops.shapes import param_count
from cnnlab.train import checkpoint
from cnnlab.train.config import ConfigError, validate
from cnnlab.train.metrics import MetricWriter
from cnnlab.train.optim import make_optimizer
from cnnlab.train.steps import create_state, make_steps


class Diverged(RuntimeError):
  """The loss became NaN or infinite."""


def _git_commit() -> Optional[str]:
  try:
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=os.path.dirname(__file__),
                          capture_output=True, text=True, timeout=5).stdout.strip() or None
  except (OSError, subprocess.SubprocessError):
    return None


def _evaluate(eval_step, state, split: DeviceSplit, batch_size: int) -> Dict[str, Any]:
  """Accuracy and loss over every example once; per replica ((R,) arrays) with replicas."""
  sums = None
  for x, y, mask in split.eval_batches(min(batch_size, len(split))):
    out = eval_step(state, x, y, mask)
    sums = out if sums is None else jax.tree_util.tree_map(jnp.add, sums, out)
  sums = jax.device_get(sums)
  n = np.asarray(sums["count"], np.float64)
  return {"accuracy": np.asarray(sums["correct"], np.float64) / n,
          "loss": np.asarray(sums["loss_sum"], np.float64) / n, "count": n}


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
  """Turns SIGTERM/SIGINT into a flag the loop checks after each step."""

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


def train(config, workdir: str, log=print) -> Dict[str, Any]:
  """Runs (or resumes) one training run; returns the result dict (also in result.json).

  SIGTERM/SIGINT are caught from the start (a signal during data loading or
  compilation stops the run after its next step, checkpointed).
  """
  with _StopSignal() as stop:
    return _train(config, workdir, log, stop)


def _train(config, workdir: str, log, stop: _StopSignal) -> Dict[str, Any]:
  validate(config)
  t_start = time.time()
  d = config.data
  ds = load_dataset(d.name, path=d.path or None, validation_size=d.validation_size,
                    validation_from=d.validation_from, **dict(d.options))
  model_kwargs = {k: v for k, v in config.model.items() if k != "name" and v is not None}
  model_kwargs.setdefault("num_classes", ds.info.num_classes)
  if config.train.dtype == "bfloat16":
    model_kwargs["dtype"] = jnp.bfloat16
  model = create_model(config.model.name, input_shape=ds.info.shape, **model_kwargs)

  # Only now, with data and model built, does the workdir take the config: a config
  # rejected above leaves nothing behind that would block its corrected rerun.
  os.makedirs(workdir, exist_ok=True)
  ckdir = os.path.join(workdir, "checkpoints")
  cfg_path = os.path.join(workdir, "config.json")
  cfg_json = json.loads(config.to_json_best_effort())
  if os.path.exists(cfg_path) and checkpoint.latest_step(ckdir) is not None:
    with open(cfg_path) as f:
      old = json.load(f)
    ignore = {"stop_after_steps"}
    strip = lambda c: {**c, "train": {k: v for k, v in c["train"].items() if k not in ignore}}
    if strip(old) != strip(cfg_json):
      raise ConfigError(f"workdir {workdir} holds checkpoints of a run with a different "
                        f"config ({cfg_path}); use a new workdir")
  with open(cfg_path, "w") as f:
    json.dump(cfg_json, f, indent=1, sort_keys=True)

  t = config.train
  replicated = t.num_replicas > 1
  n = len(ds.train)
  steps_per_epoch = n // t.batch_size
  if steps_per_epoch == 0:
    raise ConfigError(f"config.train.batch_size: {t.batch_size} exceeds the {n} training examples")
  total = t.num_steps or t.num_epochs * steps_per_epoch
  tx = make_optimizer(config.optim, total)
  train_step, eval_step = make_steps(
      model, tx, mean=ds.info.mean, std=ds.info.std, num_classes=ds.info.num_classes,
      label_smoothing=t.label_smoothing, l2=config.optim.l2, l2_form=config.optim.l2_form,
      num_batches=steps_per_epoch, augment=tuple(d.augment), replicas=replicated,
      augment_options={"crop_padding": d.crop_padding, "max_shift": d.max_shift,
                       "cutout_size": d.cutout_size})
  # Replica r is the run with seed `seed + r`: its init, data order and step keys.
  seeds = config.seed + np.arange(max(t.num_replicas, 1))
  keys = jax.vmap(jax.random.PRNGKey)(jnp.asarray(seeds)) if replicated else \
      jax.random.PRNGKey(config.seed)
  state = create_state(model, tx, keys, ds.info.shape, t.num_replicas if replicated else 0)
  resumed_from = checkpoint.latest_step(ckdir)
  if resumed_from is not None:
    state = checkpoint.restore(ckdir, state)
    log(f"resumed from step {resumed_from} ({ckdir})")

  train_split = DeviceSplit.place(ds.train)
  eval_splits = {"test": DeviceSplit.place(ds.test)}
  if ds.validation is not None:
    eval_splits["validation"] = DeviceSplit.place(ds.validation)
  writer = MetricWriter(workdir)
  result_path = os.path.join(workdir, "result.json")
  prev = {}
  if os.path.exists(result_path):
    with open(result_path) as f:
      prev = json.load(f)
  best = prev.get("best", {})
  eval_every = t.eval_every_steps or steps_per_epoch

  def evaluate_all(step):
    out = {}
    for split, data in eval_splits.items():
      m = _evaluate(eval_step, state, data, t.eval_batch_size)
      flat = _flat(m)
      writer.write(step, split, flat)
      out[split] = flat
      if flat["accuracy"] > best.get(split, {}).get("accuracy", -1):
        best[split] = {"accuracy": flat["accuracy"], "step": step}
      if replicated:  # each replica's own best, as separate runs would report it
        per = best.get(f"{split}_per_replica", [{"accuracy": -1.0}] * len(seeds))
        best[f"{split}_per_replica"] = [
            {"accuracy": float(a), "step": step} if a > old["accuracy"] else old
            for a, old in zip(np.atleast_1d(m["accuracy"]), per)]
    return out

  def finish(status: str, step: int, extra: Optional[Dict] = None) -> Dict[str, Any]:
    result = {
        "status": status, "step": step, "total_steps": total,
        "epochs": step / steps_per_epoch, "best": best,
        "wall_time_s": prev.get("wall_time_s", 0.0) + (time.time() - t_start),
        "compile_time_s": compile_time, "train_images_per_s": images_per_s,
        "params": param_count(state.params) // len(seeds), "model": config.model.name,
        "seeds": [int(x) for x in seeds] if replicated else [int(config.seed)],
        "data": ds.source | {"summary": ds.summary()}, "device": str(jax.devices()[0]),
        "backend": jax.default_backend(), "jax": jax.__version__,
        "flax": __import__("flax").__version__, "python": platform.python_version(),
        "git_commit": _git_commit(), "resumed_from": resumed_from, **(extra or {})}
    with open(result_path + ".tmp", "w") as f:
      json.dump(result, f, indent=1, default=str)
    os.replace(result_path + ".tmp", result_path)
    writer.close()
    return result

  step = int(np.asarray(state.step).reshape(-1)[0])  # replicas all share the step
  compile_time, images_per_s, timed_steps, timed_s = None, None, 0, 0.0
  last_eval = {}
  while step < total:
    epoch, start = divmod(step, steps_per_epoch)
    order = epoch_batch_indices(jnp.asarray(seeds) if replicated else config.seed, epoch, n,
                                t.batch_size, t.shuffle)
    for i in range(start, steps_per_epoch):
      if step >= total:
        break
      x, y = train_split.take(order[:, i] if replicated else order[i])
      t0 = time.time()
      state, metrics = train_step(state, x, y)
      losses = np.asarray(metrics["loss"])  # syncs: per-step timing and the NaN guard
      loss = float(losses.mean())
      dt = time.time() - t0
      if compile_time is None:
        compile_time = dt
      else:
        timed_steps, timed_s = timed_steps + 1, timed_s + dt
        images_per_s = timed_steps * t.batch_size * len(seeds) / timed_s
      step += 1
      if not np.all(np.isfinite(losses)):
        log(f"diverged at step {step}: loss {loss}")
        writer.write(step, "train", {"loss": loss})
        # The last good checkpoint is kept; the diverged state is not saved.
        finish("diverged", step, {"diverged_at_step": step})
        raise Diverged(f"loss is {loss} at step {step}; run recorded as diverged in "
                       f"{result_path}")
      if step % t.log_every_steps == 0 or step == total:
        m = jax.device_get(metrics)
        writer.write(step, "train", _flat(m))
        ips = f", {images_per_s:,.0f} img/s" if images_per_s else ""
        log(f"step {step}/{total} epoch {step / steps_per_epoch:.2f} loss {loss:.4f}{ips}")
      if step % eval_every == 0 or step == total:
        last_eval = evaluate_all(step)
        log(f"step {step}: " + ", ".join(f"{k} accuracy {v['accuracy']:.4f}"
                                         for k, v in last_eval.items()))
      if t.checkpoint_every_steps and step % t.checkpoint_every_steps == 0:
        checkpoint.save(ckdir, state, step)
      if stop.received or (t.stop_after_steps and step >= t.stop_after_steps and step < total):
        checkpoint.save(ckdir, state, step)
        why = stop.received or "stop_after_steps"
        log(f"stopped at step {step} ({why}); rerun the same command to resume")
        return finish("preempted", step, {"stopped_by": why})
  checkpoint.save(ckdir, state, step)
  if not last_eval:
    last_eval = evaluate_all(step)
  final = {f"{k}_{m}": v[m] for k, v in last_eval.items() for m in ("accuracy", "loss")}
  if replicated:
    final["per_replica"] = [
        {"seed": int(sd), **{f"{k}_{m}": v[f"{m}_r{r}"] for k, v in last_eval.items()
                             for m in ("accuracy", "loss")}} for r, sd in enumerate(seeds)]
  result = finish("done", step, {"final": final})
  log(f"done: {final}; results in {workdir}")
  return result
