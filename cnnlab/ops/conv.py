"""Convolution as a pure function, channels-last, 1-D / 2-D / 3-D.

``conv(x, kernel)`` with ``x`` of shape ``(N, *spatial, C_in)`` and ``kernel`` of
shape ``(*window, C_in / groups, C_out)`` (Flax's layout), with stride, padding
(VALID / SAME / int / per-axis pairs), dilation and feature groups. The output
size follows :func:`cnnlab.ops.shapes.output_sizes`, which is also where a window
that does not fit is reported, naming the layer.
"""

from __future__ import annotations

import itertools
import math
import os
from typing import Optional, Sequence, Union

import jax
import jax.numpy as jnp
from jax import lax

from cnnlab.ops import shapes

_SPEC = {1: ("NWC", "WIO", "NWC"), 2: ("NHWC", "HWIO", "NHWC"), 3: ("NDHWC", "DHWIO", "NDHWC")}


def conv(x: jax.Array, kernel: jax.Array, bias: Optional[jax.Array] = None,
         strides: Union[int, Sequence[int]] = 1, padding: shapes.Padding = "VALID",
         dilation: Union[int, Sequence[int]] = 1, groups: int = 1,
         layer: Optional[str] = None, form: str = "auto") -> jax.Array:
  """N-D convolution (cross-correlation, as every deep learning library computes it).

  ``form`` picks how it is computed (:data:`FORMS`); ``"auto"`` takes the form measured
  fastest for the backend and shape (:func:`choose_form`).
  """
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
  out = shapes.output_sizes(x.shape[1:-1], window, strides, pads, dilation, layer)
  kernel = kernel.astype(x.dtype)
  form = choose_form(x.shape, kernel.shape, groups) if form == "auto" else form
  if form == "xla":
    y = lax.conv_general_dilated(
        x, kernel, window_strides=strides, padding=pads, rhs_dilation=dilation,
        dimension_numbers=_SPEC[ndim], feature_group_count=groups)
  elif form in FORMS:
    y = _as_dots(x, kernel, strides, pads, dilation, groups, tuple(out), form == "im2col")
  else:
    raise ValueError(f"unknown convolution form {form!r}; valid: 'auto', "
                     f"{', '.join(map(repr, FORMS))}")
  if bias is not None:
    y = y + bias.astype(y.dtype)
  return y


# The forms a convolution can be lowered to; all compute the same function.
#   xla:     lax.conv_general_dilated (XLA's own convolution kernels);
#   im2col:  the K = prod(window) shifted, strided slices of the input concatenated on
#            the channel axis, then one matrix product with the (K·C_in, C_out) kernel;
#   shifted: one matrix product per window offset, summed (no K-times-larger copy).
# Their gradients are JAX's automatic ones: of a slice, a pad; of a dot, two dots.
FORMS = ("xla", "im2col", "shifted")


# On XLA's CPU backend im2col wins up to this patch length, K·C_in (the window's
# elements times the input channels); benchmarks/conv_forms.py, RESULTS.md.
IM2COL_MAX_PATCH = 75


def choose_form(x_shape, kernel_shape, groups: int = 1, backend: Optional[str] = None) -> str:
  """The fastest form measured for this backend and shape (``benchmarks/conv_forms.py``).

  On XLA's CPU backend (forward + both gradients, RESULTS.md "Convolution forms"):
  im2col takes 0.43–0.89× XLA's time for MNIST-1D's 1-D convolutions and 0.53–0.61× for
  the first layer of an image net (5×5×1, 3×3×3), but 1.1–2.2× for 3×3 or 5×5 windows
  over 16 or more channels — the rule is the patch length ``K·C_in ≤ 75`` (measured
  winners 25–75, losers 144–576), in 1-D and 2-D, without feature groups. 3-D
  convolutions and accelerators keep ``lax.conv`` until measured otherwise. The
  environment variable ``CNNLAB_CONV_FORM`` overrides the choice (read when a program
  is traced; the benchmarks compare forms through the whole trainer with it).
  """
  forced = os.environ.get("CNNLAB_CONV_FORM")
  if forced:
    if forced not in FORMS:
      raise ValueError(f"CNNLAB_CONV_FORM={forced!r}; valid: {', '.join(FORMS)}")
    return forced
  backend = backend or jax.default_backend()
  patch = math.prod(kernel_shape[:-1])  # K · C_in/groups
  if backend == "cpu" and len(x_shape) in (3, 4) and groups == 1 and patch <= IM2COL_MAX_PATCH:
    return "im2col"
  return "xla"


def _as_dots(x, kernel, strides, pads, dilation, groups, out, concat: bool):
  """The convolution as slices and matrix products (see :data:`FORMS`)."""
  n, c_in, c_out = x.shape[0], x.shape[-1], kernel.shape[-1]
  window = kernel.shape[:-2]
  xp = jnp.pad(x, ((0, 0),) + tuple(pads) + ((0, 0),)) if any(map(any, pads)) else x
  slices = []
  for offset in itertools.product(*(range(f) for f in window)):
    start = tuple(o * d for o, d in zip(offset, dilation))
    limit = tuple(s0 + (m - 1) * s + 1 for s0, m, s in zip(start, out, strides))
    slices.append(lax.slice(xp, (0,) + start + (0,), (n,) + limit + (c_in,),
                            (1,) + tuple(strides) + (1,)))
  k = len(slices)
  g, cg = groups, c_in // groups
  w = kernel.reshape(k, cg, g, c_out // g)  # (K, C_in/G, G, C_out/G): output channels grouped
  if concat:
    patches = jnp.stack(slices, axis=-2).reshape(x.shape[:1] + out + (k, g, cg))
    if g == 1:
      return jnp.dot(patches.reshape(-1, k * cg), w.reshape(k * cg, c_out)).reshape(
          x.shape[:1] + out + (c_out,))
    y = jnp.einsum("...kgc,kcgo->...go", patches, w)
  else:
    y = sum(jnp.einsum("...gc,cgo->...go", s.reshape(s.shape[:-1] + (g, cg)), w[i])
            for i, s in enumerate(slices))
  return y.reshape(x.shape[:1] + out + (c_out,))


def dense(x: jax.Array, kernel: jax.Array, bias: Optional[jax.Array] = None) -> jax.Array:
  """``x @ W + b`` over the last axis."""
  y = jnp.matmul(x, kernel.astype(x.dtype))
  return y if bias is None else y + bias.astype(y.dtype)
