"""Convolution as a pure function, channels-last, 1-D / 2-D / 3-D.

``conv(x, kernel)`` with ``x`` of shape ``(N, *spatial, C_in)`` and ``kernel`` of
shape ``(*window, C_in / groups, C_out)`` (Flax's layout), with stride, padding
(VALID / SAME / int / per-axis pairs), dilation and feature groups. The output
size follows :func:`cnnlab.ops.shapes.output_sizes`, which is also where a window
that does not fit is reported, naming the layer.
"""

from __future__ import annotations

from typing import Optional, Sequence, Union

import jax
import jax.numpy as jnp
from jax import lax

from cnnlab.ops import shapes

_SPEC = {1: ("NWC", "WIO", "NWC"), 2: ("NHWC", "HWIO", "NHWC"), 3: ("NDHWC", "DHWIO", "NDHWC")}


def conv(x: jax.Array, kernel: jax.Array, bias: Optional[jax.Array] = None,
         strides: Union[int, Sequence[int]] = 1, padding: shapes.Padding = "VALID",
         dilation: Union[int, Sequence[int]] = 1, groups: int = 1,
         layer: Optional[str] = None) -> jax.Array:
  """N-D convolution (cross-correlation, as every deep learning library computes it)."""
  ndim = x.ndim - 2
  if ndim not in _SPEC or kernel.ndim != ndim + 2:
    raise shapes.ShapeError(
        f"{'layer %r: ' % layer if layer else ''}conv expects x (N, *spatial, C) with 1-3 "
        f"spatial axes and a kernel (*window, C_in/groups, C_out); got {x.shape}, {kernel.shape}")
  window = kernel.shape[:ndim]
  strides = shapes.as_tuple(strides, ndim, "stride", layer)
  dilation = shapes.as_tuple(dilation, ndim, "dilation", layer)
  if x.shape[-1] != kernel.shape[-2] * groups:
    raise shapes.ShapeError(
        f"{'layer %r: ' % layer if layer else ''}input has {x.shape[-1]} channels but the "
        f"kernel expects {kernel.shape[-2]}×{groups} groups")
  pads = shapes.resolve_padding(padding, x.shape[1:-1], window, strides, dilation, layer)
  shapes.output_sizes(x.shape[1:-1], window, strides, pads, dilation, layer)
  y = lax.conv_general_dilated(
      x, kernel.astype(x.dtype), window_strides=strides, padding=pads, rhs_dilation=dilation,
      dimension_numbers=_SPEC[ndim], feature_group_count=groups)
  if bias is not None:
    y = y + bias.astype(y.dtype)
  return y


def dense(x: jax.Array, kernel: jax.Array, bias: Optional[jax.Array] = None) -> jax.Array:
  """``x @ W + b`` over the last axis."""
  y = jnp.matmul(x, kernel.astype(x.dtype))
  return y if bias is None else y + bias.astype(y.dtype)
