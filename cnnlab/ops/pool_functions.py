"""Pooling functions, pure ``jax.numpy``, channels-last, for 1-D, 2-D and 3-D inputs.

Inputs are ``(N, *spatial, C)`` (NWC, NHWC or NDHWC). ``window`` and ``strides``
are an int or one int per spatial axis (``strides`` defaults to ``window``);
``padding`` is anything :func:`cnnlab.ops.shapes.resolve_padding` accepts. Every
function is jit- and grad-safe and returns the dtype it was given (sums and
powers are carried out in float32 for half-precision inputs).

Explicit padding of more than half a window is rejected (as PyTorch does): a window
could then cover padding only, where max pooling would give −inf and an average that
leaves padding out would divide by zero.

The functions are registered in :mod:`cnnlab.ops.pooling` under the names models and
configs use. References: stochastic pooling — Zeiler & Fergus 2013; mixed and gated
pooling — Lee, Gallagher & Tu 2016; GeM — Radenović, Tolias & Chum 2018.
"""

from __future__ import annotations

import functools
import itertools
import math
from typing import Optional, Sequence, Tuple, Union

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from cnnlab.ops import shapes

Window = Union[int, Sequence[int]]

# ----------------------------------------------------------------------------
# Geometry helpers.


def _geometry(x: jax.Array, window: Window, strides: Optional[Window], padding,
              layer: Optional[str] = None):
  """Checks the input rank and the window fit; returns (window, strides, pads, out)."""
  ndim = x.ndim - 2
  if ndim not in (1, 2, 3):
    raise shapes.ShapeError(
        f"{'layer %r: ' % layer if layer else ''}pooling expects (N, *spatial, C) with 1-3 "
        f"spatial axes, got shape {x.shape}")
  window = shapes.as_tuple(window, ndim, "window", layer)
  strides = shapes.as_tuple(window if strides is None else strides, ndim, "stride", layer)
  pads = shapes.resolve_padding(padding, x.shape[1:-1], window, strides, name=layer)
  for axis, ((lo, hi), f) in enumerate(zip(pads, window)):
    if max(lo, hi) > f / 2:
      raise shapes.ShapeError(
          f"{'layer %r: ' % layer if layer else ''}pooling padding ({lo}, {hi}) on spatial "
          f"axis {axis} is more than half the window {f}: some windows would hold padding "
          f"only (PyTorch rejects this too); use at most {f // 2}")
  out = shapes.output_sizes(x.shape[1:-1], window, strides, pads, name=layer)
  return window, strides, pads, out


def _full(t: Tuple[int, ...], fill: int = 1) -> Tuple[int, ...]:
  return (fill,) + tuple(t) + (fill,)


def _compute_dtype(dtype) -> jnp.dtype:
  """float32 for half precision (accumulation), else the input dtype."""
  return jnp.promote_types(dtype, jnp.float32)


def _reduce(x, init, op, window, strides, pads):
  # A concrete NumPy init value lets JAX recognise max/min/add as monoid reductions,
  # which are differentiable; a jnp array under a trace falls back to the generic,
  # non-differentiable reduce_window.
  init = np.asarray(init, dtype=x.dtype)
  return lax.reduce_window(x, init, op, _full(window), _full(strides),
                           ((0, 0),) + tuple(pads) + ((0, 0),))


def _window_sum(x, window, strides, pads):
  return _reduce(x, 0, lax.add, window, strides, pads)


def _window_count(x, window, strides, pads, count_include_pad: bool):
  """Number of elements each window averages over, broadcastable against outputs."""
  if count_include_pad or not any(lo or hi for lo, hi in pads):
    return float(math.prod(window))
  ones = jnp.ones((1,) + x.shape[1:-1] + (1,), x.dtype)
  return _window_sum(ones, window, strides, pads)


def extract_patches(x: jax.Array, window: Window, strides: Optional[Window] = None,
                    padding="VALID", pad_value: float = 0.0) -> jax.Array:
  """All windows as a trailing axis: ``(N, *out, C, K)`` with ``K = prod(window)``.

  Window elements are ordered row-major over the window offsets, so entry ``k`` of
  a 2-D window is offset ``(k // F_w, k % F_w)``.
  """
  window, strides, pads, out = _geometry(x, window, strides, padding)
  xp = jnp.pad(x, ((0, 0),) + tuple(pads) + ((0, 0),), constant_values=pad_value)
  taken = []
  for offset in itertools.product(*(range(f) for f in window)):
    start = (0,) + offset + (0,)
    limit = (x.shape[0],) + tuple(o + (n - 1) * s + 1 for o, n, s in zip(offset, out, strides)
                                  ) + (x.shape[-1],)
    taken.append(lax.slice(xp, start, limit, _full(strides)))
  return jnp.stack(taken, axis=-1)


def _valid_mask(x, window, strides, padding) -> jax.Array:
  """(1, *out, 1, K): 1 where a window element lies inside the unpadded input."""
  ones = jnp.ones((1,) + x.shape[1:-1] + (1,), jnp.float32)
  return extract_patches(ones, window, strides, padding, pad_value=0.0)


def _safe_div(num, den):
  """num / den, with 0 (and a zero gradient) where den == 0."""
  ok = den > 0
  return jnp.where(ok, num / jnp.where(ok, den, 1), 0)


def _safe_root(s, p):
  """s ** (1 / p) for s >= 0, with value and gradient 0 at s == 0 (no NaN)."""
  ok = s > 0
  return jnp.where(ok, jnp.where(ok, s, 1) ** (1.0 / p), 0)


# ----------------------------------------------------------------------------
# Window pooling.


def _tiled(x, window, strides, pads, out, is_max: bool):
  """The max (or min) over non-overlapping, unpadded windows as a reshape and a reduction
  over the window axes, or None where the windows overlap or are padded.

  Why: the gradient of ``lax.reduce_window`` max/min is a select-and-scatter, which
  XLA's CPU backend runs slowly (FashionNet's first max pool: 7.6 ms forward + backward
  against 1.4 ms this way, benchmarks/NOTES.md). Values and gradients are identical:
  the custom gradient sends each window's gradient to its first extreme element, as
  reduce_window does (an automatic gradient would split it among tied elements, which
  made data-parallel and single-device runs differ).
  """
  if tuple(window) != tuple(strides) or any(lo or hi for lo, hi in pads):
    return None
  x = x[(slice(None),) + tuple(slice(0, o * w) for o, w in zip(out, window))]
  return _tiled_reduce(x, tuple(window), is_max)


def _tile(x, window):
  """(N, *spatial, C) → (N, *out, C, K): each window's K elements on the last axis."""
  n, c, d = x.shape[0], x.shape[-1], len(window)
  out = tuple(s // w for s, w in zip(x.shape[1:-1], window))
  t = x.reshape((n,) + tuple(v for o, w in zip(out, window) for v in (o, w)) + (c,))
  order = (0,) + tuple(1 + 2 * i for i in range(d)) + (2 * d + 1,) + \
      tuple(2 + 2 * i for i in range(d))
  return t.transpose(order).reshape((n,) + out + (c, -1))


def _untile(t, window):
  """The inverse of :func:`_tile`."""
  n, c, d = t.shape[0], t.shape[-2], len(window)
  out = t.shape[1:-2]
  t = t.reshape((n,) + out + (c,) + tuple(window))
  order = [0]
  for i in range(d):
    order += [1 + i, d + 2 + i]
  order.append(d + 1)
  return t.transpose(order).reshape((n,) + tuple(o * w for o, w in zip(out, window)) + (c,))


@functools.partial(jax.custom_vjp, nondiff_argnums=(1, 2))
def _tiled_reduce(x, window, is_max):
  t = _tile(x, window)
  return t.max(-1) if is_max else t.min(-1)


def _tiled_reduce_fwd(x, window, is_max):
  t = _tile(x, window)
  m = t.max(-1) if is_max else t.min(-1)
  return m, (t, m)


def _tiled_reduce_bwd(window, is_max, res, g):
  # As reduce_window's gradient: all of it to the first extreme element of each window,
  # found by comparisons over the K window elements (an argmax and a gather by it
  # measured 77 µs of MNIST-1D's 1.4 ms step; these elementwise ops fuse).
  t, m = res
  seen = jnp.zeros(m.shape, bool)
  parts = []
  for k in range(t.shape[-1]):
    hit = (t[..., k] == m) & ~seen
    parts.append(jnp.where(hit, g, 0))
    seen = seen | hit
  return (_untile(jnp.stack(parts, -1), window),)


_tiled_reduce.defvjp(_tiled_reduce_fwd, _tiled_reduce_bwd)


def max_pool(x, window: Window, strides: Optional[Window] = None, padding="VALID"):
  """Maximum over each window (padding never wins: it is -inf)."""
  window, strides, pads, out = _geometry(x, window, strides, padding)
  tiled = _tiled(x, window, strides, pads, out, True)
  return tiled if tiled is not None else _reduce(x, -jnp.inf, lax.max, window, strides, pads)


def min_pool(x, window: Window, strides: Optional[Window] = None, padding="VALID"):
  """Minimum over each window (padding never wins: it is +inf)."""
  window, strides, pads, out = _geometry(x, window, strides, padding)
  tiled = _tiled(x, window, strides, pads, out, False)
  return tiled if tiled is not None else _reduce(x, jnp.inf, lax.min, window, strides, pads)


def avg_pool(x, window: Window, strides: Optional[Window] = None, padding="VALID",
             count_include_pad: bool = True):
  """Mean over each window; padded zeros count unless ``count_include_pad=False``."""
  window, strides, pads, _ = _geometry(x, window, strides, padding)
  xc = x.astype(_compute_dtype(x.dtype))
  total = _window_sum(xc, window, strides, pads)
  return (total / _window_count(xc, window, strides, pads, count_include_pad)).astype(x.dtype)


def lp_pool(x, window: Window, strides: Optional[Window] = None, padding="VALID", p: float = 2.0,
            form: str = "sum", count_include_pad: bool = True):
  """Lp pooling of ``|x|`` in one of its two forms in use.

  * ``form="sum"``:  ``(Σ |x|ᵖ)^(1/p)`` — PyTorch's ``lp_pool`` and the L2 pooling
    of the MNIST-1D paper (for non-negative inputs they agree exactly);
  * ``form="mean"``: ``(mean |x|ᵖ)^(1/p)`` — the root-mean form (Sermanet et al.).

  An all-zero window gives 0 with a zero gradient, never NaN.
  """
  if form not in ("sum", "mean"):
    raise ValueError(f"lp_pool form must be 'sum' or 'mean', got {form!r}")
  if not p >= 1:
    raise ValueError(f"lp_pool needs p >= 1, got {p}")
  window, strides, pads, _ = _geometry(x, window, strides, padding)
  xc = x.astype(_compute_dtype(x.dtype))
  powered = xc * xc if p == 2 else jnp.abs(xc) ** p
  s = _window_sum(powered, window, strides, pads)
  if form == "mean":
    s = s / _window_count(xc, window, strides, pads, count_include_pad)
  return _safe_root(s, p).astype(x.dtype)


def stochastic_pool(x, window: Window, strides: Optional[Window] = None, padding="VALID", *,
                    rng: Optional[jax.Array] = None, train: bool = False):
  """Stochastic pooling (Zeiler & Fergus 2013) for non-negative inputs.

  With ``pᵢ = aᵢ / Σⱼ aⱼ`` over each window: at train time one element is sampled
  per window and channel with probability ``pᵢ`` (from the explicit key ``rng``);
  at test time the output is the probability-weighted average ``Σ pᵢ aᵢ``. A window
  of zeros gives 0, never NaN. Gradients flow to the sampled element (train) or
  through the weighted average (test). Negative inputs are invalid: models reject
  this pooling after activations whose range includes negatives.

  The sample is drawn by inverting the window's cumulative weights with one uniform
  ``u`` per window: element ``i`` is taken when ``cᵢ₋₁ ≤ u·Σa < cᵢ`` (``c`` the running
  sums), an interval of length ``aᵢ`` — exact, and one random number per window where
  Gumbel-max sampling (``jax.random.categorical``) needs a logarithm of each weight
  and two of each noise draw (3.7× the run time of max pooling, benchmarks/NOTES.md §8).
  """
  xc = x.astype(_compute_dtype(x.dtype))
  patches = extract_patches(xc, window, strides, padding)  # (N, *out, C, K)
  if train:
    if rng is None:
      raise ValueError("stochastic pooling needs an explicit PRNG key `rng` at train time")
    cdf = jnp.cumsum(jnp.maximum(lax.stop_gradient(patches), 0), axis=-1)
    u = jax.random.uniform(rng, cdf.shape[:-1] + (1,), cdf.dtype)
    # The number of running sums at or below u·total is the sampled index; an all-zero
    # window counts all K of them (its output is 0 whichever element it names).
    idx = jnp.minimum(jnp.sum(cdf <= u * cdf[..., -1:], axis=-1), patches.shape[-1] - 1)
    picked = lax.broadcasted_iota(jnp.int32, patches.shape, patches.ndim - 1) == idx[..., None]
    out = jnp.sum(jnp.where(picked, patches, 0), axis=-1)
  else:
    out = _safe_div((patches * patches).sum(-1), patches.sum(-1))
  return out.astype(x.dtype)


def mixed_pool(x, window: Window, strides: Optional[Window] = None, padding="VALID", *,
               alpha):
  """Mixed max-average pooling (Lee et al. 2016): ``α·max + (1 − α)·avg``.

  ``alpha`` in [0, 1] is a scalar (one per layer) or has one entry per channel.
  """
  mx = max_pool(x, window, strides, padding).astype(_compute_dtype(x.dtype))
  av = avg_pool(x.astype(_compute_dtype(x.dtype)), window, strides, padding)
  alpha = jnp.asarray(alpha, av.dtype)
  return (alpha * mx + (1 - alpha) * av).astype(x.dtype)


def gated_pool(x, window: Window, strides: Optional[Window] = None, padding="VALID", *, omega):
  """Gated max-average pooling (Lee et al. 2016): ``α·max + (1 − α)·avg``, ``α = σ(ωᵀx)``.

  The gate is computed from each window's own values: ``omega`` has one weight per
  window element (shape ``(K,)``, shared by all channels) or one per element and
  channel (shape ``(K, C)``), with ``K = prod(window)``.
  """
  xc = x.astype(_compute_dtype(x.dtype))
  patches = extract_patches(xc, window, strides, padding)  # (N, *out, C, K)
  omega = jnp.asarray(omega, xc.dtype)
  k = patches.shape[-1]
  if omega.shape not in ((k,), (k, x.shape[-1])):
    raise shapes.ShapeError(
        f"gated pooling: omega has shape {omega.shape}, expected ({k},) or ({k}, {x.shape[-1]})")
  if omega.ndim == 1:
    gate = jax.nn.sigmoid(patches @ omega)
  else:
    gate = jax.nn.sigmoid(jnp.einsum("...ck,kc->...c", patches, omega))
  mx = max_pool(xc, window, strides, padding)
  av = avg_pool(xc, window, strides, padding)
  return (gate * mx + (1 - gate) * av).astype(x.dtype)


def distance_weights(window: Sequence[int], sigma: float) -> np.ndarray:
  """Gaussian weights ``exp(−d²/2σ²)`` by distance d to the window centre, flattened (K,)."""
  grids = np.meshgrid(*[np.arange(f) - (f - 1) / 2 for f in window], indexing="ij")
  d2 = sum(g.astype(np.float64) ** 2 for g in grids)
  return np.exp(-d2 / (2.0 * sigma ** 2)).reshape(-1)


def distance_weighted_pool(x, window: Window, strides: Optional[Window] = None,
                           padding="VALID", sigma: float = 1.0):
  """Weighted average whose weights fall with the distance from the window centre.

  Gaussian weights with standard deviation ``sigma`` (in pixels), normalised over
  the window elements that lie inside the input, so padding never dilutes the mean.
  A 2×2 window has four equidistant elements: it is a plain average.
  """
  if not sigma > 0:
    raise ValueError(f"distance_weighted_pool needs sigma > 0, got {sigma}")
  window, strides, pads, _ = _geometry(x, window, strides, padding)
  xc = x.astype(_compute_dtype(x.dtype))
  w = jnp.asarray(distance_weights(window, sigma), xc.dtype)
  num = extract_patches(xc, window, strides, pads) @ w
  den = _valid_mask(xc, window, strides, pads) @ w
  return (num / den).astype(x.dtype)


def subsample(x, window: Window, strides: Optional[Window] = None, padding="VALID"):
  """Keeps the first element of each window: plain striding (the 'stride_2' baseline)."""
  window, strides, pads, out = _geometry(x, window, strides, padding)
  xp = jnp.pad(x, ((0, 0),) + tuple(pads) + ((0, 0),))
  limit = (x.shape[0],) + tuple((n - 1) * s + 1 for n, s in zip(out, strides)) + (x.shape[-1],)
  return lax.slice(xp, (0,) * x.ndim, limit, _full(strides))


def identity_pool(x, window: Optional[Window] = None, strides=None, padding=None):
  """No pooling: returns the input unchanged, whatever the window."""
  del window, strides, padding
  return x


# ----------------------------------------------------------------------------
# Global pooling: (N, *spatial, C) -> (N, C), or (N, 1, ..., 1, C) with keepdims.


def _spatial_axes(x) -> Tuple[int, ...]:
  if x.ndim < 3:
    raise shapes.ShapeError(f"global pooling expects (N, *spatial, C), got shape {x.shape}")
  return tuple(range(1, x.ndim - 1))


def global_avg_pool(x, keepdims: bool = False):
  """Mean over all spatial positions."""
  xc = x.astype(_compute_dtype(x.dtype))
  return xc.mean(_spatial_axes(x), keepdims=keepdims).astype(x.dtype)


def global_max_pool(x, keepdims: bool = False):
  """Maximum over all spatial positions."""
  return x.max(_spatial_axes(x), keepdims=keepdims)


def gem_pool(x, p=3.0, eps: float = 1e-6, keepdims: bool = False):
  """Generalized-mean pooling ``(mean clamp(x, eps)ᵖ)^(1/p)``; p=1 is avg, p→∞ is max."""
  xc = jnp.maximum(x.astype(_compute_dtype(x.dtype)), eps)
  p = jnp.maximum(jnp.asarray(p, xc.dtype), 1.0)
  axes = _spatial_axes(x)
  # (mean xᵖ)^(1/p) = m·(mean (x/m)ᵖ)^(1/p) with m the maximum: no overflow for large p.
  m = lax.stop_gradient(xc.max(axes, keepdims=True))
  out = m * ((xc / m) ** p).mean(axes, keepdims=True) ** (1.0 / p)
  return (out if keepdims else out.reshape(out.shape[0], -1)).astype(x.dtype)
