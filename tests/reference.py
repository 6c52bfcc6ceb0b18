"""Independent NumPy references: explicit Python loops over windows, no JAX.

Deliberately written the slow, obvious way so that they share no code (and no
bugs) with :mod:`cnnlab.ops`.
"""

import itertools
import math
from fractions import Fraction

import numpy as np


def pads_for(padding, in_sizes, window, strides):
  """Explicit (lo, hi) pads per axis, SAME computed from its textbook definition."""
  if padding == "VALID":
    return [(0, 0)] * len(in_sizes)
  if padding == "SAME":
    out = []
    for w, f, s in zip(in_sizes, window, strides):
      n_out = math.ceil(w / s)
      total = max((n_out - 1) * s + f - w, 0)
      out.append((total // 2, total - total // 2))
    return out
  if isinstance(padding, int):
    return [(padding, padding)] * len(in_sizes)
  return [tuple(p) if not isinstance(p, int) else (p, p) for p in padding]


def windows(x, window, strides, padding):
  """Yields (out_index, values, valid) for every window of x (N, *spatial, C).

  ``values`` has shape (N, K, C) with padded positions as NaN, ``valid`` (K,) bools;
  elements are in row-major order of the window offsets.
  """
  spatial = x.shape[1:-1]
  pads = pads_for(padding, spatial, window, strides)
  out_sizes = [(w + lo + hi - f) // s + 1 for w, (lo, hi), f, s in
               zip(spatial, pads, window, strides)]
  for out_idx in itertools.product(*(range(n) for n in out_sizes)):
    vals, valid = [], []
    for offset in itertools.product(*(range(f) for f in window)):
      pos = [o * s + k - lo for o, s, k, (lo, _) in zip(out_idx, strides, offset, pads)]
      inside = all(0 <= p < w for p, w in zip(pos, spatial))
      valid.append(inside)
      vals.append(x[(slice(None),) + tuple(pos) + (slice(None),)] if inside
                  else np.full((x.shape[0], x.shape[-1]), np.nan))
    yield out_idx, np.stack(vals, 1), np.array(valid)


def pool(x, window, strides, padding, reduce_fn):
  """Applies ``reduce_fn(values (N, K, C), valid (K,)) -> (N, C)`` to every window."""
  x = np.asarray(x, np.float64)
  results = {}
  for idx, vals, valid in windows(x, window, strides, padding):
    results[idx] = reduce_fn(vals, valid)
  out_sizes = [max(i[d] for i in results) + 1 for d in range(x.ndim - 2)]
  out = np.zeros([x.shape[0]] + out_sizes + [x.shape[-1]])
  for idx, r in results.items():
    out[(slice(None),) + idx + (slice(None),)] = r
  return out


def max_ref(v, valid):
  return v[:, valid].max(1)


def min_ref(v, valid):
  return v[:, valid].min(1)


def avg_ref(v, valid, include_pad=True):
  s = v[:, valid].sum(1)
  return s / (len(valid) if include_pad else valid.sum())


def lp_ref(p, form):
  def f(v, valid):
    s = (np.abs(v[:, valid]) ** p).sum(1)
    if form == "mean":
      s = s / len(valid)
    return s ** (1.0 / p)
  return f


def stochastic_eval_ref(v, valid):
  a = v[:, valid]
  tot = a.sum(1)
  with np.errstate(invalid="ignore", divide="ignore"):
    return np.where(tot > 0, (a * a).sum(1) / np.where(tot > 0, tot, 1), 0.0)


def distance_ref(window, sigma):
  def f(v, valid):
    centre = [(k - 1) / 2 for k in window]
    w = np.array([math.exp(-sum((o - c) ** 2 for o, c in zip(off, centre)) / (2 * sigma ** 2))
                  for off in itertools.product(*(range(k) for k in window))])
    return (v[:, valid] * w[valid][None, :, None]).sum(1) / w[valid].sum()
  return f


def gated_ref(omega):
  def f(v, valid):
    z = np.where(np.isnan(v), 0.0, v)  # padding is zero for the gate
    gate = 1 / (1 + np.exp(-np.einsum("nkc,k->nc", z, omega)))
    return gate * max_ref(v, valid) + (1 - gate) * z.sum(1) / len(valid)
  return f


def roi_max_pool_ref(features, rois, out_h, out_w, scale=1.0):
  """Caffe's ROIPoolingLayer forward, line by line, with the bin boundaries in exact
  rational arithmetic (``floor(ph·h/out_h)``, ``ceil((ph+1)·h/out_h)``: what Caffe's and
  torchvision's float expressions mean; in float they can land one past a whole number)."""
  def c_round(v):
    return math.floor(v + 0.5) if v >= 0 else -math.floor(-v + 0.5)
  n, height, width, c = features.shape
  out = np.zeros((len(rois), out_h, out_w, c))
  for r, roi in enumerate(rois):
    b = int(roi[0])
    x1, y1, x2, y2 = (c_round(v * scale) for v in roi[1:])
    roi_h, roi_w = max(y2 - y1 + 1, 1), max(x2 - x1 + 1, 1)
    bin_h, bin_w = Fraction(roi_h, out_h), Fraction(roi_w, out_w)
    for ph in range(out_h):
      for pw in range(out_w):
        hs = min(max(math.floor(ph * bin_h) + y1, 0), height)
        he = min(max(math.ceil((ph + 1) * bin_h) + y1, 0), height)
        ws = min(max(math.floor(pw * bin_w) + x1, 0), width)
        we = min(max(math.ceil((pw + 1) * bin_w) + x1, 0), width)
        if he <= hs or we <= ws:
          continue
        for ch in range(c):
          out[r, ph, pw, ch] = features[b, hs:he, ws:we, ch].max()
  return out


def lrn_ref(x, size, k, alpha, beta):
  x = np.asarray(x, np.float64)
  c = x.shape[-1]
  out = np.empty_like(x)
  for i in range(c):
    lo, hi = max(0, i - size // 2), min(c - 1, i + (size - 1) // 2)
    s = (x[..., lo:hi + 1] ** 2).sum(-1)
    out[..., i] = x[..., i] / (k + alpha * s) ** beta
  return out
