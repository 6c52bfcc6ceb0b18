"""Layer similarity by linear CKA (Kornblith et al. 2019) with the unbiased minibatch
estimator of Nguyen, Raghu & Kornblith (2021).

For a minibatch of ``n`` examples with features ``X`` (n × p) and ``Y`` (n × q), the
unbiased HSIC (Song et al. 2012) of the linear kernels ``K = XXᵀ``, ``L = YYᵀ`` with their
diagonals zeroed (``K̃``, ``L̃``) is

    HSIC₁(K, L) = [tr(K̃L̃) + 1ᵀK̃1·1ᵀL̃1 / ((n−1)(n−2)) − 2/(n−2)·1ᵀK̃L̃1] / (n(n−3)),

and CKA = mean HSIC₁(K, L) / sqrt(mean HSIC₁(K, K) · mean HSIC₁(L, L)), the means over
minibatches. The biased estimator (centred Gram matrices) drifts towards 1 for wide
features and few examples (MONAI #9129); this one is ≈ 0 for independent features.
"""

from __future__ import annotations

from typing import Dict, List, Sequence

import numpy as np


def hsic1(gram_k, gram_l) -> float:
  """Unbiased HSIC of two ``n × n`` Gram matrices (n ≥ 4), in float64: the estimator
  subtracts terms of similar size, which float32 leaves asymmetric at 1e-2."""
  k, m = np.array(gram_k, np.float64), np.array(gram_l, np.float64)
  n = k.shape[0]
  np.fill_diagonal(k, 0.0)
  np.fill_diagonal(m, 0.0)
  km = k @ m
  return float((np.trace(km) + k.sum() * m.sum() / ((n - 1) * (n - 2))
                - 2.0 / (n - 2) * km.sum()) / (n * (n - 3)))


def gram(x) -> np.ndarray:
  x = np.asarray(x, np.float64).reshape(len(x), -1)
  return x @ x.T


class MinibatchCKA:
  """Accumulates HSIC₁ over minibatches for every pair of a set of feature lists."""

  def __init__(self, rows: int, cols: int):
    self.xy = np.zeros((rows, cols))
    self.xx = np.zeros(rows)
    self.yy = np.zeros(cols)

  def update(self, xs: Sequence, ys: Sequence) -> None:
    """One minibatch: ``xs[i]`` and ``ys[j]`` are features of the same examples."""
    gx = [gram(x) for x in xs]
    gy = [gram(y) for y in ys]
    for i, a in enumerate(gx):
      self.xx[i] += hsic1(a, a)
      for j, b in enumerate(gy):
        self.xy[i, j] += hsic1(a, b)
    for j, b in enumerate(gy):
      self.yy[j] += hsic1(b, b)

  def result(self) -> np.ndarray:
    """CKA of every pair; NaN where a layer's features do not vary (a constant layer, e.g.
    a zero-initialised head, has no similarity to anything, itself included)."""
    den = np.sqrt(np.outer(np.maximum(self.xx, 0), np.maximum(self.yy, 0)))
    with np.errstate(invalid="ignore", divide="ignore"):
      return np.where(den > 0, self.xy / np.where(den > 0, den, 1), np.nan)


def cka(x, y, batch_size: int = 256) -> float:
  """Linear CKA of two feature arrays of the same examples (first axis), over minibatches
  of ``batch_size`` (a last one shorter than 4 is dropped)."""
  x, y = np.asarray(x), np.asarray(y)
  acc = MinibatchCKA(1, 1)
  for i in range(0, len(x) - 3, batch_size):
    if min(batch_size, len(x) - i) < 4:
      break
    acc.update([x[i:i + batch_size]], [y[i:i + batch_size]])
  return float(acc.result()[0, 0])


def cka_matrix(features_a: Dict[str, Sequence], features_b: Dict[str, Sequence],
               ) -> np.ndarray:
  """CKA of every layer of ``a`` against every layer of ``b``: each a mapping layer →
  list of minibatch feature arrays (the same examples in the same batches)."""
  names_a, names_b = list(features_a), list(features_b)
  batches = len(features_a[names_a[0]])
  acc = MinibatchCKA(len(names_a), len(names_b))
  for t in range(batches):
    acc.update([features_a[k][t] for k in names_a], [features_b[k][t] for k in names_b])
  return acc.result()


def layer_features(model, variables, x, layers: List[str], batch_size: int = 256
                   ) -> Dict[str, List[np.ndarray]]:
  """Each layer's outputs for ``x`` (preprocessed), as a list of minibatches (layers that
  are no module's output are left out)."""
  from cnnlab.inspect.receptive import outputs_fn
  fn = outputs_fn(model, tuple(layers))
  out: Dict[str, List[np.ndarray]] = {}
  for i in range(0, len(x), batch_size):
    if len(x) - i < 4:
      break
    got = fn(variables, np.asarray(x[i:i + batch_size], np.float32))
    for k in got:
      out.setdefault(k, []).append(np.asarray(got[k]).reshape(len(got[k]), -1))
  return out
