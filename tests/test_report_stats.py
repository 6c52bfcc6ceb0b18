"""The report's statistics checked the way statisticians check them: simulated sweeps with
known truth (coverage, family-wise error, power), hand-worked cases, and agreement with
scipy and (when installed) rliable 1.2.0."""

import math

import numpy as np
import pytest
import scipy.stats as st

from cnnlab.report import stats


# -- simulations -------------------------------------------------------------------------


@pytest.mark.parametrize("scores", ["normal", "lognormal"])
def test_the_default_interval_covers_95_percent_at_five_seeds(scores):
  """2,000 simulated cells of 5 seeds: the mean's interval holds the true mean 95% ± 2% of
  the time, for normal scores and for skewed ones (log-normal, σ = 0.25: skewness 0.8,
  more than accuracies over seeds show). A bootstrap would not: the module's notes."""
  rng = np.random.default_rng(7)
  cells = 2000
  if scores == "normal":
    x, truth = rng.normal(0.9, 0.01, (cells, 5)), 0.9
  else:
    x, truth = rng.lognormal(0.0, 0.25, (cells, 5)), math.exp(0.25 ** 2 / 2)
  covered = [(e.low <= truth <= e.high) for e in (stats.estimate(v) for v in x)]
  assert abs(np.mean(covered) - 0.95) <= 0.02, np.mean(covered)


def test_the_bootstrap_under_covers_at_five_seeds_as_the_notes_say():
  """Why the mean's default interval is not a bootstrap: at 5 seeds scipy's percentile
  bootstrap covers about 85% (the notes' number), well below 95%."""
  rng = np.random.default_rng(8)
  x = rng.normal(0.0, 1.0, (300, 5))
  covered = [(e.low <= 0 <= e.high) for e in
             (stats.estimate(v, interval="percentile") for v in x)]
  assert 0.78 <= np.mean(covered) <= 0.90


def _null_grid(rng, rows=4, cols=3, seeds=3, effect=0.0):
  """One simulated sweep: rows × cols cells of ``seeds`` runs; the first row is the
  baseline; a run's score is its column's level + its seed's effect (shared by the seed's
  runs: what pairing removes) + noise; ``effect`` is added to the last row."""
  level = rng.normal(0.8, 0.05, cols)
  seed = rng.normal(0, 0.02, (seeds, cols))
  scores = level + seed + rng.normal(0, 0.01, (rows, seeds, cols))
  scores[-1] += effect
  return scores


def test_holm_keeps_the_family_wise_error_at_5_percent_on_grids_without_differences():
  """5,000 simulated 4 × 3 grids with no true difference, 3 seeds, 9 paired comparisons
  each: the fraction of grids with any comparison declared significant is 5% or less
  under Holm, and under Benjamini–Hochberg (whose false discovery rate is the family-wise
  error when nothing differs), within the simulation's own error (2 standard errors,
  0.6 points: nine nearly independent tests put Holm right at 5% — 4.95% over 20,000
  grids); without a correction it is far above. The p-values are scipy's paired t test
  over all grids at once, checked equal to :func:`stats.compare`'s on the first 30."""
  rng = np.random.default_rng(2026)
  n = 5000
  grids = np.stack([_null_grid(rng) for _ in range(n)])  # (grid, row, seed, col)
  p = st.ttest_rel(grids[:, 1:], grids[:, :1], axis=2).pvalue.reshape(n, -1)
  for g in range(30):
    s = grids[g]
    one = [stats.compare(s[r, :, c], s[0, :, c], paired=True).p_value
           for r in range(1, 4) for c in range(3)]
    np.testing.assert_allclose(one, p[g], rtol=1e-9)
  rate = {m: np.mean([any(stats.correct(q, m)) for q in p]) for m in stats.CORRECTIONS}
  error = 2 * math.sqrt(0.05 * 0.95 / n)
  assert rate["holm"] <= 0.05 + error and rate["bh"] <= 0.05 + error, rate
  assert rate["holm"] >= 0.03, rate  # not bought by being needlessly strict
  assert rate["none"] > 0.3, rate  # nine tests at 5% each: the correction matters


def test_a_true_difference_is_found_and_pairing_by_seed_is_what_finds_it():
  """The same simulation with a real effect in the last row (2.5 noise sds, about the
  seeds' spread): paired comparisons find it in most grids, unpaired ones — drowned by
  the seed effect — rarely."""
  rng = np.random.default_rng(3)
  paired = unpaired = 0
  for _ in range(120):
    s = _null_grid(rng, seeds=5, effect=0.025)
    p = [stats.compare(s[-1, :, c], s[0, :, c], paired=True).p_value for c in range(3)]
    q = [stats.compare(s[-1, :, c], s[0, :, c], paired=False).p_value for c in range(3)]
    paired += sum(stats.correct(p, "holm"))
    unpaired += sum(stats.correct(q, "holm"))
  assert paired / 360 > 0.6 and unpaired / 360 < 0.3, (paired, unpaired)


def test_seeds_needed_reaches_the_power_in_simulation():
  """The noncentral-t answer checked by brute force: at the seeds it names, 4,000
  simulated paired experiments reject at the planned α about 80% of the time, and at
  one seed fewer less often."""
  rng = np.random.default_rng(11)
  effect, alpha = 1.2, 0.05 / 9
  n = stats.seeds_needed(effect, paired=True, alpha=alpha)
  assert n is not None and 5 <= n <= 30

  def power(k):
    d = rng.normal(effect, 1.0, (4000, k))
    return np.mean(st.ttest_1samp(d, 0.0, axis=1).pvalue <= alpha)
  assert abs(power(n) - 0.8) < 0.05 and power(n - 1) < 0.8
  assert stats.seeds_needed(0.0, paired=True) is None
  assert stats.seeds_needed(0.01, paired=True) is None  # more than 1,000
  assert stats.seeds_needed(math.inf, paired=True) == 2
  # rank tests: never fewer seeds than let the exact test reach α (Wilcoxon's smallest
  # two-sided p with n pairs is 2/2ⁿ: 7 pairs give 0.0156 > 0.05/6, 8 give 0.0078)
  alpha = 0.05 / 6
  assert st.wilcoxon(np.arange(1.0, 8.0)).pvalue > alpha >= st.wilcoxon(np.arange(1.0, 9.0)).pvalue
  assert stats.seeds_needed(math.inf, paired=True, alpha=alpha, rank=True) == 8
  t_only = stats.seeds_needed(1.0, paired=False)
  assert stats.seeds_needed(1.0, paired=False, rank=True) == math.ceil(t_only * math.pi / 3)


# -- hand-worked cases and scipy ---------------------------------------------------------


def test_holm_and_benjamini_hochberg_by_hand():
  p = [0.01, 0.04, 0.03, 0.005]
  # Holm: 0.005 ≤ .05/4, 0.01 ≤ .05/3, then 0.03 > .05/2: stop
  assert stats.correct(p, "holm") == [True, False, False, True]
  # BH: the largest k with p_(k) ≤ k/4 · .05 is k = 4 (0.04 ≤ 0.05): all four
  assert stats.correct(p, "bh") == [True, True, True, True]
  assert stats.correct([0.01, math.nan, 0.2], "holm") == [True, False, False]
  assert stats.correct([math.nan], "bh") == [False]


def test_probability_of_improvement_by_hand():
  # pairs (x > y): 1>0; 2>0, 2=2 (half); 3>0, 3>2 — 4.5 of 9
  assert stats.probability_of_improvement([1, 2, 3], [0, 2, 4]) == pytest.approx(0.5)
  assert stats.probability_of_improvement([5, 6], [1, 2]) == 1.0
  assert stats.probability_of_improvement([5, 6], [1, 2], lower_is_better=True) == 0.0
  assert stats.probability_of_improvement([1, 1], [1, 1]) == 0.5


def test_estimates_match_scipy_and_closed_forms():
  x = np.array([0.71, 0.74, 0.69, 0.75, 0.73])
  e = stats.estimate(x)
  half = st.t.ppf(0.975, 4) * x.std(ddof=1) / math.sqrt(5)  # the t interval by hand
  assert (e.value, e.method) == (pytest.approx(x.mean()), "t")
  assert (e.low, e.high) == (pytest.approx(x.mean() - half), pytest.approx(x.mean() + half))
  assert stats.estimate(x, "iqm").value == pytest.approx(np.mean(np.sort(x)[1:4]))
  assert stats.estimate(x, "median").value == 0.73
  assert stats.estimate(x, "median").method == stats.TOO_SMALL  # order statistics need 6
  six = stats.estimate([1, 2, 3, 4, 5, 6], "median")
  assert (six.low, six.high) == (1, 6)  # P(min < median < max) = 1 − 2/64 ≥ 95%
  b = stats.estimate(x, "iqm")
  assert b.method in ("bca", "percentile") and b.low <= b.value <= b.high
  for values in ([0.5], [0.5, 0.6]):
    e = stats.estimate(values)
    assert not e.has_interval and e.method == stats.TOO_SMALL and e.n == len(values)
  same = stats.estimate([0.9, 0.9, 0.9], "iqm")  # BCa degenerates: one value, no spread
  assert (same.low, same.high) == (0.9, 0.9)


def test_paired_and_unpaired_comparisons_match_scipy():
  x = np.array([0.80, 0.83, 0.79, 0.84])
  y = np.array([0.78, 0.80, 0.78, 0.80])
  c = stats.compare(x, y, paired=True)
  ref = st.ttest_rel(x, y)
  assert c.p_value == pytest.approx(ref.pvalue) and c.pairs == 4
  assert (c.diff.low, c.diff.high) == pytest.approx(tuple(ref.confidence_interval()))
  u = stats.compare(x, y, paired=False)
  ref = st.ttest_ind(x, y, equal_var=False)
  assert u.p_value == pytest.approx(ref.pvalue) and u.pairs == 0
  assert (u.diff.low, u.diff.high) == pytest.approx(tuple(ref.confidence_interval()))
  w = stats.compare(x, y, paired=True, estimator="median")
  assert w.p_value == pytest.approx(st.wilcoxon(x - y).pvalue)
  assert stats.compare(x, x, paired=True).p_value == 1.0


def test_verdicts():
  e = stats.Estimate(0.5, 0.45, 0.55, 3, "t")
  assert [stats.verdict(e, v) for v in (0.5, 0.4, 0.6)] == ["reproduced", "higher", "lower"]
  assert stats.verdict(stats.Estimate(0.5, math.nan, math.nan, 2, "n too small"), 0.5) == \
      stats.TOO_SMALL


# -- rliable (optional) ------------------------------------------------------------------


def test_intervals_and_probability_of_improvement_agree_with_rliable():
  """rliable 1.2.0 (archived in 2025; `pip install rliable==1.2.0`) on the same inputs:
  the percentile bootstrap of the mean and the IQM within bootstrap noise, the
  probability of improvement exactly."""
  rly = pytest.importorskip("rliable")
  from rliable import library as rl
  from rliable import metrics
  rng = np.random.default_rng(5)
  x, y = rng.normal(0.8, 0.02, 8), rng.normal(0.79, 0.03, 8)
  for estimator, fn in (("mean", metrics.aggregate_mean), ("iqm", metrics.aggregate_iqm)):
    _, cis = rl.get_interval_estimates({"x": x[:, None]}, lambda s: np.array([fn(s)]),
                                       reps=10000)
    ours = stats.estimate(x, estimator, interval="percentile")
    width = ours.high - ours.low
    assert abs(ours.low - cis["x"][0, 0]) < 0.05 * width, (estimator, ours, cis["x"])
    assert abs(ours.high - cis["x"][1, 0]) < 0.05 * width, (estimator, ours, cis["x"])
    assert ours.value == pytest.approx(fn(x[:, None]))
  assert stats.probability_of_improvement(x, y) == pytest.approx(
      metrics.probability_of_improvement(x[:, None], y[:, None]))
  assert rly is not None
