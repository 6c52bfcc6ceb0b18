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
