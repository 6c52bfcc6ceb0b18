"""The typed, versioned schema of what a run reports: ``result.json`` and ``metrics.jsonl`` rows.

The trainer writes these types and :mod:`cnnlab.report` reads them; nothing else
knows how the files are laid out. Schema 4 (``"schema": 4`` in ``result.json``)::

    {"schema": 4, "status": "done", "step": 6000, "primary_metric": "accuracy", "seed": 0,
     "best":  {"test": {"accuracy": 0.95, "step": 3500}, ...},
     "final": {"test": {"step": 6000, "count": 1000, "accuracy": 0.93, "loss": 0.21}, ...},
     "target": {"metric": "test.accuracy", "value": 0.9, "reached_at_step": 2500, ...},
     "directions": {"accuracy": "higher", "loss": "lower"},
     "wall_time_s": ..., "params": ..., ...}

One file per run, however it trained (alone, or side by side with others in one vmapped
program). A ``metrics.jsonl`` row is ``{"step", "split", "count", <metric>: value, ...}``.

Non-finite numbers are written as the strings ``"nan"``, ``"inf"`` and ``"-inf"`` (so both
files are standard JSON) and read back as floats.

``directions`` says which way each metric is better, as the run's loss declares it; the
reports read it. Files of earlier schemas are upgraded on reading by
:mod:`cnnlab.train.migrations`, so sweeps made then report the same tables.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple

from cnnlab.train import migrations
from cnnlab.train.json_numbers import (NON_FINITE, dumps, encode, number,  # noqa: F401
                                       write_json_atomic)
from cnnlab.train.migrations import SCHEMA_VERSION
# What differs between an uninterrupted run and one killed and resumed: times, and
# where it resumed from. Everything else a run reports is equal (tested).
TIMING_FIELDS = ("wall_time_s", "compile_time_s", "train_time_s", "train_images_per_s",
                 "time_breakdown_s", "resumed_from")
_RESERVED = ("step", "split", "count", "time")


def _floats(d: Dict[str, Any]) -> Dict[str, float]:
  return {k: x for k, x in ((k, number(v)) for k, v in d.items()) if x is not None}


# -- one split's metrics ---------------------------------------------------------


@dataclasses.dataclass
class SplitMetrics:
  """One split's metrics at one step."""
  step: int
  values: Dict[str, float]
  count: Optional[int] = None

  def value(self, name: str) -> Optional[float]:
    return self.values.get(name)

  def __contains__(self, name: str) -> bool:
    return name in self.values

  def names(self) -> List[str]:
    return list(self.values)

  def to_json(self) -> Dict[str, Any]:
    out: Dict[str, Any] = {"step": self.step}
    if self.count is not None:
      out["count"] = self.count
    out.update(self.values)
    return out

  @classmethod
  def from_json(cls, d: Dict[str, Any], step: Optional[int] = None) -> "SplitMetrics":
    values = _floats({k: v for k, v in d.items() if k not in _RESERVED})
    count = number(d.get("count"))
    return cls(int(d.get("step", step or 0)), values, None if count is None else int(count))

  def row(self, split: str) -> Dict[str, Any]:
    """The ``metrics.jsonl`` row."""
    return {"split": split, **self.to_json()}


def split_metrics_of_row(row: Dict[str, Any], member: Optional[int] = None
                         ) -> Tuple[str, SplitMetrics]:
  """A ``metrics.jsonl`` row as ``(split, SplitMetrics)`` (an older row upgraded first;
  ``member``: which run of an old multi-seed run, :func:`migrations.member_row`)."""
  row = migrations.member_row(row, member)
  return row.pop("split", ""), SplitMetrics.from_json(row)


def read_rows(path: str) -> List[Dict[str, Any]]:
  """The rows of a ``metrics.jsonl`` file, decoded (non-finite strings as floats); a
  partly written last line (a run killed mid-write) is skipped."""
  if not os.path.exists(path):
    return []
  rows = []
  with open(path) as f:
    for line in f:
      try:
        row = json.loads(line)
      except json.JSONDecodeError:
        continue
      rows.append({k: (number(v) if isinstance(v, str) and v in NON_FINITE else v)
                   for k, v in row.items()})
  return rows


def last_split_metrics(rows: Iterable[Dict[str, Any]], split: str,
                       member: Optional[int] = None) -> Optional[SplitMetrics]:
  """The last row of ``split`` among ``rows`` (see :func:`read_rows`)."""
  found = None
  for row in rows:
    if row.get("split") == split:
      found = row
  return split_metrics_of_row(found, member)[1] if found is not None else None


# -- bests and targets -----------------------------------------------------------


@dataclasses.dataclass
class Point:
  value: Optional[float]
  step: Optional[int]


def _int(x: Any) -> Optional[int]:
  return None if x is None else int(x)


@dataclasses.dataclass
class Best:
  """The best value of a split's primary ``metric``, and its step."""
  metric: str
  point: Point

  def to_json(self) -> Dict[str, Any]:
    return {self.metric: self.point.value, "step": self.point.step}

  @classmethod
  def from_json(cls, d: Dict[str, Any], metric: str) -> "Best":
    name = next((k for k in d if k != "step"), metric)
    return cls(name, Point(number(d.get(name)), _int(d.get("step"))))


@dataclasses.dataclass
class Target:
  """A time-to-accuracy target and when the run first met it."""
  metric: str
  value: float
  reached_at_step: Optional[int] = None
  reached_at_epoch: Optional[float] = None
  train_time_s: Optional[float] = None      # training time until then (a timing field)

  def met(self) -> bool:
    return self.reached_at_step is not None

  def to_json(self) -> Dict[str, Any]:
    return dataclasses.asdict(self)

  @classmethod
  def from_json(cls, d: Dict[str, Any]) -> "Target":
    hit = d.get("reached_at_step")
    if isinstance(hit, list):  # a run record saved before schema 4 (one entry)
      hit = hit[0] if hit else None
    return cls(d["metric"], float(d["value"]), _int(hit),
               d.get("reached_at_epoch"), d.get("train_time_s"))


# -- the result of a run ----------------------------------------------------------


SECTIONS = ("best", "final", "last")


def split_path(path: str, final: Mapping[str, Any] = ()) -> Optional[Tuple[str, str, str]]:
  """The one grammar of result paths: ``<section>.<split>.<metric>`` — ``best.test.accuracy``
  (the best evaluation of a split), ``final.test.loss`` (its last), ``last.train_epoch.loss``
  (the last row of ``metrics.jsonl``) — as ``(section, split, metric)``. The shorter
  spellings of earlier commands read as their full form: ``best.<split>`` (its primary
  metric: ``""``), ``<split>.<metric>``, ``final.<split>_<metric>`` and the bare final name
  ``<split>_<metric>`` (``test_accuracy``; ``final``, ``{split: metrics}``, tells the
  split apart). Any other path (``params``, ``target.reached_at_epoch``) is a field of
  ``result.json`` itself: None."""
  head, dot, rest = path.partition(".")
  if head in ("best", "last") and dot:
    split, _, name = rest.partition(".")
    return head, split, name
  body = rest if head == "final" and dot else path
  split, dot, name = body.partition(".")
  if dot:
    return ("final", split, name) if head == "final" or split in final else None
  for split in sorted(final, key=len, reverse=True):  # the longest split that prefixes it
    if body.startswith(split + "_") and body[len(split) + 1:] in final[split]:
      return "final", split, body[len(split) + 1:]
  return None


@dataclasses.dataclass
class Result:
  """What ``result.json`` holds: outcome, bests, final metrics, timing and provenance."""
  status: str                      # done, preempted, diverged
  step: int
  total_steps: int
  epochs: float
  primary_metric: str
  best: Dict[str, Best]
  final: Dict[str, SplitMetrics] = dataclasses.field(default_factory=dict)
  # each metric's better way, "higher" or "lower", as its loss declares it (LossSpec)
  directions: Dict[str, str] = dataclasses.field(default_factory=dict)
  target: Optional[Target] = None
  seed: Optional[int] = None
  # how many runs trained in its program (side by side, vmapped): its times are its share
  trained_with: int = 1
  wall_time_s: float = 0.0
  compile_time_s: float = 0.0
  train_time_s: float = 0.0
  train_images_per_s: Optional[float] = None
  # data / setup / compile / train / eval / checkpoint / other, summing to wall_time_s
  time_breakdown_s: Dict[str, float] = dataclasses.field(default_factory=dict)
  resumed_from: Optional[int] = None
  stopped_by: Optional[str] = None
  diverged_at_step: Optional[int] = None
  # Provenance: what trained, where, with which code.
  model: str = ""
  params: int = 0
  flops_per_example: Optional[float] = None
  flops_note: str = "forward pass, XLA cost analysis"
  loss: str = ""
  loop: str = ""
  num_devices: int = 1
  device: str = ""
  backend: str = ""
  data: Dict[str, Any] = dataclasses.field(default_factory=dict)
  jax: str = ""
  flax: str = ""
  python: str = ""
  git_commit: Optional[str] = None
  git_dirty: Optional[bool] = None
  deterministic: Dict[str, Any] = dataclasses.field(default_factory=dict)
  runtime: Dict[str, Any] = dataclasses.field(default_factory=dict)
  schema: int = SCHEMA_VERSION

  # -- reading values ---------------------------------------------------------------

  def final_split(self, name: str) -> Optional[Tuple[str, str]]:
    """``(split, metric)`` of a flat final name such as ``test_ema_accuracy``, or None."""
    found = split_path(name, self.final)
    return found[1:] if found else None

  def value(self, metric: str) -> Optional[float]:
    """A metric of this run at a result path (:func:`split_path`): ``best.<split>.<primary>``
    (``best.<split>.step`` its step), ``final.<split>.<name>``, or any other path into the
    JSON (``target.reached_at_epoch``, ``params``). ``last.`` paths read the run's
    ``metrics.jsonl`` (``cnnlab.report.tables.record_value``)."""
    found = split_path(metric, self.final)
    if found and found[0] == "best":
      best = self.best.get(found[1])
      if best is None:
        return None
      point = best.point
      return float(point.step) if found[2] == "step" else (
          point.value if found[2] in (best.metric, "") else None)
    if found and found[0] == "final":
      return self.final[found[1]].value(found[2]) if found[1] in self.final else None
    node: Any = self.to_json()
    for part in metric.split("."):
      node = node.get(part) if isinstance(node, dict) else None
    return number(node)

  def direction(self, metric: str) -> Optional[str]:
    """``"higher"`` or ``"lower"`` for a result path whose metric this run's loss
    declared (``best.test.accuracy``, ``last.train_epoch.loss``, ``test_loss``), or a
    time of this file's (lower); None for other paths (``params``)."""
    if metric in ("wall_time_s", "compile_time_s", "train_time_s"):  # this file's own
      return "lower"
    found = split_path(metric, self.final)
    return self.directions.get(found[2] or self.primary_metric) if found else None

  def final_names(self) -> List[str]:
    return [f"final.{s}.{m}" for s, v in self.final.items() for m in v.names()]

  def summary(self) -> str:
    """The run's numbers as this file reports them: the best of each evaluated split (the
    test value at the best validation point where there is one), then the final test."""
    parts = []
    for split, best in self.best.items():
      if best.point.value is not None:
        what = "test at the best validation" if split == "test_at_best_validation" else \
            f"best {split}"
        parts.append(f"{what} {best.metric} {best.point.value:.4f} (step {best.point.step})")
    test = self.final.get("test")
    if test:
      parts.append("final " + ", ".join(f"test {k} {v:.4f}" for k, v in test.values.items()))
    return "; ".join(parts) or "no evaluation"

  def comparable(self) -> Dict[str, Any]:
    """The JSON without the fields that differ between an uninterrupted and a resumed run."""
    d = self.to_json()
    for k in TIMING_FIELDS:
      d.pop(k, None)
    if d.get("target"):
      d["target"].pop("train_time_s", None)
    return d

  # -- JSON -------------------------------------------------------------------------

  def to_json(self) -> Dict[str, Any]:
    d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
    d["best"] = {k: v.to_json() for k, v in self.best.items()}
    d["final"] = {k: v.to_json() for k, v in self.final.items()}
    d["target"] = self.target.to_json() if self.target else None
    d = {k: v for k, v in d.items() if v is not None or k in ("resumed_from",)}
    return json.loads(dumps(d, default=str))  # JSON's own types: what the file reads back

  @classmethod
  def from_json(cls, d: Dict[str, Any]) -> "Result":
    """Reads ``result.json`` dicts of every schema (older ones upgraded first:
    :mod:`cnnlab.train.migrations`)."""
    d = migrations.upgrade_result(d)
    if d["schema"] > SCHEMA_VERSION:
      raise ValueError(f"result schema {d['schema']} is newer than this cnnlab's "
                       f"({SCHEMA_VERSION}); update cnnlab")
    primary = d.get("primary_metric", "accuracy")
    kw = {f.name: d[f.name] for f in dataclasses.fields(cls) if f.name in d}
    kw["best"] = {k: Best.from_json(v, primary) for k, v in d.get("best", {}).items()}
    kw["final"] = {k: SplitMetrics.from_json(v, d.get("step"))
                   for k, v in (d.get("final") or {}).items()}
    kw["target"] = Target.from_json(d["target"]) if d.get("target") else None
    kw.setdefault("primary_metric", primary)
    for k in ("step", "total_steps"):
      kw.setdefault(k, 0)
    kw.setdefault("epochs", 0.0)
    return cls(**kw)

  def write(self, workdir: str) -> str:
    path = os.path.join(workdir, "result.json")
    write_json_atomic(path, self.to_json())
    return path


def load_result(path: str) -> Optional[Result]:
  """``result.json`` of a run directory (or the file itself); None when there is none."""
  if os.path.isdir(path):
    path = os.path.join(path, "result.json")
  if not os.path.exists(path):
    return None
  with open(path) as f:
    return Result.from_json(json.load(f))
