"""Boureau, Ponce & LeCun's pooled-Bernoulli model: closed forms against simulation."""

import jax
import numpy as np
import pytest

from cnnlab.analysis import pooling_theory as pt


@pytest.mark.parametrize("kind", ["avg", "max"])
@pytest.mark.parametrize("alpha,beta,pool", [(0.4, 0.2, 4), (0.05, 0.02, 32), (0.3, 0.1, 1)])
def test_closed_form_matches_monte_carlo(kind, alpha, beta, pool):
  closed = float(pt.separability(alpha, beta, pool, kind))
  simulated = pt.monte_carlo_separability(jax.random.PRNGKey(pool), alpha, beta, pool, kind,
                                          samples=40000)
  assert simulated == pytest.approx(closed, abs=0.02)


def test_average_grows_as_sqrt_pool_and_max_rises_then_falls():
  sizes = np.array([1, 4, 16, 64])
  avg = pt.separability(0.4, 0.2, sizes, "avg")
  np.testing.assert_allclose(avg[1:] / avg[:-1], 2.0)  # ×4 pool → ×2 separability
  assert pt.separability(0.4, 0.2, 1, "max") == pytest.approx(float(avg[0]))  # P = 1: same
  best = pt.best_max_pool_size(0.4, 0.2)
  mx = pt.separability(0.4, 0.2, np.arange(1, 200), "max")
  assert mx[best - 1] == mx.max() and mx[-1] < 1e-6  # both classes saturate at 1
  # Rarer features: the best max-pool size grows (5 for α = 0.4, β = 0.2; 47 for 0.05, 0.02).
  assert (best, pt.best_max_pool_size(0.05, 0.02)) == (5, 47)


def test_monte_carlo_interval_covers_the_closed_form_at_its_level():
  """The bootstrap interval of the simulated ratio holds the closed form in ~95% of 100
  independent simulations (Binomial(100, 0.95) is below 88 with probability 0.003)."""
  closed = float(pt.separability(0.4, 0.2, 4, "avg"))
  inside = 0
  for k in range(100):
    value, low, high = pt.monte_carlo_interval(jax.random.PRNGKey(k), 0.4, 0.2, 4, "avg",
                                               samples=2000, resamples=199, seed=k)
    assert low <= value <= high
    inside += low <= closed <= high
  assert 88 <= inside <= 100, inside


def test_a_saturated_simulation_has_no_interval_and_agreement_skips_it():
  value, low, high = pt.monte_carlo_interval(jax.random.PRNGKey(0), 0.4, 0.2, 256, "max",
                                             samples=1000)
  assert value == 0.0 and np.isnan(low) and np.isnan(high)  # every pool fired: no variance
  # hand-worked: 1 of the 3 points with an interval outside; P(≥ 1 of 3) = 1 − 0.95³
  nan = float("nan")
  outside, points, p = pt.agreement([1, 2, 3, 4], [0.5, 2.1, nan, 3.5], [1.5, 2.5, nan, 4.5])
  assert (outside, points) == (1, 3) and p == pytest.approx(1 - 0.95 ** 3)
  assert pt.agreement([1.0], [0.5], [1.5])[2] == 1.0  # none outside: P(≥ 0) = 1


def test_the_boureau_readme_quotes_its_table_and_computed_verdict():
  """``experiments/boureau2010/table.md`` (written by its run.py) appears in its README
  word for word, verdict line included."""
  import os
  here = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                      "experiments", "boureau2010")
  with open(os.path.join(here, "table.md")) as f:
    table = f.read()
  with open(os.path.join(here, "README.md")) as f:
    readme = f.read()
  assert "→ the closed forms and the simulation **" in table
  assert table.strip() in readme
