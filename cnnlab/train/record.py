"""The run record: everything a run reports that is not in its train state.

Bests per split, the test metric at the best validation step, target
hits, the running sums of the current epoch's training metrics, each split's latest
evaluation, timing counters and the last logged step. The trainer saves it with every
checkpoint, in the same atomically committed directory as the train state, and restores
it with that state: a run killed anywhere and rerun reports exactly what an uninterrupted
run reports (only the times differ). :meth:`RunRecord.result_fields` turns it into the
measured part of :class:`cnnlab.train.result.Result`.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Dict, Optional

import numpy as np

from cnnlab.train.result import Best, Point, SplitMetrics, Target

RECORD_VERSION = 1
TEST_AT_BEST_VALIDATION = "test_at_best_validation"


@dataclasses.dataclass
class Timing:
  """Time spent so far, over every process that ran this run (up to its last checkpoint).

  ``images`` / ``images_s`` time the chunks that count for throughput: each process's
  first chunk (warm-up) is left out. ``data_s`` (loading the data set), ``setup_s`` (the
  rest of the set-up: model, steps, initialisation, restore), ``eval_s`` and
  ``checkpoint_s`` (the synchronous part of saves, and the wait for the last) say where
  the wall time beyond compiling and training went.
  """
  wall_s: float = 0.0
  compile_s: float = 0.0
  train_s: float = 0.0
  data_s: float = 0.0
  setup_s: float = 0.0
  eval_s: float = 0.0
  checkpoint_s: float = 0.0
  images: int = 0
  images_s: float = 0.0

  @property
  def images_per_s(self) -> Optional[float]:
    return self.images / self.images_s if self.images_s else None

  def breakdown(self) -> Dict[str, float]:
    """The wall time in parts that sum to it; ``other``: logging, metrics, the host loop."""
    parts = {"data": self.data_s, "setup": self.setup_s, "compile": self.compile_s,
             "train": self.train_s, "eval": self.eval_s, "checkpoint": self.checkpoint_s}
    parts["other"] = max(self.wall_s - sum(parts.values()), 0.0)
    return {k: round(v, 4) for k, v in parts.items()}


@dataclasses.dataclass
class EpochSums:
  """The current epoch's training metrics summed over its steps."""
  sums: Dict[str, np.ndarray] = dataclasses.field(default_factory=dict)  # float64 scalars
  steps: int = 0

  def add(self, step_sums: Dict[str, np.ndarray], steps: int) -> None:
    for k, v in step_sums.items():
      old = self.sums.get(k)
      self.sums[k] = np.asarray(v, np.float64) if old is None else old + v
    self.steps += steps

  def close(self, step: int) -> SplitMetrics:
    """The epoch's means, and a fresh start for the next epoch."""
    means = {k: v / self.steps for k, v in self.sums.items()}
    self.sums, self.steps = {}, 0
    return split_metrics(step, means)

  def to_json(self) -> Dict[str, Any]:
    return {"sums": {k: v.tolist() for k, v in self.sums.items()}, "steps": self.steps}

  @classmethod
  def from_json(cls, d: Dict[str, Any]) -> "EpochSums":
    return cls({k: np.asarray(v, np.float64) for k, v in d["sums"].items()}, int(d["steps"]))


def split_metrics(step: int, metrics: Dict[str, Any], count: Optional[int] = None
                  ) -> SplitMetrics:
  """SplitMetrics from scalars (numbers or 0-d arrays)."""
  return SplitMetrics(step, {k: float(np.asarray(v, np.float64)) for k, v in metrics.items()},
                      count)


@dataclasses.dataclass
class RunRecord:
  step: int = 0
  best: Dict[str, Best] = dataclasses.field(default_factory=dict)
  last: Dict[str, SplitMetrics] = dataclasses.field(default_factory=dict)
  target: Optional[Target] = None
  epoch: EpochSums = dataclasses.field(default_factory=EpochSums)
  timing: Timing = dataclasses.field(default_factory=Timing)
  last_logged_step: int = 0
  devices: Optional[int] = None  # how many devices computed the steps so far
  cpu_threads: Optional[int] = None  # XLA's CPU thread pool that computed them (CPU runs)
  version: int = RECORD_VERSION

  @classmethod
  def new(cls, target_metric: str = "", target_value: float = 0.0) -> "RunRecord":
    return cls(target=Target(target_metric, float(target_value)) if target_metric else None)

  # -- evaluations --------------------------------------------------------------------

  def observe(self, evals: Dict[str, SplitMetrics], primary: str, higher: bool) -> None:
    """Takes one evaluation of every split: latest values, bests, test at best validation."""
    better = (lambda a, b: a > b) if higher else (lambda a, b: a < b)
    for split, m in evals.items():
      self.last[split] = m
      if not math.isfinite(m.values.get(primary, math.nan)):
        continue  # no best from a missing or non-finite metric
      self.best[split] = self._improved(self.best.get(split), m, primary, better)
    if "validation" in evals and "test" in evals:
      self._test_at_best_validation(evals, primary)

  @staticmethod
  def _improved(old: Optional[Best], m: SplitMetrics, primary: str, better) -> Best:
    now = Point(m.values[primary], m.step)
    return Best(primary, now if old is None or better(now.value, old.point.value)
                else old.point)

  def _test_at_best_validation(self, evals: Dict[str, SplitMetrics], primary: str) -> None:
    """Nielsen's report: the test metric at the step of the best validation metric."""
    val, test, step = self.best["validation"], evals["test"], evals["test"].step
    old = self.best.get(TEST_AT_BEST_VALIDATION)
    point = Point(test.values[primary], step) if val.point.step == step or old is None \
        else old.point
    self.best[TEST_AT_BEST_VALIDATION] = Best(primary, point)

  # -- targets ------------------------------------------------------------------------

  def check_target(self, m: SplitMetrics, name: str, epoch: float, train_s: float,
                   lower: bool = False) -> bool:
    """Records the first evaluation at which the run met the target (from above where
    ``lower`` is better: a loss); True once it has."""
    t, v = self.target, m.value(name)
    if t.reached_at_step is None and v is not None and (v <= t.value if lower else v >= t.value):
      t.reached_at_step, t.reached_at_epoch, t.train_time_s = m.step, epoch, train_s
    return t.met()

  # -- JSON (saved with each checkpoint) ---------------------------------------------------

  def to_json(self) -> Dict[str, Any]:
    return {"version": self.version, "step": self.step,
            "best": {k: v.to_json() for k, v in self.best.items()},
            "last": {k: v.to_json() for k, v in self.last.items()},
            "target": self.target.to_json() if self.target else None,
            "epoch": self.epoch.to_json(), "timing": dataclasses.asdict(self.timing),
            "last_logged_step": self.last_logged_step, "devices": self.devices,
            "cpu_threads": self.cpu_threads}

  @classmethod
  def from_json(cls, d: Dict[str, Any], primary: str) -> "RunRecord":
    if d.get("version", 0) > RECORD_VERSION:
      raise ValueError(f"run record version {d['version']} is newer than this cnnlab's")
    return cls(step=int(d["step"]),
               best={k: Best.from_json(v, primary) for k, v in d["best"].items()},
               last={k: SplitMetrics.from_json(v) for k, v in d["last"].items()},
               target=Target.from_json(d["target"]) if d.get("target") else None,
               epoch=EpochSums.from_json(d["epoch"]), timing=Timing(**d["timing"]),
               last_logged_step=int(d.get("last_logged_step", 0)), devices=d.get("devices"),
               cpu_threads=d.get("cpu_threads"))

  def result_fields(self) -> Dict[str, Any]:
    """The measured fields of a :class:`~cnnlab.train.result.Result`."""
    t = self.timing
    return {"best": dict(self.best), "final": dict(self.last), "target": self.target,
            "wall_time_s": t.wall_s, "compile_time_s": t.compile_s, "train_time_s": t.train_s,
            "train_images_per_s": t.images_per_s, "time_breakdown_s": t.breakdown()}


def run_record(saved: Optional[Dict], train_config, primary: str, devices: int,
               resumed_from: Optional[int], log) -> RunRecord:
  """A run's record: restored from its checkpoint's (``saved``; a change of devices or CPU
  threads since is warned about), or new."""
  from cnnlab.train import runtime
  threads = runtime.cpu_threads()
  if saved is not None:
    record = RunRecord.from_json(saved, primary)
    for what, was, now in (("devices", record.devices, devices),
                           ("CPU threads", record.cpu_threads, threads)):
      if was not in (None, now):
        log(f"warning: checkpointed by {was} {what}, resumed with {now}: the remaining "
            f"steps compute the same maths, rounded differently (results equal up to "
            f"rounding, not bit for bit)")
    record.devices, record.cpu_threads = devices, threads
    return record
  record = RunRecord.new(train_config.target_metric, train_config.target_value)
  record.devices, record.cpu_threads = devices, threads
  if resumed_from is not None:  # a checkpoint from before run records
    log(f"warning: checkpoint {resumed_from} has no run record (written by an older "
        f"cnnlab): bests and targets count from this step on")
    record.step = resumed_from
  return record
