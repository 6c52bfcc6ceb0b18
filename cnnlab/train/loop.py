"""The training loop: one run in one work directory, resumable, never losing work.

    result = train(config, workdir)          # a cnnlab.train.result.Result

Set-up (:class:`cnnlab.train.run.Run`: data, model, loss, compiled steps), then a
flat loop over chunks of steps in which each periodic job is one ``if``::

    for chunk in run.chunks(record.step):
      state, metrics = run.train(state, chunk)
      if chunk.log:        writer.write("train", ...)
      if chunk.eval:       record.observe(evaluator(state, step), ...)
      if chunk.checkpoint: ckpt.save(step, state, record)

The host runs ahead of the device until an event needs the numbers; at that sync the
NaN guard checks every pending step, and each chunk that ended an epoch writes its
``train_epoch`` means. Where the wall time went (set-up, compiling, training, evaluation,
checkpoints), over every process that ran the run, is the
:class:`~cnnlab.train.clock.Clock`'s (``with clock("eval"): ...``).

The work directory receives ``config.json``, ``metrics.jsonl`` (+ TensorBoard events
with tensorboardX), ``checkpoints/`` and ``result.json``. Everything the run reports
but the train state (bests, test at best validation, target hits, the epoch's running
sums, timing) is the :class:`~cnnlab.train.record.RunRecord`, saved atomically with
every checkpoint: rerunning the command after a kill anywhere resumes from the latest
readable checkpoint and reports exactly what an uninterrupted run reports (the data
order is a function of (seed, epoch), each step's randomness of (seed, step)).
SIGTERM/SIGINT checkpoint and stop cleanly. A NaN/inf loss stops the run with
``status: diverged``.

Loop form (``train.loop``): the steps between two events run as one compiled
``lax.scan`` on accelerators (``"scan"``) and as one compiled program per step on XLA's
CPU backend (``"step"``), where a FashionNet epoch measured 41–45 s per step against
298 s as one scan. ``"auto"`` picks by backend. Both compute the same steps (tested).
Data parallelism (``train.data_parallel``): with more than one device the batch is
sharded over all of them and the state replicated (:mod:`cnnlab.train.steps`).
"""

from __future__ import annotations

import json
import os
import time
from typing import Callable, Dict, Optional

import jax
import numpy as np

from cnnlab.errors import ConfigError, check_dir
from cnnlab.processes import remove_dead_temporaries
from cnnlab.signals import StopSignal
from cnnlab.train import runtime
from cnnlab.train.checkpoint import Checkpointer
from cnnlab.train.clock import Clock
from cnnlab.train.evaluator import Evaluator
from cnnlab.train.metrics import METRICS_FILE, MetricWriter
from cnnlab.train.progress import Progress
from cnnlab.train.record import RunRecord, split_metrics
from cnnlab.train.result import Result, load_result
from cnnlab.train.run import Run
from cnnlab.trees import flatten


class Diverged(RuntimeError):
  """The loss became NaN or infinite."""


# At most this many chunks run ahead of the host (without an event forcing a wait): the
# host dispatches while the device computes; divergence is still found at its exact step.
SYNC_EVERY = 100


# Fields a rerun may change without changing what the run computes.
RERUN_MAY_CHANGE = ("train.stop_after_steps",)


def open_workdir(workdir: str, config, has_checkpoints: bool) -> None:
  """Writes ``config.json``; refuses a work directory whose checkpoints are of another
  config, naming the fields that differ."""
  os.makedirs(workdir, exist_ok=True)
  path = os.path.join(workdir, "config.json")
  new = json.loads(config.to_json_best_effort())
  if has_checkpoints and os.path.exists(path):
    with open(path) as f:
      old = flatten(json.load(f))
    cur = flatten(new)
    diff = [k for k in sorted(set(old) | set(cur))
            if k not in RERUN_MAY_CHANGE and old.get(k, "<unset>") != cur.get(k, "<unset>")]
    if diff:
      shown = "; ".join(f"{k}: {old.get(k, '<unset>')!r} there, {cur.get(k, '<unset>')!r} now"
                        for k in diff[:6])
      more = f" (and {len(diff) - 6} more)" if len(diff) > 6 else ""
      raise ConfigError(f"workdir {workdir} holds checkpoints of a run with another config "
                        f"({path}): {shown}{more}; use a new --workdir, or rerun with that "
                        f"config")
  if jax.process_index() == 0:  # (the one process that writes the run's files)
    remove_dead_temporaries(workdir, ("config.json", "result.json", METRICS_FILE))
    # Through a rename: the other processes of a multi-host job read this file while
    # process 0 rewrites it on a relaunch, and a kill mid-write must not leave it empty.
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
      json.dump(new, f, indent=1, sort_keys=True)
    os.replace(tmp, path)


def train(config, workdir: str, log: Callable[[str], None] = print) -> Result:
  """Runs (or resumes) one training run; returns its result (also in ``result.json``).

  SIGTERM/SIGINT are caught from the start (a signal during data loading or
  compilation stops the run after its next chunk of steps, checkpointed).
  """
  check_dir(workdir, "workdir")
  with StopSignal() as stop:
    t0 = time.time()
    run = Run.build(config, log)  # everything validated: nothing is written before this
    ckpt = Checkpointer(os.path.join(workdir, "checkpoints"),
                        keep=config.train.keep_checkpoints)
    try:
      latest = ckpt.latest_step()
      open_workdir(workdir, config, latest is not None)
      done = finished_result(workdir, latest, run.events.total)
      if done is not None:  # nothing to train: the results stay as they are
        log(f"already finished at step {done.step}: {_summary(done)}; results in {workdir} "
            f"(a new --workdir trains again)")
        return done
      return _Trainer(run, workdir, ckpt, log, stop, t0).fit()
    finally:
      ckpt.close()


def finished_result(workdir: str, latest_step: Optional[int], total: int) -> Optional[Result]:
  """The run's result when it finished (``done`` at its last checkpoint, all steps trained
  or its target met): a rerun then leaves result.json and the metrics as they are."""
  result = load_result(workdir) if latest_step is not None else None
  if result is None or result.status != "done" or result.step != latest_step:
    return None
  return result if result.step >= total or (result.target and result.target.met()) else None


class _Trainer:
  """The loop's state: the run, its record, the writers; :meth:`fit` is the loop."""

  def __init__(self, run: Run, workdir: str, ckpt: Checkpointer, log, stop: StopSignal,
               t0: float):
    self.run, self.workdir, self.ckpt, self.stop = run, workdir, ckpt, stop
    self.state = run.init_state()
    self.resumed_from, self.state, saved = ckpt.restore_latest(self.state, log)
    self.record = self._record(saved, log)
    self.main = jax.process_index() == 0
    # Rows logged after the restored step (by a killed process) are dropped: logged again.
    self.writer = MetricWriter(workdir, resume_step=self.record.step, enabled=self.main)
    self.evaluator = Evaluator(run)
    self.progress = Progress(run.events.total, start=self.record.step)
    self.log = self.progress.wrap(log)
    self.clock = Clock(self.record.timing, start=t0)  # earlier processes' time, and ours
    # A target on the epoch means stops at the epoch that meets it: sync at every epoch end.
    # Several host devices: each step's all-reduce needs every device's thread; with many
    # steps in flight XLA's CPU runtime deadlocked (FashionNet on 2 host devices, after
    # ~2,000 steps): wait for each step there.
    self.run_ahead = 1 if run.num_devices > 1 and jax.default_backend() == "cpu" \
        else SYNC_EVERY
    self.epoch_target = str(run.config.train.target_metric or "").startswith("train_epoch.")
    self.compile_seen = 0.0
    if self.resumed_from is not None:
      self.log(f"resumed from step {self.resumed_from} ({ckpt.directory})")
    self.clock.set_up(run.data_s)

  def _record(self, saved: Optional[Dict], log) -> RunRecord:
    t, primary = self.run.config.train, self.run.loss.primary
    if saved is not None:
      record = RunRecord.from_json(saved, primary)
      threads = runtime.cpu_threads()
      for what, was, now in (("devices", record.devices, self.run.num_devices),
                             ("CPU threads", record.cpu_threads, threads)):
        if was not in (None, now):
          log(f"warning: checkpointed by {was} {what}, resumed with {now}: the remaining "
              f"steps compute the same maths, rounded differently (results equal up to "
              f"rounding, not bit for bit)")
      record.devices, record.cpu_threads = self.run.num_devices, threads
      return record
    record = RunRecord.new(t.target_metric, t.target_value, len(self.run.seeds))
    record.devices, record.cpu_threads = self.run.num_devices, runtime.cpu_threads()
    if self.resumed_from is not None:  # a checkpoint from before run records
      log(f"warning: checkpoint {self.resumed_from} has no run record (written by an older "
          f"cnnlab): bests and targets count from this step on")
      record.step = self.resumed_from
    return record

  def fit(self) -> Result:
    record, run = self.record, self.run
    pending = []  # chunks dispatched since the last sync, with their metrics (on the device)
    self.last_sync = time.time()
    for chunk in run.chunks(record.step):
      if record.target is not None and record.target.met():
        break  # a time-to-accuracy run stops where its target is met
      self.state, metrics = run.train(self.state, chunk)
      pending.append((chunk, metrics))
      if not self._needs_numbers(chunk, len(pending)):
        continue  # the host runs ahead of the device until something needs the numbers
      diverged = self._sync(pending)
      if diverged is not None:
        return self._diverged(*diverged)
      pending = []
      if chunk.log:
        self._log_train(chunk, metrics)
      if chunk.eval:
        self._evaluate(chunk.end)
      if chunk.checkpoint or self.stop.received or chunk.stop:
        self._save()
      if self.stop.received or chunk.stop:
        why = self.stop.received or "stop_after_steps"
        self.log(f"stopped at step {chunk.end} ({why}); rerun the same command to resume")
        return self._finish("preempted", stopped_by=why)
      self.last_sync = time.time()  # the jobs' time is not training time
    if not any(m.step == record.step for m in record.last.values()):
      self._evaluate(record.step)  # stopped early at a target: the final state evaluated
    self._save()
    result = self._finish("done")
    self.log(f"done: {_summary(result)}; results in {self.workdir}")
    return result

  def _needs_numbers(self, chunk, pending: int) -> bool:
    """Whether the host waits for the device after ``chunk``: an event needs its numbers
    (a log, an evaluation, a checkpoint, an epoch's target, a stop), it is this process's
    first chunk (its warm-up is timed apart), or ``run_ahead`` chunks are in flight."""
    events = chunk.log or chunk.eval or chunk.checkpoint or chunk.stop or \
        (chunk.epoch_end and self.epoch_target)
    return bool(events or self.stop.received or not self.clock.warm
                or pending >= self.run_ahead)

  # -- the periodic jobs ---------------------------------------------------------------

  def _sync(self, pending):
    """Waits for the pending chunks: the NaN guard (``(step, loss)`` of the first non-finite
    loss, or None), the epoch's running sums, the step and the time counters."""
    fetched = jax.device_get([m for _, m in pending])  # waits for the device
    now = time.time()
    for (chunk, _), metrics in zip(pending, fetched):
      losses = np.asarray(metrics["loss"]).reshape(chunk.length, -1)
      bad = ~np.isfinite(losses).all(axis=1)
      if bad.any():
        i = int(np.argmax(bad))
        return chunk.start + i + 1, float(losses[i].mean())
      self.record.step = chunk.end
      self.record.epoch.add(_sums(metrics), chunk.length)
      if chunk.epoch_end:  # closed here, not by a sync of its own (short epochs: 1 in 10 steps)
        self._close_epoch(chunk.end)
    steps = sum(chunk.length for chunk, _ in pending)
    compile_s = self.run.train_loop.compile_s - self.compile_seen
    self.compile_seen = self.run.train_loop.compile_s
    images = steps * self.run.config.train.batch_size * len(self.run.seeds)
    self.clock.trained(self.record.timing, images, now - self.last_sync - compile_s)
    self.last_sync = now
    self.progress.update(self.record.step, float(losses[-1].mean()),
                         self.record.timing.images_per_s)
    return None

  def _log_train(self, chunk, metrics) -> None:
    last = jax.tree_util.tree_map(lambda a: np.asarray(a)[-1], jax.device_get(metrics))
    # the learning rate of the chunk's last update (optax counts updates from 0)
    last["lr"] = np.float64(self.run.schedule(chunk.end - 1))
    m = split_metrics(chunk.end, last)
    self.writer.write("train", m)
    self.record.last_logged_step = chunk.end
    if not self.progress.enabled:
      ips = self.record.timing.images_per_s
      rate = f", {ips:,.0f} img/s" if ips else ""
      self.log(f"step {chunk.end}/{self.run.events.total} epoch "
               f"{chunk.end / self.run.events.steps_per_epoch:.2f} loss "
               f"{m.values['loss']:.4f}{rate}, {self.progress.suffix()}")

  def _evaluate(self, step: int) -> None:
    with self.clock("eval", minus=lambda: self.evaluator.compile_s):  # (compiling apart)
      evals = self.evaluator(self.state, step)
    primary = self.run.loss.primary
    for split, m in evals.items():
      self.writer.write(split, m)
    self.record.observe(evals, primary, self.run.loss.higher_is_better)
    self.log(f"step {step}: " + ", ".join(f"{k} {primary} {v.values[primary]:.4f}"
                                          for k, v in evals.items()))
    self._check_target(evals)

  def _close_epoch(self, step: int) -> None:
    """Split ``train_epoch``: the mean over the epoch's batches in train mode, the training
    error cuda-convnet plots (Krizhevsky Fig. 1); its sums survive a resume."""
    means = self.record.epoch.close(step)
    self.writer.write("train_epoch", means)
    self._check_target({"train_epoch": means})

  def _check_target(self, evals) -> None:
    t = self.run.config.train
    if self.record.target is None or self.record.target.met():
      return
    split, _, name = t.target_metric.partition(".")
    if split not in evals:
      return
    if name not in evals[split].values:
      raise ConfigError(
          f"config.train.target_metric: {t.target_metric!r} is not evaluated; evaluated: "
          + ", ".join(f"{k}.{m}" for k, v in evals.items() for m in v.values))
    step = evals[split].step
    if self.record.check_target(evals[split], name, step / self.run.events.steps_per_epoch,
                                self.record.timing.train_s,
                                lower=self.run.loss.direction(name) == "lower"):
      self.log(f"{t.target_metric} reached {t.target_value} at step {step}: stopping")

  def _save(self) -> None:
    with self.clock("checkpoint"):
      self._stamp_time()
      self.ckpt.save(self.record.step, self.state, self.record.to_json())

  def _stamp_time(self) -> None:
    """The record's time breakdown: earlier processes' plus this one's so far."""
    self.clock.stamp(self.record.timing, self.run.train_loop.compile_s
                     + self.evaluator.compile_s, self.run.data_s)

  def _diverged(self, at: int, loss: float) -> Result:
    self.log(f"diverged at step {at}: loss {loss}")
    self.writer.write("train", split_metrics(at, {"loss": loss}))
    # The last good checkpoint is kept; the diverged state is not saved.
    self._finish("diverged", diverged_at_step=at)
    raise Diverged(f"loss is {loss} at step {at}; run recorded as diverged in "
                   f"{os.path.join(self.workdir, 'result.json')}")

  def _finish(self, status: str, **extra) -> Result:
    with self.clock("checkpoint"):
      self.ckpt.close()  # waits for the last save
    provenance = self.run.provenance(self.state.params)  # inside the wall time ("other")
    self.progress.close()
    self._stamp_time()
    r = self.record
    result = Result(status=status, step=r.step, epochs=r.step / self.run.events.steps_per_epoch,
                    resumed_from=self.resumed_from, **r.result_fields(), **provenance, **extra)
    names = {m for split in result.final.values() for m in split.values} | \
        {result.primary_metric, "loss"}
    result.directions = {m: self.run.loss.direction(m) for m in sorted(names)}
    if self.main:
      result.write(self.workdir)
    test = result.final.get("test")
    self.writer.hparams(flatten(json.loads(self.run.config.to_json_best_effort())),
                        dict(test.values) if test else {})
    self.writer.close()
    return result


def _sums(metrics) -> Dict[str, np.ndarray]:
  """A chunk's training metrics summed over its steps (per replica when packed)."""
  return {k: np.asarray(v, np.float64).sum(axis=0) for k, v in metrics.items()}


def _summary(result: Result) -> str:
  """The run's numbers as result.json reports them: the best of each evaluated split (the
  test value at the best validation point where there is one), then the final test."""
  parts = []
  for split, best in result.best.items():
    if best.point.value is not None:
      what = "test at the best validation" if split == "test_at_best_validation" else \
          f"best {split}"
      parts.append(f"{what} {best.metric} {best.point.value:.4f} (step {best.point.step})")
  test = result.final.get("test")
  if test:
    parts.append("final " + ", ".join(f"test {k} {v:.4f}" for k, v in test.values.items()))
  return "; ".join(parts) or "no evaluation"
