"""Boureau, Ponce & LeCun (2010): separability of max- vs average-pooled Bernoulli features.

A feature fires with probability ``α`` on class 1 and ``β`` on class 2, independently
at each of the ``P`` positions of a pool. Average pooling gives the fraction of
positions that fired: mean ``α``, variance ``α(1−α)/P``. Max pooling gives whether any
fired: a Bernoulli of parameter ``1 − (1−α)^P``. A class pair's separability is the
distance of the pooled means over the sum of the standard deviations,
``|μ₁ − μ₂| / (σ₁ + σ₂)``. Average pooling's grows as ``√P``; max pooling's rises
and then falls, since for large ``P`` both classes saturate at 1 — it peaks at a pool
size set by how rare the feature is (:func:`best_max_pool_size`).
"""

from __future__ import annotations

from typing import Dict, Tuple

import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats


def pooled_moments(p: np.ndarray, pool: np.ndarray, kind: str):
  """Mean and standard deviation of one pooled feature (closed form)."""
  p, pool = np.asarray(p, np.float64), np.asarray(pool, np.float64)
  if kind == "avg":
    return p, np.sqrt(p * (1 - p) / pool)
  if kind == "max":
    q = 1 - (1 - p) ** pool
    return q, np.sqrt(q * (1 - q))
  raise ValueError(f"kind must be 'avg' or 'max', got {kind!r}")


def separability(alpha: float, beta: float, pool, kind: str) -> np.ndarray:
  """``|μ₁ − μ₂| / (σ₁ + σ₂)`` of the pooled feature for classes firing at ``α`` and ``β``."""
  m1, s1 = pooled_moments(alpha, pool, kind)
  m2, s2 = pooled_moments(beta, pool, kind)
  den = s1 + s2
  # Both classes saturated (max pooling, large P): identical constants, separability 0.
  return np.where(den > 0, np.abs(m1 - m2) / np.where(den > 0, den, 1.0), 0.0)


def _pooled_samples(key, alpha: float, beta: float, pool: int, kind: str, samples: int):
  """``samples`` simulated pools per class, pooled: two float32 vectors."""
  k1, k2 = jax.random.split(key)
  reduce = jnp.mean if kind == "avg" else jnp.max

  def pooled(k, p):
    fired = jax.random.bernoulli(k, p, (samples, pool)).astype(jnp.float32)
    return reduce(fired, axis=1)
  return pooled(k1, alpha), pooled(k2, beta)


def _ratio(a, b, axis=-1):
  """``|mean(a) − mean(b)| / (std(a) + std(b))`` along ``axis``; 0 where both are constant."""
  den = a.std(axis=axis) + b.std(axis=axis)
  return np.where(den > 0, np.abs(a.mean(axis=axis) - b.mean(axis=axis)) /
                  np.where(den > 0, den, 1.0), 0.0)


def _sample_ratio(a, b) -> float:
  """:func:`_ratio` of two simulated vectors as the point estimate: float32 moments."""
  den = float(a.std() + b.std())
  return float(jnp.abs(a.mean() - b.mean())) / den if den > 0 else 0.0


def monte_carlo_separability(key, alpha: float, beta: float, pool: int, kind: str,
                             samples: int = 20000) -> float:
  """The same ratio measured on ``samples`` simulated pools per class."""
  return _sample_ratio(*_pooled_samples(key, alpha, beta, pool, kind, samples))


def monte_carlo_interval(key, alpha: float, beta: float, pool: int, kind: str,
                         samples: int = 20000, level: float = 0.95, resamples: int = 999,
                         seed: int = 0) -> Tuple[float, float, float]:
  """:func:`monte_carlo_separability` and its ``level`` percentile bootstrap interval
  (``scipy.stats.bootstrap``, the two classes resampled independently). Where both
  classes' pooled values are constant (max pooling saturated at every simulated pool)
  the simulation cannot resolve the ratio and the interval is NaN."""
  drawn = _pooled_samples(key, alpha, beta, pool, kind, samples)  # once, for both
  value = _sample_ratio(*drawn)
  a, b = (np.asarray(x, np.float64) for x in drawn)
  if a.std() + b.std() == 0:
    return value, float("nan"), float("nan")
  ci = stats.bootstrap((a, b), _ratio, paired=False, vectorized=True, n_resamples=resamples,
                       batch=100, confidence_level=level, method="percentile",
                       rng=np.random.default_rng(seed)).confidence_interval
  return value, float(ci.low), float(ci.high)


def best_max_pool_size(alpha: float, beta: float, max_pool: int = 10000) -> int:
  """The pool size at which max pooling separates the two classes best."""
  sizes = np.arange(1, max_pool + 1)
  return int(sizes[np.argmax(separability(alpha, beta, sizes, "max"))])


def table(alpha: float, beta: float, sizes, key=None, samples: int = 20000) -> Dict[str, list]:
  """Closed form and Monte Carlo separability, with the Monte Carlo's 95% bootstrap
  interval (``<kind>_mc_low``, ``<kind>_mc_high``), for both poolings at each pool size.
  Every (pooling, size) draws its own samples, so the points are independent."""
  key = jax.random.PRNGKey(0) if key is None else key
  out = {"pool": list(map(int, sizes))}
  for j, kind in enumerate(("avg", "max")):
    out[f"{kind}_closed"] = [float(x) for x in separability(alpha, beta, np.asarray(sizes), kind)]
    mc = [monte_carlo_interval(jax.random.fold_in(key, j * len(sizes) + i), alpha, beta, int(s),
                               kind, samples, seed=i) for i, s in enumerate(sizes)]
    for name, values in zip(("mc", "mc_low", "mc_high"), zip(*mc)):
      out[f"{kind}_{name}"] = list(values)
  return out


def agreement(closed, low, high, level: float = 0.95):
  """How many closed-form values fall outside their Monte Carlo intervals (points
  without an interval left out), and the probability of at least that many if the
  closed forms are right (each point outside with probability ``1 − level``,
  independently): ``(outside, points with an interval, p)``."""
  pairs = [(c, lo, hi) for c, lo, hi in zip(closed, low, high) if not np.isnan(lo)]
  outside = sum(not lo <= c <= hi for c, lo, hi in pairs)
  return outside, len(pairs), float(stats.binom.sf(outside - 1, len(pairs), 1 - level))
