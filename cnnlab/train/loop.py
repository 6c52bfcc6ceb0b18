"""The training loop: runs in their work directories, resumable, never losing work.

    result = train(config, workdir)          # a cnnlab.train.result.Result
    results = train_together(configs, workdirs)  # R runs as one vmapped program

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
``status: diverged``. Runs trained together (:mod:`cnnlab.train.together`) each keep
their own directory, record and checkpoints (their slice of the stacked state); one that
diverges is recorded as diverged and the others train on.

Loop form (``train.loop``): the steps between two events run as one compiled
``lax.scan`` on accelerators (``"scan"``) and as one compiled program per step on XLA's
CPU backend (``"step"``), where a FashionNet epoch measured 41–45 s per step against
298 s as one scan. ``"auto"`` picks by backend. Both compute the same steps (tested).
Data parallelism (``train.data_parallel``): with more than one device the batch is
sharded over all of them and the state replicated (:mod:`cnnlab.train.steps`).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import time
from typing import Any, Callable, Dict, List, Optional, Sequence

import jax
import numpy as np

from cnnlab.config import validate
from cnnlab.errors import ConfigError, check_dir
from cnnlab.signals import StopSignal
from cnnlab.train.checkpoint import latest_step
from cnnlab.train.clock import Clock
from cnnlab.train.evaluator import Evaluator
from cnnlab.train.metrics import MetricWriter
from cnnlab.train.progress import Progress
from cnnlab.train.record import Timing, run_record, split_metrics
from cnnlab.train.result import Result
from cnnlab.train.run import Run
from cnnlab.train.steps import IN_OPTIMIZER
from cnnlab.train.together import (Member, every_run, member_state, member_values,
                                   own_state, program_config, restore)
from cnnlab.train.workdir import check_workdir, finished_result, write_config
from cnnlab.trees import flatten


class Diverged(RuntimeError):
  """The loss became NaN or infinite."""


# At most this many chunks run ahead of the host (without an event forcing a wait): the
# host dispatches while the device computes; divergence is still found at its exact step.
SYNC_EVERY = 100


def train(config, workdir: str, log: Callable[[str], None] = print) -> Result:
  """Runs (or resumes) one training run; returns its result (also in ``result.json``);
  :class:`Diverged` when its loss became non-finite (recorded as diverged).

  SIGTERM/SIGINT are caught from the start (a signal during data loading or
  compilation stops the run after its next chunk of steps, checkpointed).
  """
  if config.train.num_replicas > 1:
    raise ConfigError("config.train.num_replicas > 1 requests several runs: train them with "
                      "train_together(together.runs_of(config), workdirs) (cnnlab.main does)")
  result = train_together([config], [workdir], log)[0]
  if result.status == "diverged":
    raise Diverged(f"the loss is not finite at step {result.diverged_at_step}; run "
                   f"recorded as diverged in "
                   f"{os.path.join(workdir, 'result.json')}")
  return result


def train_together(configs: Sequence[Any], workdirs: Sequence[str],
                   log: Callable[[str], None] = print,
                   at_stop: Optional[Callable] = None,
                   stop_at_resume: bool = False) -> List[Result]:
  """Runs (or resumes) runs that differ only in packable fields as one vmapped program
  (:mod:`cnnlab.train.together`); each writes its own directory; returns their results in
  order (a diverged one with ``status: diverged``). Runs already finished are left as
  they are; the others train together.

  ``at_stop(step, results, stop)``, where the runs stop at ``train.stop_after_steps`` (a
  search's rung; their results there written), says run by run None (it ends there) or
  its next stop (0: the end): the program goes on with the runs that go on, the others
  masked inside it (nothing compiles again). ``stop``: the signal handler.
  ``stop_at_resume``: runs resumed exactly at their stop stop there again (a search's
  worker killed between a rung's checkpoint and its record); else they train on (rerun
  ``cnnlab.main`` to resume)."""
  if len({os.path.abspath(w) for w in workdirs}) != len(workdirs) or len(configs) != len(
      workdirs):
    raise ConfigError(f"one work directory per run, each its own: {list(workdirs)}")
  for w in workdirs:
    check_dir(w, "workdir")
  with StopSignal() as stop:
    t0 = time.time()
    program_config(configs)  # they may train together
    for c in configs:
      validate(c)
    results = []
    for c, w in zip(configs, workdirs):
      latest = latest_step(os.path.join(w, "checkpoints"))
      check_workdir(w, c, latest is not None)
      results.append(finished_result(w, latest))
    for r, w in zip(results, workdirs):
      if r is not None:  # nothing to train: the results stay as they are
        log(f"already finished at step {r.step}: {r.summary()}; results in {w} "
            f"(a new --workdir trains again)")
    todo = [i for i, r in enumerate(results) if r is None]
    if not todo:
      return results
    run = Run.build(program_config([configs[i] for i in todo]), log,  # validated: nothing
                    maskable=at_stop is not None)                    # written before
    members = [Member(configs[i], workdirs[i], run) for i in todo]
    try:
      for m in members:  # (each checked above, before anything was built)
        write_config(m.workdir, m.config)
      for i, r in zip(todo, _Trainer(run, members, log, stop, t0, at_stop and functools.partial(
          every_run, at_stop, results, todo), stop_at_resume).fit()):
        results[i] = r
      return results
    finally:
      for m in members:
        m.ckpt.close()


class _Trainer:
  """The loop's state: the run, its members (records, writers); :meth:`fit` is the loop."""

  def __init__(self, run: Run, members: List[Member], log, stop: StopSignal, t0: float,
               at_stop: Optional[Callable] = None, stop_at_resume: bool = False):
    self.run, self.members, self.stop, self.at_stop, self.raw_log = run, members, stop, \
        at_stop, log
    self.stop_at_resume = stop_at_resume
    self.together = run.replicated
    self.traced_optimizer = any(k in IN_OPTIMIZER for k in run.hyper)
    self.state, saved = restore(members, run.init_state(), self.together,
                                self.traced_optimizer, run.sharding, log)
    self.main = jax.process_index() == 0
    for m, s in zip(members, saved):
      m.record = run_record(s, m.config.train, run.loss.primary, run.num_devices,
                            m.resumed_from, log)
      # Rows logged after the restored step (by a killed process) are dropped: logged again.
      m.writer = MetricWriter(m.workdir, resume_step=m.record.step, enabled=self.main)
    self.step = members[0].record.step
    self.evaluator = Evaluator(run)
    self.progress = Progress(run.events.total, start=self.step)
    self.log = self.progress.wrap(log)
    # The program's time: its runs' shares summed (each run's time is its share).
    self.timing = Timing(**{f.name: sum(getattr(m.record.timing, f.name) for m in members)
                            for f in dataclasses.fields(Timing)})
    self.stamped = dataclasses.replace(self.timing)  # the program's time shared out so far
    self.clock = Clock(self.timing, start=t0)  # earlier processes' time, and ours
    # A target on the epoch means stops at the epoch that meets it: sync at every epoch end.
    # Several host devices: each step's all-reduce needs every device's thread; with many
    # steps in flight XLA's CPU runtime deadlocked (FashionNet on 2 host devices, after
    # ~2,000 steps): wait for each step there.
    self.run_ahead = 1 if run.num_devices > 1 and jax.default_backend() == "cpu" \
        else SYNC_EVERY
    self.epoch_target = str(run.config.train.target_metric or "").startswith("train_epoch.")
    self.compile_seen = 0.0
    if members[0].resumed_from is not None:
      self.log(f"resumed from step {members[0].resumed_from} ("
               + ", ".join(m.ckpt.directory for m in members) + ")")
    self.clock.set_up(run.data_s)

  def training(self) -> List[Member]:
    return [m for m in self.members if m.training]

  def targets_met(self) -> bool:
    return all(m.record.target is not None and m.record.target.met() for m in self.training())

  def fit(self) -> List[Result]:
    while True:
      stopped = self._train()
      if stopped == "diverged":
        return self._results()  # every run diverged
      if stopped is None:
        break
      results = self._finish("preempted", stopped_by=stopped)
      if stopped != "stop_after_steps" or self.at_stop is None or not self._go_on():
        return results
    if not any(m.step == self.step for m in self.training()[0].record.last.values()):
      self._evaluate(self.step)  # stopped early at a target: the final state evaluated
    self._save()
    results = self._finish("done")
    for m, result in zip(self.members, results):
      if result.status == "done":
        self.log(f"done: {result.summary()}; results in {m.workdir}")
    return results

  def _train(self) -> Optional[str]:
    """Trains until the end or a target (None), a stop (its reason: a signal's name,
    ``stop_after_steps``), or every run diverged (``diverged``)."""
    run = self.run
    if self.stop_at_resume and 0 < self.step == run.events.stop_after < run.events.total:
      return "stop_after_steps"  # resumed at its stop: stopped there (its result written)
    pending = []  # chunks dispatched since the last sync, with their metrics (on the device)
    self.last_sync = time.time()
    for chunk in run.chunks(self.step):
      if self.targets_met():
        return None  # a time-to-accuracy run stops where its target is met
      self.state, metrics = run.train(self.state, chunk)
      pending.append((chunk, metrics))
      if not self._needs_numbers(chunk, len(pending)):
        continue  # the host runs ahead of the device until something needs the numbers
      self._sync(pending)
      pending = []
      if not self.training():
        return "diverged"
      if chunk.log:
        self._log_train(chunk, metrics)
      if chunk.eval:
        self._evaluate(chunk.end)
      if chunk.checkpoint or self.stop.received or chunk.stop:
        self._save()
      if self.stop.received or chunk.stop:
        why = self.stop.received or "stop_after_steps"
        self.log(f"stopped at step {chunk.end} ({why})" + (
            "" if self.at_stop and chunk.stop else "; rerun the same command to resume"))
        return why
      self.last_sync = time.time()  # the jobs' time is not training time
    return None

  def _go_on(self) -> bool:
    """At a stop with ``at_stop`` (see :func:`train_together`): the runs it keeps train on
    to their next stop, the others are stopped inside the program; False: none goes on."""
    nexts = list(self.at_stop(self.step, [m.result for m in self.members], self.stop))
    if len(nexts) != len(self.members):
      raise ValueError(f"at_stop answered for {len(nexts)} runs, not {len(self.members)}")
    going = [n is not None and m.result.status == "preempted"
             for m, n in zip(self.members, nexts)]
    if not any(going):
      return False
    for m, go in zip(self.members, going):
      if go:  # its result at the stop is written; it trains (and logs) on
        m.result = None
        m.writer = MetricWriter(m.workdir, resume_step=m.record.step, enabled=self.main)
    if self.together:
      self.state = self.run.mask(self.state, going)
    ends = [n for n, go in zip(nexts, going) if go]
    self.run.events = dataclasses.replace(self.run.events,
                                          stop_after=0 if 0 in ends else min(ends))
    self.progress = Progress(self.run.events.total, start=self.step)
    self.log = self.progress.wrap(self.raw_log)
    self.log(f"step {self.step}: {sum(going)} of {len(going)} run(s) go on, to step "
             f"{self.run.events.stop_after or self.run.events.total}")
    return True

  def _needs_numbers(self, chunk, pending: int) -> bool:
    """Whether the host waits for the device after ``chunk``: an event needs its numbers
    (a log, an evaluation, a checkpoint, an epoch's target, a stop), it is this process's
    first chunk (its warm-up is timed apart), or ``run_ahead`` chunks are in flight."""
    events = chunk.log or chunk.eval or chunk.checkpoint or chunk.stop or \
        (chunk.epoch_end and self.epoch_target)
    return bool(events or self.stop.received or not self.clock.warm
                or pending >= self.run_ahead)

  # -- the periodic jobs ---------------------------------------------------------------

  def _sync(self, pending) -> None:
    """Waits for the pending chunks: the NaN guard (a run whose loss is non-finite is
    recorded as diverged at that step), the epoch's running sums, the step and the time
    counters."""
    fetched = jax.device_get([m for _, m in pending])  # waits for the device
    now = time.time()
    for (chunk, _), metrics in zip(pending, fetched):
      losses = np.asarray(metrics["loss"]).reshape(chunk.length, -1)  # (L, runs)
      sums = _sums(metrics)
      for r, m in enumerate(self.members):
        if not m.training:
          continue
        bad = ~np.isfinite(losses[:, r])
        if bad.any():
          i = int(np.argmax(bad))
          self._diverged(m, chunk.start + i + 1, float(losses[i, r]))
          continue
        m.record.step = chunk.end
        m.record.epoch.add(member_values(sums, r, self.together), chunk.length)
        if chunk.epoch_end:  # closed here, not by a sync of its own (short epochs)
          self._close_epoch(m, chunk.end)
      self.step = chunk.end
    steps = sum(chunk.length for chunk, _ in pending)
    compile_s = self.run.train_loop.compile_s - self.compile_seen
    self.compile_seen = self.run.train_loop.compile_s
    images = steps * self.run.config.train.batch_size * len(self.members)
    self.clock.trained(self.timing, images, now - self.last_sync - compile_s)
    self.last_sync = now
    alive = [r for r, m in enumerate(self.members) if m.training]
    self.progress.update(self.step, float(losses[-1, alive].mean()) if alive else float("nan"),
                         self.timing.images_per_s)

  def _log_train(self, chunk, metrics) -> None:
    last = jax.tree_util.tree_map(lambda a: np.asarray(a)[-1], jax.device_get(metrics))
    for r, m in enumerate(self.members):
      if not m.training:
        continue
      own = dict(member_values(last, r, self.together))
      own["lr"] = np.float64(m.schedule(chunk.end - 1))  # the chunk's last update's (from 0)
      row = split_metrics(chunk.end, own)
      m.writer.write("train", row)
      m.record.last_logged_step = chunk.end
    if not self.progress.enabled:
      ips = self.timing.images_per_s
      rate = f", {ips:,.0f} img/s" if ips else ""
      losses = "/".join(f"{float(x):.4f}" for x, m in
                        zip(np.asarray(last["loss"]).reshape(-1), self.members) if m.training)
      self.log(f"step {chunk.end}/{self.run.events.total} epoch "
               f"{chunk.end / self.run.events.steps_per_epoch:.2f} loss "
               f"{losses}{rate}, {self.progress.suffix()}")

  def _evaluate(self, step: int) -> None:
    with self.clock("eval", minus=lambda: self.evaluator.compile_s):  # (compiling apart)
      evals = self.evaluator(self.state, step)
    primary = self.run.loss.primary
    for m, own in zip(self.members, evals):
      if not m.training:
        continue
      for split, values in own.items():
        m.writer.write(split, values)
      m.record.observe(own, primary, self.run.loss.higher_is_better)
      self._check_target(m, own)
    shown = [own for m, own in zip(self.members, evals) if m.training]
    self.log(f"step {step}: " + ", ".join(
        f"{k} {primary} " + "/".join(f"{own[k].values[primary]:.4f}" for own in shown)
        for k in shown[0]))

  def _close_epoch(self, m: Member, step: int) -> None:
    """Split ``train_epoch``: the mean over the epoch's batches in train mode, the training
    error cuda-convnet plots (Krizhevsky Fig. 1); its sums survive a resume."""
    means = m.record.epoch.close(step)
    m.writer.write("train_epoch", means)
    self._check_target(m, {"train_epoch": means})

  def _check_target(self, m: Member, evals) -> None:
    t = m.config.train
    if m.record.target is None or m.record.target.met():
      return
    split, _, name = t.target_metric.partition(".")
    if split not in evals:
      return
    if name not in evals[split].values:
      raise ConfigError(
          f"config.train.target_metric: {t.target_metric!r} is not evaluated; evaluated: "
          + ", ".join(f"{k}.{x}" for k, v in evals.items() for x in v.values))
    step = evals[split].step
    if m.record.check_target(evals[split], name, step / self.run.events.steps_per_epoch,
                             self.timing.train_s / len(self.members),
                             lower=self.run.loss.direction(name) == "lower"):
      self.log(f"{t.target_metric} reached {t.target_value} at step {step}"
               + (f" ({m.workdir})" if len(self.members) > 1 else "")
               + (": stopping" if self.targets_met() else ""))

  def _save(self) -> None:
    with self.clock("checkpoint"):
      self._stamp_time()
      for r, m in enumerate(self.members):
        if m.training:
          m.ckpt.save(m.record.step, own_state(self.state, r, self.together,
                                               self.traced_optimizer),
                      m.record.to_json())

  def _stamp_time(self) -> None:
    """The program's time breakdown (earlier processes' plus this one's so far), the time
    since the last stamp shared out among the runs training: a run stopped inside the
    program (diverged, pruned) takes no more, and the runs' times sum to the program's."""
    self.clock.stamp(self.timing, self.run.train_loop.compile_s
                     + self.evaluator.compile_s, self.run.data_s)
    training = self.training()
    for f in dataclasses.fields(Timing):
      new = getattr(self.timing, f.name) - getattr(self.stamped, f.name)
      for i, m in enumerate(training):
        share = new // len(training) + (i < new % len(training)) if f.name == "images" \
            else new / len(training)
        setattr(m.record.timing, f.name, getattr(m.record.timing, f.name) + share)
    self.stamped = dataclasses.replace(self.timing)

  def _diverged(self, m: Member, at: int, loss: float) -> None:
    """Records run ``m`` as diverged at step ``at`` (its last good checkpoint is kept; the
    diverged state is not saved); the others train on."""
    self.log(f"diverged at step {at}: loss {loss}"
             + (f" ({m.workdir}; the others train on)" if len(self.members) > 1 else ""))
    m.writer.write("train", split_metrics(at, {"loss": loss}))
    m.ckpt.wait()
    self._stamp_time()
    m.result = self._result(m, "diverged", diverged_at_step=at)

  def _finish(self, status: str, **extra) -> List[Result]:
    with self.clock("checkpoint"):
      for m in self.members:
        m.ckpt.wait()  # the last save
    self.progress.close()
    self._stamp_time()
    for m in self.training():
      m.result = self._result(m, status, **extra)
    return self._results()

  def _results(self) -> List[Result]:
    self.progress.close()
    return [m.result for m in self.members]

  def _result(self, m: Member, status: str, **extra) -> Result:
    """Run ``m``'s result, written to its ``result.json``."""
    r = m.record
    if not hasattr(self, "_provenance"):  # inside the wall time ("other")
      self._provenance = self.run.provenance(member_state(self.state, 0, self.together).params)
    result = Result(status=status, step=r.step, epochs=r.step / self.run.events.steps_per_epoch,
                    resumed_from=m.resumed_from, seed=int(m.config.seed),
                    trained_with=len(self.members), **r.result_fields(),
                    **self._provenance, **extra)
    names = {x for split in result.final.values() for x in split.values} | \
        {result.primary_metric, "loss"}
    result.directions = {x: self.run.loss.direction(x) for x in sorted(names)}
    if self.main:
      result.write(m.workdir)
    test = result.final.get("test")
    m.writer.hparams(flatten(json.loads(m.config.to_json_best_effort())),
                     dict(test.values) if test else {})
    m.writer.close()
    return result


def _sums(metrics) -> Dict[str, np.ndarray]:
  """A chunk's training metrics summed over its steps (``(runs,)`` arrays side by side)."""
  return {k: np.asarray(v, np.float64).sum(axis=0) for k, v in metrics.items()}

