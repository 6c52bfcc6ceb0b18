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

from typing import Dict

import jax
import jax.numpy as jnp
import numpy as np


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


def monte_carlo_separability(key, alpha: float, beta: float, pool: int, kind: str,
                             samples: int = 20000) -> float:
  """The same ratio measured on ``samples`` simulated pools per class."""
  k1, k2 = jax.random.split(key)
  reduce = jnp.mean if kind == "avg" else jnp.max

  def pooled(k, p):
    fired = jax.random.bernoulli(k, p, (samples, pool)).astype(jnp.float32)
    return reduce(fired, axis=1)
  a, b = pooled(k1, alpha), pooled(k2, beta)
  den = float(a.std() + b.std())
  return float(jnp.abs(a.mean() - b.mean())) / den if den > 0 else 0.0


def best_max_pool_size(alpha: float, beta: float, max_pool: int = 10000) -> int:
  """The pool size at which max pooling separates the two classes best."""
  sizes = np.arange(1, max_pool + 1)
  return int(sizes[np.argmax(separability(alpha, beta, sizes, "max"))])


def table(alpha: float, beta: float, sizes, key=None, samples: int = 20000) -> Dict[str, list]:
  """Closed form and Monte Carlo separability for both poolings at each pool size."""
  key = jax.random.PRNGKey(0) if key is None else key
  out = {"pool": list(map(int, sizes))}
  for kind in ("avg", "max"):
    out[f"{kind}_closed"] = [float(x) for x in separability(alpha, beta, np.asarray(sizes), kind)]
    out[f"{kind}_mc"] = [monte_carlo_separability(jax.random.fold_in(key, i), alpha, beta, int(s),
                                                  kind, samples) for i, s in enumerate(sizes)]
  return out
