"""The statistics behind a report's conclusions: estimates with intervals, paired
comparisons, corrections for many comparisons, seeds needed, reproduction verdicts.

Pure functions of NumPy arrays; the computing is scipy's (``scipy.stats``), what scipy
does not provide (Holm's step-down, the choice of method) is written here.

**Intervals over a handful of seeds.** The lab's cells hold 3–5 seeds. There a bootstrap
under-covers badly: in ``tests/test_report_stats.py``'s simulation (5 seeds, normal
scores) a percentile or BCa bootstrap interval of the mean covers 85% instead of 95%, and
even Hesterberg's small-sample expansion 92%; it has only 126 distinct resamples to draw
on. So the default interval of the **mean** is Student's t (``interval="auto"``), which
covers 95% for normal scores and 94–95% for mildly skewed ones at 5 seeds (measured
there). The **median** gets the distribution-free order-statistic interval
(``scipy.stats.quantile_test``; it exists from 6 values on), the **IQM** a BCa bootstrap
(percentile where BCa degenerates, as with all-equal values), which under-covers below
about 10 seeds and says so in the table's header. ``interval="bca"`` or ``"percentile"``
forces a bootstrap (``"percentile"`` is rliable's method). Fewer than 3 values give no
interval at all ("n too small"), not a fake one.

**Comparisons** are paired by seed where the runs pair (the lab's seeds fix the
initialisation and the data order, so a seed's two runs differ only in the compared
field): a paired t test on the differences for the mean, Wilcoxon's signed-rank test for
the median and IQM; unpaired runs fall back to Welch's t test (Mann–Whitney U for the
median and IQM). The probability of improvement ``P(X better than Y)`` is the
Mann–Whitney statistic over all pairs of runs, ties counting half (Agarwal et al. 2021;
rliable's ``probability_of_improvement``).
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

ESTIMATORS = ("mean", "iqm", "median")
INTERVALS = ("auto", "t", "bca", "percentile")
CORRECTIONS = ("holm", "bh", "none")
MIN_N = 3  # fewer values: "n too small", no interval
TOO_SMALL = "n too small"
BOOTSTRAP_RESAMPLES = 9999


def _scipy():
  import scipy.stats
  return scipy.stats


def point(values: Sequence[float], estimator: str = "mean") -> float:
  """The estimator's value: the mean, the interquartile mean (25% trimmed from each end,
  as rliable's ``aggregate_iqm``) or the median."""
  x = np.asarray(values, np.float64)
  if x.size == 0:
    return math.nan
  if estimator == "mean":
    return float(np.mean(x))
  if estimator == "median":
    return float(np.median(x))
  if estimator == "iqm":
    return float(_scipy().trim_mean(x, 0.25))
  raise ValueError(f"estimator must be one of {', '.join(ESTIMATORS)}, got {estimator!r}")


def _statistic(estimator: str) -> Callable:
  st = _scipy()
  return {"mean": lambda x, axis: np.mean(x, axis=axis),
          "median": lambda x, axis: np.median(x, axis=axis),
          "iqm": lambda x, axis: st.trim_mean(x, 0.25, axis=axis)}[estimator]


@dataclasses.dataclass(frozen=True)
class Estimate:
  """A point estimate over ``n`` values and its interval (NaN bounds: none)."""
  value: float
  low: float
  high: float
  n: int
  method: str  # how the interval was made: t, bca, percentile, quantile, n too small

  @property
  def has_interval(self) -> bool:
    return math.isfinite(self.low) and math.isfinite(self.high)


def interval_method(estimator: str, interval: str = "auto") -> str:
  """The method ``interval`` stands for with ``estimator``."""
  if interval not in INTERVALS:
    raise ValueError(f"interval must be one of {', '.join(INTERVALS)}, got {interval!r}")
  if interval != "auto":
    return interval
  return {"mean": "t", "median": "quantile", "iqm": "bca"}[estimator]


def estimate(values: Sequence[float], estimator: str = "mean", level: float = 0.95,
             interval: str = "auto", seed: int = 0) -> Estimate:
  """``estimator`` over ``values`` with its ``level`` interval (see the module's notes).

  The bootstrap's random state is ``seed`` for every call, so a table's intervals do not
  depend on the order its cells are computed in.
  """
  x = np.asarray(values, np.float64)
  value = point(x, estimator)
  method = interval_method(estimator, interval)
  if x.size < MIN_N:
    return Estimate(value, math.nan, math.nan, int(x.size), TOO_SMALL)
  if np.ptp(x) == 0:  # every seed the same: the interval is that value (any method)
    return Estimate(value, value, value, int(x.size), method)
  st = _scipy()
  if method == "t":
    lo, hi = t_interval(value, float(np.std(x, ddof=1)), int(x.size), level)
  elif method == "quantile":
    lo, hi = st.quantile_test(x, q=value, p=0.5).confidence_interval(level)
    if not (math.isfinite(lo) and math.isfinite(hi)):  # fewer than 6 values at 95%
      return Estimate(value, math.nan, math.nan, int(x.size), TOO_SMALL)
  else:
    lo, hi, method = _bootstrap((x,), _statistic(estimator), level, method, seed)
  return Estimate(value, float(lo), float(hi), int(x.size), method)


def t_interval(mean: float, std: float, n: int, level: float = 0.95) -> Tuple[float, float]:
  """Student t interval of a mean from its summary (std with ddof=1, n ≥ 2): mean ± t
  quantile · standard error (``ttest_1samp``'s interval, 15× faster)."""
  half = _scipy().t.ppf((1 + level) / 2, n - 1) * std / math.sqrt(n)
  return mean - half, mean + half


def _bootstrap(data, statistic, level: float, method: str, seed: int):
  """scipy's bootstrap; BCa that degenerates (NaN bounds) falls back to the percentile
  interval (scipy #15883: BCa returns NaN on degenerate data)."""
  st = _scipy()

  def run(m):
    with warnings.catch_warnings():
      warnings.simplefilter("ignore")  # DegenerateDataWarning: handled below
      r = st.bootstrap(data, statistic, confidence_level=level, method=m,
                       n_resamples=BOOTSTRAP_RESAMPLES, vectorized=True,
                       rng=np.random.default_rng(seed))
    return r.confidence_interval
  lo, hi = run("BCa" if method == "bca" else "percentile")
  if method == "bca" and not (math.isfinite(lo) and math.isfinite(hi)):
    lo, hi = run("percentile")
    method = "percentile"
  return lo, hi, method


def probability_of_improvement(x: Sequence[float], y: Sequence[float],
                               lower_is_better: bool = False) -> float:
  """P(a run of X is better than a run of Y), ties counting half: the Mann–Whitney U
  statistic over all ``len(x) · len(y)`` pairs (rliable's definition)."""
  x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
  if x.size == 0 or y.size == 0:
    return math.nan
  if lower_is_better:
    x, y = -x, -y
  # U = #(x > y) + ½ #(x = y) over all pairs: scipy's mannwhitneyu statistic (tested equal),
  # counted directly because the test that comes with it costs 1–2 ms a call
  return float(np.mean((x[:, None] > y[None, :]) + 0.5 * (x[:, None] == y[None, :])))


@dataclasses.dataclass(frozen=True)
class Comparison:
  """X against a baseline Y: the difference X − Y (estimator of the paired differences,
  or the difference of the estimators when the runs do not pair), its interval, the
  test's p-value, P(X better than Y)."""
  diff: Estimate
  pairs: int        # paired runs (0: compared unpaired)
  p_value: float    # two-sided, NaN when too few runs
  test: str
  prob_better: float
  effect: float     # standardized effect (Cohen's d_z paired, d unpaired): for seeds needed


def compare(x: Sequence[float], y: Sequence[float], paired: bool, estimator: str = "mean",
            level: float = 0.95, interval: str = "auto", lower_is_better: bool = False,
            seed: int = 0) -> Comparison:
  """X against the baseline Y. ``paired``: ``x[i]`` and ``y[i]`` are the same seed's runs."""
  x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
  st = _scipy()
  prob = probability_of_improvement(x, y, lower_is_better)
  if paired:
    d = x - y
    diff = estimate(d, estimator, level, interval, seed)
    test = "paired t" if estimator == "mean" else "Wilcoxon signed-rank"
    p = math.nan
    if d.size >= MIN_N - 1:
      if np.all(d == 0):
        p = 1.0
      elif np.ptp(d) == 0:
        p = 0.0  # every seed moved by the same amount: no noise to test against
      elif estimator == "mean":
        p = float(st.ttest_1samp(d, 0.0).pvalue)
      else:
        p = float(st.wilcoxon(d).pvalue)
    sd = float(np.std(d, ddof=1)) if d.size > 1 else math.nan
    effect = _ratio(float(np.mean(d)), sd)
    return Comparison(diff, int(d.size), p, test, prob, effect)
  value = point(x, estimator) - point(y, estimator)
  n = int(min(x.size, y.size))
  test = "Welch t" if estimator == "mean" else "Mann–Whitney U"
  lo = hi = p = math.nan
  method = TOO_SMALL
  if n >= MIN_N - 1:
    if np.ptp(x) == 0 and np.ptp(y) == 0:  # no noise in either: equal or not, surely
      p = 1.0 if value == 0 else 0.0
    elif estimator == "mean":
      p = float(st.ttest_ind(x, y, equal_var=False).pvalue)
    else:
      p = float(st.mannwhitneyu(x, y, alternative="two-sided").pvalue)
  if n >= MIN_N:
    if estimator == "mean" and interval_method(estimator, interval) == "t":
      if np.ptp(x) == 0 and np.ptp(y) == 0:
        lo = hi = value
      else:
        lo, hi = st.ttest_ind(x, y, equal_var=False).confidence_interval(level)
      method = "Welch t"
    else:
      stat = _statistic(estimator)
      m = interval_method(estimator, interval)
      lo, hi, method = _bootstrap((x, y), lambda a, b, axis: stat(a, axis) - stat(b, axis),
                                  level, "percentile" if m == "quantile" else m, seed)
  pooled = math.sqrt((np.var(x, ddof=1) + np.var(y, ddof=1)) / 2) if n > 1 else math.nan
  return Comparison(Estimate(value, float(lo), float(hi), n, method), 0, p, test, prob,
                    _ratio(float(np.mean(x) - np.mean(y)), pooled))


def _ratio(a: float, b: float) -> float:
  if not math.isfinite(b):
    return math.nan
  if b == 0:
    return 0.0 if a == 0 else math.copysign(math.inf, a)
  return a / b


def correct(p_values: Sequence[float], method: str = "holm", alpha: float = 0.05) -> List[bool]:
  """Which comparisons survive the correction over the family ``p_values`` (NaN ones are
  not tested and never survive): Holm's step-down (family-wise error ≤ ``alpha``),
  Benjamini–Hochberg (``bh``, false discovery rate ≤ ``alpha``; scipy's
  ``false_discovery_control``) or ``none`` (each at ``alpha``)."""
  if method not in CORRECTIONS:
    raise ValueError(f"correction must be one of {', '.join(CORRECTIONS)}, got {method!r}")
  p = np.asarray(p_values, np.float64)
  tested = np.flatnonzero(np.isfinite(p))
  out = np.zeros(p.shape, bool)
  if tested.size == 0:
    return out.tolist()
  pt = p[tested]
  if method == "none":
    out[tested] = pt <= alpha
  elif method == "bh":
    out[tested] = _scipy().false_discovery_control(pt, method="bh") <= alpha
  else:  # Holm: the k-th smallest p at alpha / (m − k); stop at the first that fails
    m = pt.size
    for k, i in enumerate(np.argsort(pt, kind="stable")):
      if pt[i] > alpha / (m - k):
        break
      out[tested[i]] = True
  return out.tolist()


def strictest_alpha(method: str, alpha: float, m: int) -> float:
  """The threshold the smallest p-value of ``m`` must pass (``alpha / m`` under Holm and
  Benjamini–Hochberg): the level a single comparison is planned at."""
  return alpha if method == "none" or m <= 1 else alpha / m


def seeds_needed(effect: float, paired: bool, alpha: float = 0.05, power: float = 0.8,
                 most: int = 1000, rank: bool = False) -> Optional[int]:
  """Seeds per cell at which a two-sided t test at ``alpha`` detects the standardized
  ``effect`` with ``power`` (paired: a one-sample t on the differences, Cohen's d_z;
  unpaired: a two-sample t of equal sizes, Cohen's d). None: no effect to detect, or
  more than ``most`` seeds.

  ``rank``: for the rank tests the median and IQM use (Wilcoxon, Mann–Whitney), the t
  answer over their asymptotic relative efficiency for normal scores (3/π ≈ 0.955), and
  never fewer seeds than let the exact test reach ``alpha`` at all (its smallest p-value
  is 2/2ⁿ paired, 2/C(2n, n) unpaired: 8 pairs at α = 0.0083)."""
  if effect != effect:
    return None
  floor = _rank_floor(paired, alpha) if rank else 2
  if math.isinf(effect):
    return floor
  if effect == 0:
    return None
  n = _t_seeds(effect, paired, alpha, power, most)
  if n is None:
    return None
  n = max(math.ceil(n / (3 / math.pi)) if rank else n, floor)
  return n if n <= most else None


def _rank_floor(paired: bool, alpha: float) -> int:
  n = 2
  while (2 / 2 ** n if paired else 2 / math.comb(2 * n, n)) > alpha:
    n += 1
  return n


def _t_seeds(effect: float, paired: bool, alpha: float, power: float,
             most: int) -> Optional[int]:
  st = _scipy()
  n = np.arange(2, most + 1, dtype=np.float64)
  df = n - 1 if paired else 2 * n - 2
  nc = abs(effect) * (np.sqrt(n) if paired else np.sqrt(n / 2))
  t = st.t.ppf(1 - alpha / 2, df)
  # the far tail's term underflows to NaN in scipy's noncentral t for large effects: it is 0
  achieved = st.nct.sf(t, df, nc) + np.nan_to_num(st.nct.cdf(-t, df, nc), nan=0.0)
  enough = np.flatnonzero(achieved >= power)
  return int(n[enough[0]]) if enough.size else None


def verdict(e: Estimate, published: float) -> str:
  """Where the published value lies against the measured interval: ``reproduced``
  (inside), ``higher`` (the measurement is above it) or ``lower``; ``n too small``
  without an interval."""
  if not e.has_interval:
    return TOO_SMALL
  if published < e.low:
    return "higher"
  if published > e.high:
    return "lower"
  return "reproduced"


def family(p_values: Dict, method: str, alpha: float) -> Dict:
  """:func:`correct` over a dict of p-values: the keys that survive."""
  keys = list(p_values)
  return dict(zip(keys, correct([p_values[k] for k in keys], method, alpha)))
