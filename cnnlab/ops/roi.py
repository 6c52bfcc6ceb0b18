"""RoI max pooling (Fast R-CNN; Girshick 2015, Caffe's ROIPooling layer).

A box of any size in, a fixed grid of max-pooled cells out. The cell boundaries
``floor(i·extent/cells)`` and ``ceil((i+1)·extent/cells)`` are computed in integer
arithmetic: in floating point, XLA turns the division into a multiplication by a
rounded reciprocal, and where the quotient is a whole number ``ceil`` then went one
row or column past the box (14 of 128 box/grid cases on an 11×9 map).
"""

from __future__ import annotations

from typing import Sequence, Union

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from cnnlab.ops import shapes

Window = Union[int, Sequence[int]]


def _round_half_away(v):
  return jnp.sign(v) * jnp.floor(jnp.abs(v) + 0.5)


def _check_batch_index(rois, batch: int) -> None:
  """Batch indices must be whole numbers in ``[0, batch)`` (checked when concrete; under
  ``jit`` a box with a bad index gives NaN cells instead of another image's)."""
  if isinstance(rois, jax.core.Tracer):
    return
  b = np.asarray(rois)[:, 0]
  bad = (b != np.floor(b)) | (b < 0) | (b >= batch)
  if bad.any():
    i = int(np.argmax(bad))
    raise shapes.ShapeError(f"roi_max_pool: box {i} has batch index {b[i]:g}, but the "
                            f"features hold {batch} image(s) (valid: 0..{batch - 1})")


def _cell_bounds(lo, hi, cells: int, limit: int):
  """Start and end (exclusive) of each of ``cells`` cells over rows ``lo..hi``, clipped."""
  extent = jnp.maximum(hi - lo + 1, 1)
  idx = jnp.arange(cells, dtype=jnp.int32)
  start = (idx * extent) // cells                   # floor(i · extent / cells)
  end = ((idx + 1) * extent + cells - 1) // cells   # ceil((i + 1) · extent / cells)
  return jnp.clip(start + lo, 0, limit), jnp.clip(end + lo, 0, limit)


def roi_max_pool(features, rois, output_size: Window = 7, spatial_scale: float = 1.0):
  """RoI max pooling: a box of any size in, a fixed grid of max-pooled cells out.

  Box corners are scaled by ``spatial_scale`` and rounded half away from zero; the box
  (inclusive corners, at least 1×1) is split into an ``output_size`` grid of cells with
  floor/ceil boundaries, clipped to the feature map; each cell holds the maximum over
  its pixels, and an empty cell (a box outside the map) holds 0.

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
  if np.ndim(rois) != 2 or np.shape(rois)[1] != 5:
    raise shapes.ShapeError(
        f"roi_max_pool expects rois of shape (R, 5) = (batch_index, x1, y1, x2, y2), got "
        f"{np.shape(rois)}")
  _check_batch_index(rois, features.shape[0])
  rois = jnp.asarray(rois)
  gh, gw = shapes.as_tuple(output_size, 2, "output_size")
  n, height, width, _ = features.shape
  neg = jnp.asarray(-jnp.inf, features.dtype)

  def one(roi):
    b = roi[0].astype(jnp.int32)
    x1, y1, x2, y2 = (_round_half_away(roi[i] * spatial_scale).astype(jnp.int32)
                      for i in range(1, 5))
    hs, he = _cell_bounds(y1, y2, gh, height)
    ws, we = _cell_bounds(x1, x2, gw, width)
    rows, cols = jnp.arange(height), jnp.arange(width)
    row_mask = (rows[None, :] >= hs[:, None]) & (rows[None, :] < he[:, None])  # (gh, H)
    col_mask = (cols[None, :] >= ws[:, None]) & (cols[None, :] < we[:, None])  # (gw, W)
    fmap = lax.dynamic_index_in_dim(features, jnp.clip(b, 0, n - 1), axis=0, keepdims=False)
    by_col = jnp.where(col_mask[None, :, :, None], fmap[:, None], neg).max(axis=2)  # (H, gw, C)
    cells = jnp.where(row_mask[:, :, None, None], by_col[None], neg).max(axis=1)  # (gh, gw, C)
    cells = jnp.where(jnp.isneginf(cells), jnp.zeros_like(cells), cells)
    valid = (b >= 0) & (b < n) & (roi[0] == jnp.floor(roi[0]))
    return jnp.where(valid, cells, jnp.full_like(cells, jnp.nan))

  return jax.vmap(one)(rois)
