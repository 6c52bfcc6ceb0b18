"""Shape arithmetic for convolutions and pooling: output sizes, padding, receptive fields.

The output size along one spatial axis is ``floor((W − F + 2P) / S) + 1`` where a
dilated window covers ``F → d·(F − 1) + 1`` inputs. Padding may be

* ``"VALID"``: no padding;
* ``"SAME"``: output ``ceil(W / S)``, the total padding split with the extra
  element at the end (the convention of XLA, TensorFlow and Flax);
* an int ``P``: P on both sides of every axis;
* a sequence with one entry per axis, each an int or a ``(low, high)`` pair.

Everything here is plain Python on static shapes, so models can check a whole
stack of layers before anything is traced or compiled; errors name the layer.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np
from cnnlab.errors import ShapeError  # noqa: F401  (raised here; defined with the others)

Padding = Union[str, int, Sequence[Union[int, Tuple[int, int]]]]
PadPairs = Tuple[Tuple[int, int], ...]


def _where(name: Optional[str]) -> str:
  return f"layer {name!r}: " if name else ""


def as_tuple(value: Union[int, Sequence[int]], ndim: int, what: str,
             name: Optional[str] = None) -> Tuple[int, ...]:
  """Broadcasts an int to ``ndim`` ints; checks a sequence has ``ndim`` entries."""
  if isinstance(value, (int, np.integer)):
    out = (int(value),) * ndim
  else:
    out = tuple(int(v) for v in value)
    if len(out) != ndim:
      raise ShapeError(
          f"{_where(name)}{what} {tuple(value)} has {len(out)} entries, expected {ndim} "
          f"(one per spatial axis)")
  if any(v < 1 for v in out):
    raise ShapeError(f"{_where(name)}{what} must be positive, got {out}")
  return out


def effective_window(window: int, dilation: int = 1) -> int:
  """Inputs covered by a dilated window: ``d·(F − 1) + 1``."""
  return dilation * (window - 1) + 1


def resolve_padding(padding: Padding, in_sizes: Sequence[int], windows: Sequence[int],
                    strides: Sequence[int], dilations: Optional[Sequence[int]] = None,
                    name: Optional[str] = None) -> PadPairs:
  """Turns any accepted padding spec into explicit ``(low, high)`` pairs per axis."""
  ndim = len(in_sizes)
  dilations = tuple(dilations) if dilations is not None else (1,) * ndim
  if isinstance(padding, str):
    mode = padding.upper()
    if mode == "VALID":
      return ((0, 0),) * ndim
    if mode == "SAME":
      pairs = []
      for w, f, s, d in zip(in_sizes, windows, strides, dilations):
        out = -(-w // s)
        total = max((out - 1) * s + effective_window(f, d) - w, 0)
        pairs.append((total // 2, total - total // 2))
      return tuple(pairs)
    raise ShapeError(
        f"{_where(name)}unknown padding {padding!r}; use 'VALID', 'SAME', an int, or "
        f"one int or (low, high) pair per spatial axis")
  if isinstance(padding, (int, np.integer)):
    pairs = ((int(padding), int(padding)),) * ndim
  else:
    padding = list(padding)
    if len(padding) != ndim:
      raise ShapeError(
          f"{_where(name)}padding {padding} has {len(padding)} entries, expected {ndim}")
    pairs = tuple((int(p), int(p)) if isinstance(p, (int, np.integer))
                  else (int(p[0]), int(p[1])) for p in padding)
  if any(lo < 0 or hi < 0 for lo, hi in pairs):
    raise ShapeError(f"{_where(name)}padding must be non-negative, got {pairs}")
  return tuple(pairs)


def _one_axis(padding: Padding) -> Padding:
  """A single axis' padding ('SAME', 2 or (1, 2)) in the all-axes form."""
  if isinstance(padding, (str, int, np.integer)):
    return padding
  return [tuple(padding)]


def output_size(size: int, window: int, stride: int = 1, padding: Padding = "VALID",
                dilation: int = 1, name: Optional[str] = None) -> int:
  """Output length along one axis: ``floor((W − F_eff + P_lo + P_hi) / S) + 1``.

  Raises:
    ShapeError: naming ``name`` when the (dilated) window is larger than the
      padded input, i.e. when not even one output position exists.
  """
  return output_sizes((size,), (window,), (stride,), _one_axis(padding), (dilation,),
                      name)[0]


def output_sizes(in_sizes: Sequence[int], windows: Sequence[int], strides: Sequence[int],
                 padding: Padding = "VALID", dilations: Optional[Sequence[int]] = None,
                 name: Optional[str] = None) -> Tuple[int, ...]:
  """Output spatial sizes for all axes at once (see :func:`output_size`)."""
  ndim = len(in_sizes)
  windows = as_tuple(windows, ndim, "window", name)
  strides = as_tuple(strides, ndim, "stride", name)
  dilations = as_tuple(dilations if dilations is not None else 1, ndim, "dilation", name)
  pairs = resolve_padding(padding, in_sizes, windows, strides, dilations, name)
  out = []
  for axis, (w, f, s, d, (lo, hi)) in enumerate(zip(in_sizes, windows, strides, dilations, pairs)):
    span = w + lo + hi
    f_eff = effective_window(f, d)
    if f_eff > span:
      dil = f" (dilation {d} makes it {f_eff})" if d > 1 else ""
      raise ShapeError(
          f"{_where(name)}window {f}{dil} is larger than the padded input {span} "
          f"(size {w} + padding {lo}+{hi}) on spatial axis {axis}; input spatial shape "
          f"{tuple(in_sizes)}")
    out.append((span - f_eff) // s + 1)
  return tuple(out)


# ----------------------------------------------------------------------------
# Receptive fields.


@dataclasses.dataclass(frozen=True)
class Geometry:
  """Where one layer's outputs sit on the input, along one axis.

  Attributes:
    name: the layer.
    size: number of output positions.
    jump: distance, in input pixels, between adjacent outputs.
    receptive_field: input pixels that influence one output.
    start: input coordinate of the centre of the first output's receptive field
      (negative or fractional values are normal with padding or even windows).
  """
  name: str
  size: int
  jump: int
  receptive_field: int
  start: float


@dataclasses.dataclass(frozen=True)
class LayerSpec:
  """The geometry of one layer along one axis: window, stride, low padding, dilation."""
  name: str
  window: int = 1
  stride: int = 1
  padding: Padding = "VALID"
  dilation: int = 1


def receptive_fields(layers: Iterable[Union[LayerSpec, Tuple]], input_size: int,
                     ) -> List[Geometry]:
  """Size, jump, receptive field and start of every layer of a stack (one axis).

  Uses the layer-by-layer recurrences ``j_out = j_in·s``,
  ``r_out = r_in + (F_eff − 1)·j_in`` and
  ``start_out = start_in + ((F_eff − 1)/2 − P_lo)·j_in``, starting from the input
  (size W, jump 1, receptive field 1, start 0: the centre of the first pixel).

  Args:
    layers: ``LayerSpec``s or tuples ``(name, window, stride, padding, dilation)``.
    input_size: the input length along this axis.
  """
  size, jump, rf, start = int(input_size), 1, 1, 0.0
  out = []
  for layer in layers:
    spec = layer if isinstance(layer, LayerSpec) else LayerSpec(*layer)
    (lo, _), = resolve_padding(_one_axis(spec.padding), (size,), (spec.window,),
                               (spec.stride,), (spec.dilation,), spec.name)
    f_eff = effective_window(spec.window, spec.dilation)
    new_size = output_size(size, spec.window, spec.stride, spec.padding, spec.dilation,
                           spec.name)
    start = start + ((f_eff - 1) / 2 - lo) * jump
    rf = rf + (f_eff - 1) * jump
    jump = jump * spec.stride
    size = new_size
    out.append(Geometry(spec.name, size, jump, rf, start))
  return out


def receptive_field(layers: Iterable[Union[LayerSpec, Tuple]], input_size: int) -> int:
  """Receptive field of the last layer of a stack (one axis)."""
  geoms = receptive_fields(layers, input_size)
  return geoms[-1].receptive_field if geoms else 1


# ----------------------------------------------------------------------------
# Parameter counts.


def conv_param_count(in_channels: int, out_channels: int, window: Union[int, Sequence[int]],
                     use_bias: bool = True, groups: int = 1, ndim: int = 2) -> int:
  """Weights ``prod(F)·C_in/groups·C_out`` plus ``C_out`` biases.

  An int ``window`` means the same size on each of ``ndim`` spatial axes.
  """
  if in_channels % groups or out_channels % groups:
    raise ShapeError(f"channels {in_channels}->{out_channels} not divisible by groups {groups}")
  window = (window,) * ndim if isinstance(window, int) else tuple(window)
  return math.prod(window) * (in_channels // groups) * out_channels + (
      out_channels if use_bias else 0)


def dense_param_count(in_features: int, out_features: int, use_bias: bool = True) -> int:
  return in_features * out_features + (out_features if use_bias else 0)


def param_count(tree) -> int:
  """Number of scalars in a pytree of arrays (e.g. a Flax ``params`` collection)."""
  import jax  # local: keep this module importable without initialising a backend
  return int(sum(np.size(leaf) for leaf in jax.tree_util.tree_leaves(tree)))
