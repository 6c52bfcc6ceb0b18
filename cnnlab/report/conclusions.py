"""A table's conclusions: each cell's estimate and interval, its difference to a baseline
cell paired by seed, the correction over the table's comparisons, the seeds a difference
needs, and the verdict against a published value (the statistics: :mod:`stats`).

    python -m cnnlab.report --sweep_dir=sweeps/mnist1d_pooling \\
        --rows=model.pool,model.conv_stride --cols=data.options.num_train \\
        --metric=best.test.accuracy --baseline=model.pool=max

A baseline names one field of the rows or the columns and its value (``model.pool=max``;
``sweep=<label>`` when several sweep directories are compared). Each cell is compared with
the cell that has the baseline value there and every other axis value the same; where
the rows join several fields (``max/1``, ``none/2``) and no row has the baseline value
with the cell's other fields, the one row with the baseline value is the baseline.

Two runs pair when they agree in every config field that varies within the compared
cells (the seed, normally): the fields that name the cells (the axes, and fields constant
within each cell, such as the optimizer of a compared sweep) are left out.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Dict, List, Optional, Tuple

from cnnlab.config import overrides
from cnnlab.errors import ReportError
from cnnlab.report import stats
from cnnlab.train.migrations import LEGACY_CONFIG_KEYS
from cnnlab.trees import flatten, get

Key = Tuple[Any, Any]


@dataclasses.dataclass(frozen=True)
class Options:
  """How a report concludes (each is a ``cnnlab.report`` flag of the same name)."""
  estimator: str = "mean"
  interval: str = "auto"
  level: float = 0.95
  baseline: Optional[str] = None  # "<path>=<value>"
  correction: str = "holm"
  alpha: float = 0.05
  power: float = 0.8

  def __post_init__(self):
    for name, allowed in (("estimator", stats.ESTIMATORS), ("interval", stats.INTERVALS),
                          ("correction", stats.CORRECTIONS)):
      if getattr(self, name) not in allowed:
        raise ReportError(f"--{name}={getattr(self, name)!r}: one of {', '.join(allowed)}")
    for name in ("level", "alpha", "power"):
      if not 0 < getattr(self, name) < 1:
        raise ReportError(f"--{name} must lie strictly between 0 and 1, got "
                          f"{getattr(self, name)}")
    if self.baseline is not None and "=" not in self.baseline:
      raise ReportError(f"--baseline={self.baseline!r} is not <config path>=<value>, e.g. "
                        f"model.pool=max")

  @property
  def method(self) -> str:
    return stats.interval_method(self.estimator, self.interval)

  def describe(self) -> str:
    """The header's words for the estimate and its interval."""
    names = {"t": "Student t", "quantile": "order-statistic (distribution-free)",
             "bca": "BCa bootstrap", "percentile": "percentile bootstrap"}
    few = "; under-covers below about 10 seeds" if self.method in ("bca", "percentile") else ""
    return (f"{self.estimator} [{self.level:.0%} CI] over seeds (n) — {names[self.method]} "
            f"interval{few}; none below {stats.MIN_N} seeds")


@dataclasses.dataclass
class Conclusions:
  options: Options
  estimates: Dict[Key, stats.Estimate]
  baseline: Optional[Tuple[str, str]] = None           # (path, value)
  baseline_of: Dict[Key, Key] = dataclasses.field(default_factory=dict)
  comparisons: Dict[Key, stats.Comparison] = dataclasses.field(default_factory=dict)
  significant: Dict[Key, bool] = dataclasses.field(default_factory=dict)
  seeds_needed: Dict[Key, Optional[int]] = dataclasses.field(default_factory=dict)

  @property
  def family_size(self) -> int:
    return sum(1 for c in self.comparisons.values() if c.p_value == c.p_value)

  def marker(self, key: Key) -> str:
    """``†`` on a cell whose difference to the baseline survives the correction."""
    return "†" if self.significant.get(key) else ""

  def correction_words(self) -> str:
    o = self.options
    what = {"holm": "Holm's correction (family-wise error)",
            "bh": "Benjamini–Hochberg's correction (false discovery rate)",
            "none": "no correction"}[o.correction]
    return f"{what} over {self.family_size} comparisons at α = {o.alpha:g}"

  def marker_words(self) -> str:
    """What ``†`` means, for the tables' headings and LaTeX's footnote."""
    return f"differs from the baseline ({'='.join(self.baseline)}) after " \
        f"{self.correction_words()}"

  def planned_alpha(self) -> float:
    return stats.strictest_alpha(self.options.correction, self.options.alpha, self.family_size)


def conclude(t, options: Options) -> Conclusions:
  """Estimates for every cell of table ``t`` and, with a baseline, the comparisons."""
  o = options
  c = Conclusions(o, {k: stats.estimate(cell.values, o.estimator, o.level, o.interval)
                      for k, cell in t.cells.items()})
  if o.baseline is None:
    return c
  path, value = baseline_value(t, o.baseline)
  value = value if isinstance(value, str) else str(value)  # as the table's labels show it
  c.baseline = (path, value)
  c.baseline_of = baseline_cells(t, path, value)
  lower = t.lower_is_better
  for key, base in c.baseline_of.items():
    x, b = t.cells[key], t.cells.get(base)
    if key == base or b is None or not x.values or not b.values:
      continue
    pairs = _pairs(x, b, _axis_paths(t))
    if pairs is not None:
      xs, ys = zip(*pairs)
      c.comparisons[key] = stats.compare(xs, ys, True, o.estimator, o.level, o.interval, lower)
    else:
      c.comparisons[key] = stats.compare(x.values, b.values, False, o.estimator, o.level,
                                         o.interval, lower)
  c.significant = stats.family({k: v.p_value for k, v in c.comparisons.items()},
                               o.correction, o.alpha)
  alpha = c.planned_alpha()
  c.seeds_needed = {k: stats.seeds_needed(v.effect, v.pairs > 0, alpha, o.power,
                                          rank=o.estimator != "mean")
                    for k, v in c.comparisons.items()}
  return c


def baseline_value(t, text: str) -> Tuple[str, Any]:
  """``--baseline``'s path and its value, typed as the runs' field by the one override
  parser (:mod:`cnnlab.config.overrides`: ``model.depth=20`` is the int 20, as in
  ``--config.model.depth=20``); a joined axis (``model.pool,model.conv_stride=max/1``) or
  the ``sweep`` label keeps its text."""
  path, _, value = text.partition("=")
  path, value = path.strip(), value.strip()
  if "," in path or path == "sweep":
    return path, value
  path, value = overrides.parse(f"{path}={value}")
  found = [get(cfg, path, _MISSING) for cell in t.cells.values() for cfg in cell.configs]
  current = next((v for v in found if v is not _MISSING and v is not None), None)
  return path, overrides.typed_value(value, current, where=f"--baseline {path}")


_MISSING = object()


def _axis_paths(t) -> List[str]:
  paths = [p.strip() for key in (t.row_key, t.col_key) for p in key.split(",")]
  return paths + ["sweep"] + list(LEGACY_CONFIG_KEYS)


def _pairs(x, b, axes: List[str]) -> Optional[List[Tuple[float, float]]]:
  """``(x value, baseline value)`` of the runs that pair (see the module's notes), or None
  when fewer than two pair or a key is ambiguous."""
  def keyed(cell):
    return [{k: v for k, v in flatten(cfg).items() if k not in axes} for cfg in cell.configs]
  fx, fb = keyed(x), keyed(b)
  paths = sorted({k for f in fx + fb for k in f})

  def varies(fs):
    return {p for p in paths if len({json.dumps(f.get(p), sort_keys=True, default=str)
                                     for f in fs}) > 1}
  varying = sorted(varies(fx) | varies(fb))

  def key(f):
    return json.dumps([f.get(p) for p in varying], sort_keys=True, default=str)
  kx, kb = [key(f) for f in fx], [key(f) for f in fb]
  if len(set(kx)) < len(kx) or len(set(kb)) < len(kb):
    return None
  base = dict(zip(kb, b.values))
  pairs = [(v, base[k]) for k, v in zip(kx, x.values) if k in base]
  return pairs if len(pairs) >= 2 or (len(pairs) == 1 == len(x.values) == len(b.values)) \
      else None


def baseline_cells(t, path: str, value: str) -> Dict[Key, Key]:
  """Each cell's baseline cell (see the module's notes); ReportError when ``path`` is on
  neither axis or no row or column has ``value``."""
  for on_rows, axis, labels in ((True, t.row_key, t.rows), (False, t.col_key, t.cols)):
    fields = [p.strip() for p in axis.split(",")]
    if path in fields:
      base = _baseline_labels(labels, fields, fields.index(path), value,
                              "row" if on_rows else "column", axis)
    elif path == axis:  # a joined axis named in full: "model.pool,model.conv_stride=max/1"
      match = [lab for lab in labels if str(lab) == value]
      if not match:
        raise ReportError(f"--baseline: no {path} value {value!r}; there: "
                          f"{', '.join(map(str, labels))}")
      base = {lab: match[0] for lab in labels}
    else:
      continue
    return {(r, c): ((base[r], c) if on_rows else (r, base[c])) for (r, c) in t.cells}
  raise ReportError(f"--baseline path {path!r} is neither on the rows ({t.row_key}) nor on "
                    f"the columns ({t.col_key})")


def _baseline_labels(labels, fields: List[str], i: int, value: str, what: str,
                     axis: str) -> Dict[Any, Any]:
  """Each row's (or column's) baseline row: field ``i`` set to ``value``, the other fields
  kept where such a row exists, else the one row with ``value``."""
  def parts(label):
    return str(label).split("/") if len(fields) > 1 else [str(label)]
  having = [lab for lab in labels if parts(lab)[i] == value]
  if not having:
    raise ReportError(f"--baseline: no {what} has {fields[i]} = {value}; there: "
                      f"{', '.join(sorted({parts(lab)[i] for lab in labels}))}")
  out = {}
  for label in labels:
    want = parts(label)
    want[i] = value
    same = [lab for lab in having if parts(lab) == want]
    if not same and len(having) > 1:
      raise ReportError(f"--baseline {fields[i]}={value}: several {what}s have it "
                        f"({', '.join(map(str, having))}) and none matches {label}'s other "
                        f"fields; name the axis value in full, e.g. --baseline="
                        f"{axis}={having[0]}")
    out[label] = same[0] if same else having[0]
  return out
