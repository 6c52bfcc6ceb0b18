"""Paper tables from a sweep: an estimate over seeds with its 95% interval per (row, column),
best per column marked, and with a baseline each cell's paired difference to it
(:mod:`cnnlab.report.conclusions`).

Records come from the sweep's index or, without one, from the run directories'
``config.json`` and ``result.json`` (:func:`collect`), read through the typed result
schema (:mod:`cnnlab.train.result`, which also reads the files of older runs). A
metric is a result path, ``<section>.<split>.<metric>`` (:func:`cnnlab.train.result.
split_path`, the one grammar): ``best.test.accuracy``, ``final.test.accuracy``, or
``last.train_epoch.accuracy``, the last value logged in the run's ``metrics.jsonl``; the
short final name ``test_accuracy`` reads as ``final.test.accuracy``, and any other path
is a field of ``result.json`` (``target.reached_at_epoch``). Every run is a record of its
own; the runs of sweeps made before 2026-12-05 that trained seeds side by side in one
directory are split into theirs by :mod:`cnnlab.train.migrations`. Diverged and invalid
runs are counted in their cell, not averaged; a cell whose runs all diverged reads
"diverged".
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import os
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from cnnlab.registry import did_you_mean
from cnnlab.report import stats
from cnnlab.report.conclusions import Conclusions, Options, conclude
from cnnlab.train import migrations
from cnnlab.train.metrics import METRICS_FILE
from cnnlab.train.result import (Result, SplitMetrics, last_split_metrics, read_rows,
                                 split_path)
from cnnlab.trees import get
from cnnlab.errors import ReportError  # noqa: F401  (raised here; defined with the others)

OTHER_TASK = "_other_task"  # a --published file's key: its numbers are from that task


def _result(raw: Optional[Dict]) -> Optional[Result]:
  return Result.from_json(raw) if raw else None


def collect(sweep_dir: str) -> List[Dict[str, Any]]:
  """Every run of a sweep: ``{run_id, status, config, result (a Result), workdir}``."""
  from cnnlab.sweep.index import INDEX_FILE, Index
  runs_dir = os.path.join(sweep_dir, "runs")
  path = os.path.join(sweep_dir, INDEX_FILE)
  rows = []
  if os.path.exists(path):
    index = Index(path, readonly=True)
    rows = [{"run_id": r["run_id"], "status": r["status"], "config": r["config"],
             "result": r["result"], "workdir": os.path.join(runs_dir, r["run_id"]),
             "error": r.get("error")}
            for r in index.rows()]
    index.close()
  else:
    for run_id in sorted(os.listdir(runs_dir)) if os.path.isdir(runs_dir) else []:
      rows.extend(_run_dir_record(runs_dir, run_id))
  return [{**one, "result": _result(one["result"])}
          for r in rows for one in migrations.runs_of_record(r)]


def _run_dir_record(runs_dir: str, run_id: str) -> List[Dict[str, Any]]:
  workdir = os.path.join(runs_dir, run_id)
  loaded = {}
  for name in ("config", "result"):
    f = os.path.join(workdir, f"{name}.json")
    if os.path.exists(f):
      with open(f) as fh:
        loaded[name] = json.load(fh)
  if "config" not in loaded:
    return []
  result = loaded.get("result")
  return [{"run_id": run_id, "status": result.get("status", "pending") if result else "pending",
           "config": loaded["config"], "result": result, "workdir": workdir}]


def _last(record: Dict[str, Any], split: str) -> Optional[SplitMetrics]:
  return last_split_metrics(read_rows(os.path.join(record["workdir"], METRICS_FILE)), split,
                            record.get(migrations.MEMBER))


def record_value(record: Dict[str, Any], metric: str) -> Optional[float]:
  """A run's ``metric``: a result path (:meth:`Result.value`) or ``last.<split>.<name>``
  from its ``metrics.jsonl``; for a record read from a report's ``runs.csv``, the value
  written there."""
  if "values" in record:
    return record["values"].get(metric)
  path = split_path(metric)
  if path and path[0] == "last":
    last = _last(record, path[1])
    return None if last is None else last.value(path[2])
  result = record["result"]
  return None if result is None else result.value(metric)


def better_low(records: Sequence[Dict], metrics: Sequence[str]) -> bool:
  """Whether the table's metrics are better low, as the runs declare it: each run's
  ``result.json`` (``directions``, from its loss), or for a report's ``runs.csv`` the
  lab's losses (:meth:`~cnnlab.train.losses.LossSpec.direction`); a metric nobody
  declares is better high. Metrics better in opposite ways cannot share a table."""
  ways = {m: _direction(records, m) for m in metrics}
  if len(set(ways.values())) > 1:
    raise ReportError("metrics better in opposite ways cannot share one table's bold and "
                      "comparisons: " + ", ".join(f"{m} ({w})" for m, w in ways.items()))
  return next(iter(ways.values()), "higher") == "lower"


def _direction(records: Sequence[Dict], metric: str) -> str:
  for r in records:
    if r.get("result") is not None:
      found = r["result"].direction(metric)
      if found:
        return found
  if any("values" in r for r in records) and declared_lower(metric):  # a runs.csv
    return "lower"
  return "higher"


def declared_lower(metric: str) -> bool:
  """Whether a registered loss declares ``metric`` (a result path's last part, or a final
  name ending in it) better low (:meth:`~cnnlab.train.losses.LossSpec.direction`): for
  metrics no ``result.json`` declares yet (a runs.csv, a search before its first run)."""
  from cnnlab.registry import lookup
  name = metric.rsplit(".", 1)[-1]
  return any(name == n or name.endswith("_" + n)
             for _, spec in lookup("loss").items() for n in spec.lower_is_better)


def counted_elsewhere(record: Dict[str, Any], metric: str) -> bool:
  """Whether another record carries this run's ``metric``, which then counts once: an
  ensemble value of an old run of several side-by-side seeds (with its first member,
  :data:`cnnlab.train.migrations.COUNTED_ONCE`), or, in a report's ``runs.csv``, a metric
  the report wrote no row of for this run (for that reason)."""
  if "rows" in record:
    return metric not in record["rows"]
  return any(metric.endswith(n) for n in record.get(migrations.COUNTED_ONCE, ()))


@dataclasses.dataclass
class Cell:
  values: List[float]
  # every run of the cell as a runs.csv row (cnnlab/report/raw.py)
  runs: List[Dict[str, Any]] = dataclasses.field(default_factory=list)
  diverged: int = 0
  invalid: int = 0
  pruned: int = 0  # stopped early by a search, at a rung (no final value)
  unfinished: int = 0
  no_value: int = 0  # finished runs without the metric (e.g. no epoch ended in the run)
  notes: List[int] = dataclasses.field(default_factory=list)  # indices into Table.notes

  @property
  def configs(self) -> List[Dict]:
    """Each value's run config, in the order of ``values`` (the runs that gave one)."""
    return [run["config"] for run in self.runs if run["value"] is not None]

  def problems(self):
    """``(what, count)`` for the runs that gave no value, the non-zero ones."""
    return [(k, n) for k, n in (("diverged", self.diverged), ("invalid", self.invalid),
                                ("pruned", self.pruned),
                                ("unfinished", self.unfinished), ("no value", self.no_value))
            if n]

  @property
  def mean(self) -> float:
    return float(np.mean(self.values)) if self.values else math.nan

  @property
  def std(self) -> float:
    return float(np.std(self.values, ddof=1)) if len(self.values) > 1 else 0.0

  def best_seed(self, lower_is_better: bool) -> float:
    """The best single run (Nielsen reports the best of 3 runs, not their mean)."""
    return float((min if lower_is_better else max)(self.values)) if self.values else math.nan


@dataclasses.dataclass
class Table:
  rows: List[Any]
  cols: List[Any]
  cells: Dict[Tuple[Any, Any], Cell]
  row_key: str
  col_key: str
  metric: str
  scale: float
  lower_is_better: bool
  published: Dict[Tuple[str, str], float]
  best_of_seeds: bool = False  # also print each cell's best single run
  # why runs gave no value: each invalid run's reason (the cells refer to them by number)
  notes: List[str] = dataclasses.field(default_factory=list)
  conclusions: Optional[Conclusions] = None  # estimates, intervals, comparisons
  # the task the published numbers were measured on when it is not this table's (the
  # JSON's "_other_task"): shown beside them, and no verdict is computed
  published_on: str = ""

  def estimate(self, key) -> Optional[stats.Estimate]:
    return self.conclusions.estimates.get(key) if self.conclusions else None

  def verdict(self, e: stats.Estimate, published: float) -> str:
    """``stats.verdict`` of the measured estimate against a published value in the
    table's unit; "" where the published numbers come from another task."""
    return "" if self.published_on else stats.verdict(e, published / self.scale)

  def value(self, key) -> float:
    """The cell's point estimate (the mean unless another estimator was asked for)."""
    e = self.estimate(key)
    return e.value if e is not None else self.cells[key].mean

  def notes_lines(self) -> List[str]:
    return [f"[{i + 1}] {n}" for i, n in enumerate(self.notes)]

  def best(self) -> Dict[Any, Any]:
    """The best row per column (by mean)."""
    out = {}
    for c in self.cols:
      means = [(self.value((r, c)), r) for r in self.rows
               if (r, c) in self.cells and self.cells[(r, c)].values]
      if means:
        out[c] = (min if self.lower_is_better else max)(means)[1]
    return out

  def text(self, r, c) -> str:
    """The cell: estimate [interval] (n), best single run, problems, the published value
    with its verdict, and ``†`` when its difference to the baseline survives the
    correction."""
    cell = self.cells.get((r, c))
    if cell is None:
      return "—"
    refs = "".join(f" [{i + 1}]" for i in cell.notes)
    if not cell.values:
      return (", ".join(f"{k} ({n})" for k, n in cell.problems()) or "—") + refs
    e = self.estimate((r, c)) or stats.estimate(cell.values)
    s = f"{self.number(e.value)}{self.interval(e)} ({e.n}"
    s += ", n too small)" if e.n and not e.has_interval and e.n < stats.MIN_N else ")"
    if self.best_of_seeds:
      s += f", best {self.number(cell.best_seed(self.lower_is_better))}"
    if cell.problems():
      s += " [" + ", ".join(f"{n} {k}" for k, n in cell.problems()) + "]"
    pub = self.published.get((str(r), str(c)))
    if pub is not None:
      s += f" · paper {pub:g}" + (f" on {self.published_on}" if self.published_on else "")
      verdict = self.verdict(e, pub)
      s += f" {verdict}" if verdict not in ("", stats.TOO_SMALL) else ""
    if self.conclusions and self.conclusions.marker((r, c)):
      s += " " + self.conclusions.marker((r, c))
    return s + refs

  def number(self, v: float, signed: bool = False) -> str:
    d = _digits(self.scale)
    return f"{v * self.scale:{'+' if signed else ''}.{d}f}".replace("-", "−")

  def interval(self, e: stats.Estimate, signed: bool = False) -> str:
    """`` [low, high]`` in the table's unit, empty without an interval."""
    if not e.has_interval:
      return ""
    return f" [{self.number(e.low, signed)}, {self.number(e.high, signed)}]"

  def heading(self) -> str:
    """What the numbers are: the metric, its unit and how cells are estimated."""
    unit = " (%)" if self.scale == 100 else ""
    how = (self.conclusions.options if self.conclusions else Options()).describe()
    best = ", best single run" if self.best_of_seeds else ""
    mark = ""
    if self.conclusions and self.conclusions.baseline:
      mark = "; † " + self.conclusions.marker_words()
    return f"{self.metric}{unit}: {how}{best}; best per column in bold{mark}"


def _digits(scale: float) -> int:
  return 1 if scale == 100 else 4


METRIC_AXIS = "metric"


def build(records: Sequence[Dict], row_key: str, col_key: str, metric: str,
          percent: Optional[bool] = None, lower_is_better: Optional[bool] = None,
          published: Optional[Dict] = None, as_error: bool = False,
          best_of_seeds: bool = False, options: Optional[Options] = None) -> Table:
  """Groups runs by (row, column) value; seeds (and any other field) are pooled.

  ``col_key="metric"`` makes the columns the comma-separated metrics of ``metric``
  (``final.train_set.accuracy,final.test.accuracy``: train and test side by side).
  ``as_error`` reports ``1 − value`` (error rates from accuracies), lower being better;
  otherwise the runs say which way the metric is better (:func:`better_low`; the
  argument overrides them, for a test).
  ``best_of_seeds`` adds each cell's best single run to its text (and always to the CSV).
  ``options`` (:class:`~cnnlab.report.conclusions.Options`) choose the estimator, the
  interval and the baseline the cells are compared with.
  An axis that is no run's config field, or a metric that no finished run reports,
  raises :class:`ReportError` naming it and what is there instead.
  """
  for key in (row_key, col_key):
    for path in key.split(","):
      if key != METRIC_AXIS or key == row_key:
        check_path([r["config"] for r in records], path.strip(), "axis", "config field")
  metrics = [m.strip() for m in metric.split(",")] if col_key == METRIC_AXIS else [metric]
  check_metrics(records, metrics)
  cells: Dict[Tuple[Any, Any], Cell] = {}
  rows, cols, notes = [], [], []
  for rec in records:
    r = _axis_value(rec["config"], row_key)
    if r not in rows:
      rows.append(r)
    for m in metrics:
      if counted_elsewhere(rec, m):
        continue
      c = m if col_key == METRIC_AXIS else _axis_value(rec["config"], col_key)
      if c not in cols:
        cols.append(c)
      cell = cells.setdefault((r, c), Cell([]))
      status = rec["status"]
      value = record_value(rec, m) if status == "done" else None
      cell.runs.append({"run_id": rec["run_id"], "status": status, "metric": m,
                        "value": value, "config": rec["config"], "error": rec.get("error")})
      if status == "invalid" and rec.get("error") and m == metrics[0]:  # the reason, once
        notes.append(f"invalid run {rec['run_id']}: {' '.join(str(rec['error']).split())}")
        cell.notes.append(len(notes) - 1)
      if status == "diverged":
        cell.diverged += 1
      elif status == "invalid":
        cell.invalid += 1
      elif status == "pruned":
        cell.pruned += 1
      elif value is None and status == "done":
        cell.no_value += 1
      elif value is None:
        cell.unfinished += 1
      else:
        cell.values.append(1.0 - value if as_error else value)
  rows, cols = _numeric_order(rows), _numeric_order(cols)
  if percent is None:
    percent = "accuracy" in metric
  if as_error:
    metric, lower_is_better = f"error = 1 − ({metric})", True
  elif lower_is_better is None:
    lower_is_better = better_low(records, metrics)
  pub, other_task = _published(published or {})
  t = Table(rows, cols, cells, row_key, col_key, metric, 100.0 if percent else 1.0,
            lower_is_better, pub, best_of_seeds, notes, published_on=other_task)
  t.conclusions = conclude(t, options or Options())
  return t


def _published(published: Dict) -> Tuple[Dict[Tuple[str, str], float], str]:
  """A --published file's ``{(row, col): value}`` and its ``_other_task`` ("" if none)."""
  pub, other_task = {}, ""
  for k, v in published.items():
    if k == OTHER_TASK:
      other_task = str(v)
      continue
    try:
      if isinstance(v, dict):
        pub.update({(str(k), str(c)): float(x) for c, x in v.items()})
      else:
        r, _, c = k.partition("|")
        pub[(r, c)] = float(v)
    except (TypeError, ValueError):
      hint = did_you_mean(k, [OTHER_TASK]) if str(k).startswith("_") else ""
      raise ReportError(f"--published: {k!r} holds {v!r}, not a number or a "
                        f"{{column: number}} map (or {OTHER_TASK!r}: a task name).{hint}"
                        ) from None
  return pub, other_task


def check_metrics(records: Sequence[Dict], metrics: List[str]) -> None:
  """A metric that no finished run reports (no row names it, for a report's runs.csv)
  raises :class:`ReportError` naming the ones there are."""
  done = [r for r in records if r["status"] == "done" and r["result"]]
  for m in metrics:
    if done and all(record_value(r, m) is None for r in done):
      finals = sorted({k for r in done for k in r["result"].final_names()})
      flat = [f.split(".", 1)[1].replace(".", "_") for f in finals]
      close = difflib.get_close_matches(m, finals + flat, n=2)
      maybe = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
      raise ReportError(f"metric {m!r} is in no finished run's result.json or metrics.jsonl."
                        f"{maybe} Final metrics: {', '.join(finals)} (or written "
                        f"{', '.join(flat)}); or a path such as best.test.accuracy, or "
                        f"last.<split>.<metric> from metrics.jsonl")
  named = sorted({m for r in records for m in r.get("rows", ())})
  for m in metrics:
    if named and m not in named:
      raise ReportError(f"metric {m!r} is in no row of the runs.csv.{did_you_mean(m, named)} "
                        f"Its metrics: {', '.join(named)}")


def check_path(trees: Sequence[Dict], path: str, what: str, kind: str) -> None:
  """ReportError naming ``path``, the closest key and the keys beside it, unless some run's
  config (``trees``) has it."""
  absent = object()
  if any(get(t, path, absent) is not absent for t in trees):
    return
  *parents, _ = path.split(".")
  parent = ".".join(parents)
  here = sorted({k for t in trees for k in (get(t, parent, {}) if parent else t) or {}})
  leaf = path.split(".")[-1]
  raise ReportError(f"{what} {path!r} is not a {kind} of any run.{did_you_mean(leaf, here)} "
                    f"{'Under ' + repr(parent) if parent else 'At the top'}: {', '.join(here)}")


def is_number(v: Any) -> bool:
  """An int or float axis value (not a bool): sorted and plotted as a number."""
  return isinstance(v, (int, float)) and not isinstance(v, bool)


def _numeric_order(values: List[Any]) -> List[Any]:
  """Numbers sorted numerically (depth 8, 14, 20 — not as text); anything else as it came."""
  if values and all(is_number(v) for v in values):
    return sorted(values)
  return values


def _hashable(v):
  return tuple(v) if isinstance(v, list) else v


def _axis_value(config: Dict, key: str):
  """The value of an axis: one config path, or several joined by commas
  (``model.pool,model.conv_stride`` → ``"max/1"``) when one field does not tell the
  points apart."""
  if "," not in key:
    return _hashable(get(config, key, None))
  return "/".join(str(get(config, k.strip(), None)) for k in key.split(","))
