"""Pooling as pure ``jax.numpy`` functions, channels-last, for 1-D, 2-D and 3-D inputs.

Inputs are ``(N, *spatial, C)`` (NWC, NHWC or NDHWC). ``window`` and ``strides``
are an int or one int per spatial axis (``strides`` defaults to ``window``);
``padding`` is anything :func:`cnnlab.ops.shapes.resolve_padding` accepts. Every
function is jit- and grad-safe and returns the dtype it was given (sums and
powers are carried out in float32 for half-precision inputs).

The functions are registered in :data:`POOLS` under the names models and configs
use. Registering a new one is one line (see :func:`register_pool`); the
conformance tests then check it without anyone writing a new test.

References: stochastic pooling — Zeiler & Fergus 2013; mixed and gated pooling —
Lee, Gallagher & Tu 2016; GeM — Radenović, Tolias & Chum 2018; RoI pooling —
Girshick 2015 (Fast R-CNN, Caffe's ROIPooling layer).
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
from typing import Any, Callable, Dict, Mapping, Optional, Sequence, Tuple, Union

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from cnnlab.ops import shapes
from cnnlab.registry import Registry, call_accepting, doc_summary

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
  k = jnp.argmax(t, -1) if is_max else jnp.argmin(t, -1)
  return jnp.take_along_axis(t, k[..., None], -1)[..., 0], k


def _tiled_reduce_bwd(window, is_max, res, g):
  # As reduce_window's gradient: all of it to the first extreme element of each window.
  onehot = jax.nn.one_hot(res, math.prod(window), dtype=g.dtype)
  return (_untile(onehot * g[..., None], window),)


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
  """
  xc = x.astype(_compute_dtype(x.dtype))
  patches = extract_patches(xc, window, strides, padding)  # (N, *out, C, K)
  total = patches.sum(-1)
  if train:
    if rng is None:
      raise ValueError("stochastic pooling needs an explicit PRNG key `rng` at train time")
    weights = jnp.maximum(lax.stop_gradient(patches), 0)
    logits = jnp.where(weights > 0, jnp.log(jnp.where(weights > 0, weights, 1)), -jnp.inf)
    # All-zero windows: sample uniformly (every element is 0, so is the output).
    logits = jnp.where(jnp.isfinite(logits).any(-1, keepdims=True), logits, 0.0)
    idx = jax.random.categorical(rng, logits, axis=-1)
    out = jnp.take_along_axis(patches, idx[..., None], axis=-1)[..., 0]
  else:
    out = _safe_div((patches * patches).sum(-1), total)
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


# ----------------------------------------------------------------------------
# RoI max pooling (Fast R-CNN).


def _round_half_away(v):
  return jnp.sign(v) * jnp.floor(jnp.abs(v) + 0.5)


def roi_max_pool(features, rois, output_size: Window = 7, spatial_scale: float = 1.0):
  """RoI max pooling: a box of any size in, a fixed grid of max-pooled cells out.

  Follows Caffe's ROIPooling layer used by Fast R-CNN: box corners are scaled by
  ``spatial_scale`` and rounded; the box (inclusive corners, at least 1×1) is split
  into an ``output_size`` grid of cells with floor/ceil boundaries, clipped to the
  feature map; each cell holds the maximum over its pixels, and an empty cell (a
  box that lies outside the map) holds 0.

  Args:
    features: ``(N, H, W, C)`` feature maps.
    rois: ``(R, 5)`` rows ``(batch_index, x1, y1, x2, y2)`` in input coordinates.
    output_size: cells per box, ``(rows, cols)`` or one int.
    spatial_scale: feature-map pixels per input pixel (1/16 for VGG-16 conv5).

  Returns:
    ``(R, rows, cols, C)``.
  """
  if features.ndim != 4:
    raise shapes.ShapeError(f"roi_max_pool expects (N, H, W, C) features, got {features.shape}")
  rois = jnp.asarray(rois)
  if rois.ndim != 2 or rois.shape[1] != 5:
    raise shapes.ShapeError(
        f"roi_max_pool expects rois of shape (R, 5) = (batch_index, x1, y1, x2, y2), got "
        f"{rois.shape}")
  gh, gw = shapes.as_tuple(output_size, 2, "output_size")
  _, height, width, _ = features.shape
  neg = jnp.asarray(-jnp.inf, features.dtype)

  def cell_bounds(lo, hi, cells, limit):
    extent = jnp.maximum(hi - lo + 1, 1).astype(jnp.float32)
    bin_size = extent / cells
    idx = jnp.arange(cells, dtype=jnp.float32)
    start = jnp.clip(jnp.floor(idx * bin_size) + lo, 0, limit)
    end = jnp.clip(jnp.ceil((idx + 1) * bin_size) + lo, 0, limit)
    return start, end

  def one(roi):
    b = roi[0].astype(jnp.int32)
    x1, y1, x2, y2 = (_round_half_away(roi[i] * spatial_scale) for i in range(1, 5))
    hs, he = cell_bounds(y1, y2, gh, height)
    ws, we = cell_bounds(x1, x2, gw, width)
    rows, cols = jnp.arange(height), jnp.arange(width)
    row_mask = (rows[None, :] >= hs[:, None]) & (rows[None, :] < he[:, None])  # (gh, H)
    col_mask = (cols[None, :] >= ws[:, None]) & (cols[None, :] < we[:, None])  # (gw, W)
    fmap = lax.dynamic_index_in_dim(features, b, axis=0, keepdims=False)  # (H, W, C)
    by_col = jnp.where(col_mask[None, :, :, None], fmap[:, None], neg).max(axis=2)  # (H, gw, C)
    cells = jnp.where(row_mask[:, :, None, None], by_col[None], neg).max(axis=1)  # (gh, gw, C)
    return jnp.where(jnp.isneginf(cells), jnp.zeros_like(cells), cells)

  return jax.vmap(one)(rois)


# ----------------------------------------------------------------------------
# The registry.


@dataclasses.dataclass(frozen=True)
class PoolSpec:
  """A registered pooling op and what models need to know to use it safely.

  Attributes:
    name: the registry name.
    fn: the pure function; called with the keyword arguments it accepts among
      ``window, strides, padding, rng, train``, its learnable parameters and options.
    kind: ``"window"`` (obeys the output-size formula), ``"global"`` (→ (N, C)) or
      ``"identity"``.
    requires_nonnegative: inputs must be >= 0 (stochastic pooling); a model
      rejects it after an activation whose declared range includes negatives.
    stochastic: draws random numbers at train time (needs an ``rng``).
    init: ``init(key, num_channels, window, **options) -> {param: array}`` for
      learnable pools; the arrays are passed to ``fn`` by name.
    options: default keyword options (``p`` of Lp pooling, ``sigma``, ...).
    description: one line for listings.
  """
  name: str
  fn: Callable[..., jax.Array]
  kind: str = "window"
  requires_nonnegative: bool = False
  stochastic: bool = False
  init: Optional[Callable[..., Dict[str, jax.Array]]] = None
  options: Mapping[str, Any] = dataclasses.field(default_factory=dict)
  description: str = ""

  @property
  def learnable(self) -> bool:
    return self.init is not None

  def describe(self) -> str:
    flags = [f for f, on in (("learnable", self.learnable), ("stochastic", self.stochastic),
                             ("needs x>=0", self.requires_nonnegative)) if on]
    extra = f" [{', '.join(flags)}]" if flags else ""
    return f"{self.kind:<8} {self.description}{extra}"

  def output_shape(self, in_shape: Sequence[int], window: Optional[Window] = None,
                   strides: Optional[Window] = None, padding="VALID",
                   layer: Optional[str] = None) -> Tuple[int, ...]:
    """Static output shape, raising ShapeError (naming ``layer``) if the window does not fit."""
    in_shape = tuple(in_shape)
    if self.kind == "identity":
      return in_shape
    if self.kind == "global":
      return (in_shape[0], in_shape[-1])
    dummy = jax.ShapeDtypeStruct(in_shape, jnp.float32)
    _, _, _, out = _geometry(dummy, window, strides, padding, layer)
    return (in_shape[0],) + out + (in_shape[-1],)

  def init_params(self, key, num_channels: int, window: Optional[Window] = None,
                  ndim: int = 2, **options) -> Dict[str, jax.Array]:
    if self.init is None:
      return {}
    win = shapes.as_tuple(window if window is not None else 1, ndim, "window")
    opts = {**self.options, **options}
    return self.init(key, num_channels, win, **opts)

  def __call__(self, x, window: Optional[Window] = None, strides: Optional[Window] = None,
               padding="VALID", *, params: Optional[Mapping[str, jax.Array]] = None,
               rng=None, train: bool = False, layer: Optional[str] = None, **options):
    if self.kind == "window":
      if window is None:
        raise ValueError(f"{'layer %r: ' % layer if layer else ''}pooling {self.name!r} "
                         f"needs a window")
      _geometry(x, window, strides, padding, layer)  # a clear error naming the layer
    if self.stochastic and train and rng is None:
      raise ValueError(f"{'layer %r: ' % layer if layer else ''}pooling {self.name!r} "
                       f"needs an rng at train time")
    kwargs = {"window": window, "strides": strides, "padding": padding, "rng": rng,
              "train": train, **self.options, **options, **(params or {})}
    return call_accepting(self.fn, x, kwargs)


POOLS: Registry[PoolSpec] = Registry("pooling")
ROI_POOLS: Registry[PoolSpec] = Registry("RoI pooling")


def register_pool(name: str, fn: Optional[Callable] = None, *, kind: str = "window",
                  requires_nonnegative: bool = False, stochastic: bool = False,
                  init: Optional[Callable] = None, description: Optional[str] = None,
                  overwrite: bool = False, registry: Registry = POOLS, **options):
  """Registers a pooling function under ``name``; usable as a call or a decorator.

  One line is enough for a new op, e.g. in a test or a notebook::

      register_pool("double_avg", lambda x, window, strides=None, padding="VALID":
                    2 * avg_pool(x, window, strides, padding))

  From then on every model, config and sweep accepts ``pool="double_avg"`` and the
  registry conformance tests check it.
  """
  if kind not in ("window", "global", "identity"):
    raise ValueError(f"pool kind must be 'window', 'global' or 'identity', got {kind!r}")

  def add(f: Callable) -> Callable:
    registry.add(name, PoolSpec(name, f, kind, requires_nonnegative, stochastic, init,
                                dict(options), description or doc_summary(f)),
                 overwrite=overwrite)
    return f

  return add if fn is None else add(fn)


def get_pool(name: str) -> PoolSpec:
  return POOLS.get(name)


def _mixed_init(key, num_channels, window, per_channel: bool = False, **_):
  del key, window
  shape = (num_channels,) if per_channel else ()
  return {"alpha_logit": jnp.zeros(shape, jnp.float32)}  # α = σ(0) = 0.5


def _gated_init(key, num_channels, window, per_channel: bool = False, **_):
  k = math.prod(window)
  shape = (k, num_channels) if per_channel else (k,)
  return {"omega": jax.random.normal(key, shape, jnp.float32) * (1.0 / math.sqrt(k))}


def _gem_init(key, num_channels, window, p: float = 3.0, **_):
  del key, num_channels, window
  return {"p": jnp.asarray(p, jnp.float32)}


def _mixed_learned(x, window, strides=None, padding="VALID", *, alpha_logit):
  """α·max + (1−α)·avg, α = σ(learned logit) per layer (or per channel)"""
  return mixed_pool(x, window, strides, padding, alpha=jax.nn.sigmoid(alpha_logit))


register_pool("none", identity_pool, kind="identity")
register_pool("max", max_pool)
register_pool("avg", avg_pool, description="Mean over each window (padding counted)")
register_pool("avg_exclude_pad", lambda x, window, strides=None, padding="VALID": avg_pool(
    x, window, strides, padding, count_include_pad=False),
              description="Mean over each window (padding not counted)")
register_pool("min", min_pool)
register_pool("lp_sum", lambda x, window, strides=None, padding="VALID", p=3.0: lp_pool(
    x, window, strides, padding, p=p, form="sum"), p=3.0,
              description="(Σ|x|ᵖ)^(1/p), PyTorch lp_pool form (option p, default 3)")
register_pool("lp_mean", lambda x, window, strides=None, padding="VALID", p=3.0: lp_pool(
    x, window, strides, padding, p=p, form="mean"), p=3.0,
              description="(mean |x|ᵖ)^(1/p), root-mean form (option p, default 3)")
register_pool("l2_sum", lambda x, window, strides=None, padding="VALID": lp_pool(
    x, window, strides, padding, p=2.0, form="sum"),
              description="sqrt(Σx²): PyTorch lp_pool(p=2), the MNIST-1D paper's 'L2'")
register_pool("l2_rms", lambda x, window, strides=None, padding="VALID": lp_pool(
    x, window, strides, padding, p=2.0, form="mean"),
              description="sqrt(mean x²): the root-mean-square form of L2 pooling")
POOLS.hint("l2", "L2 pooling has two forms in use; choose 'l2_sum' (sqrt(Σx²), PyTorch's "
           "lp_pool) or 'l2_rms' (sqrt(mean x²))")
POOLS.hint("lp", "choose 'lp_sum' ((Σ|x|ᵖ)^(1/p)) or 'lp_mean' ((mean|x|ᵖ)^(1/p))")
register_pool("stochastic", stochastic_pool, requires_nonnegative=True, stochastic=True,
              description="Train: sample with pᵢ=aᵢ/Σa; test: Σpᵢaᵢ (Zeiler & Fergus)")
register_pool("mixed", _mixed_learned, init=_mixed_init, per_channel=False,
              description="α·max + (1−α)·avg, α learned (option per_channel)")
register_pool("gated", gated_pool, init=_gated_init, per_channel=False,
              description="α·max + (1−α)·avg, α = σ(ωᵀx) per window (option per_channel)")
register_pool("distance_weighted", distance_weighted_pool, sigma=1.0,
              description="Gaussian-weighted average by distance to the window centre "
                          "(option sigma)")
register_pool("subsample", subsample,
              description="First element of each window: plain striding ('stride_2')")
register_pool("global_avg", global_avg_pool, kind="global")
register_pool("global_max", global_max_pool, kind="global")
register_pool("gem", gem_pool, kind="global", init=_gem_init, p=3.0,
              description="Generalized mean (mean xᵖ)^(1/p), p learned (init option p=3)")
register_pool("roi_max", roi_max_pool, kind="global", registry=ROI_POOLS,
              description="Fast R-CNN RoI max pooling: (N,H,W,C) + (R,5) boxes → (R,gh,gw,C)")
