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
    receptive_field: input pixels that influence one output (the extent, first to last).
    start: input coordinate of the centre of the first output's receptive field
      (negative or fractional values are normal with padding or even windows).
  """
  name: str
  size: int
  jump: int
  receptive_field: int
  start: float

  def interval(self, position: int, input_size: Optional[int] = None) -> Tuple[int, int]:
    """First and last input pixel that output ``position`` depends on (clipped to the input
    when ``input_size`` is given: the part of a receptive field in the padding is not there)."""
    centre = self.start + position * self.jump
    lo, hi = centre - (self.receptive_field - 1) / 2, centre + (self.receptive_field - 1) / 2
    lo, hi = int(round(lo)), int(round(hi))
    if input_size is not None:
      lo, hi = max(lo, 0), min(hi, input_size - 1)
    return lo, hi


@dataclasses.dataclass(frozen=True)
class LayerSpec:
  """The geometry of one layer along one axis: window, stride, padding, dilation.

  ``window=None`` is a global layer (one output seeing the whole map). ``span`` is how
  many of each window's first inputs reach the output when fewer than all do: 1 for
  subsampling, which keeps each window's first element (``None``: the whole window).
  """
  name: str
  window: Optional[int] = 1
  stride: int = 1
  padding: Padding = "VALID"
  dilation: int = 1
  span: Optional[int] = None


@dataclasses.dataclass(frozen=True)
class Parallel:
  """Branches that see the same input and are merged position by position (a residual
  sum, a concatenation): each branch a sequence of layers (empty for the identity). The
  receptive field of the merge is the union of the branches'; they must agree on size
  and jump."""
  name: str
  branches: Tuple[Tuple[Union[LayerSpec, Tuple, "Parallel"], ...], ...]


Layer = Union[LayerSpec, Tuple, Parallel]


def _advance(g: Geometry, layer: Layer) -> Geometry:
  """The geometry after ``layer``, from the geometry ``g`` of its input."""
  if isinstance(layer, Parallel):
    outs = [_chain(g, branch) for branch in layer.branches]
    if len({(o.size, o.jump) for o in outs}) > 1:
      raise ShapeError(f"{_where(layer.name)}branches disagree on size/jump: "
                       + ", ".join(f"{o.size}/{o.jump}" for o in outs))
    lo = min(o.start - (o.receptive_field - 1) / 2 for o in outs)
    hi = max(o.start + (o.receptive_field - 1) / 2 for o in outs)
    return Geometry(layer.name, outs[0].size, outs[0].jump, int(round(hi - lo)) + 1,
                    (lo + hi) / 2)
  spec, lo, f_eff = _window(layer, g.size)
  size = output_size(g.size, spec.window, spec.stride, spec.padding, spec.dilation, spec.name)
  return Geometry(spec.name, size, g.jump * spec.stride,
                  g.receptive_field + (f_eff - 1) * g.jump,
                  g.start + ((f_eff - 1) / 2 - lo) * g.jump)


def _window(layer: Union[LayerSpec, Tuple], size: int) -> Tuple[LayerSpec, int, int]:
  """``(spec, low padding, inputs read)`` of one layer on an input of ``size``: a global
  layer as one window over the whole map; ``span`` narrows what a window reads."""
  spec = layer if isinstance(layer, LayerSpec) else LayerSpec(*layer)
  if spec.window is None:
    spec = dataclasses.replace(spec, window=size, stride=size, padding="VALID", dilation=1)
  (lo, _), = resolve_padding(_one_axis(spec.padding), (size,), (spec.window,),
                             (spec.stride,), (spec.dilation,), spec.name)
  f_eff = effective_window(spec.window if spec.span is None else spec.span, spec.dilation)
  return spec, lo, f_eff


def _chain(g: Geometry, layers: Iterable[Layer]) -> Geometry:
  for layer in layers:
    g = _advance(g, layer)
  return g


def receptive_fields(layers: Iterable[Layer], input_size: int) -> List[Geometry]:
  """Size, jump, receptive field and start of every layer of a stack (one axis).

  Uses the layer-by-layer recurrences ``j_out = j_in·s``,
  ``r_out = r_in + (F_eff − 1)·j_in`` and
  ``start_out = start_in + ((F_eff − 1)/2 − P_lo)·j_in``, starting from the input
  (size W, jump 1, receptive field 1, start 0: the centre of the first pixel); a
  :class:`Parallel` block takes the union of its branches' fields.

  Args:
    layers: ``LayerSpec``s, tuples ``(name, window, stride, padding, dilation)`` or
      ``Parallel`` blocks.
    input_size: the input length along this axis.
  """
  g, out = Geometry("input", int(input_size), 1, 1, 0.0), []
  for layer in layers:
    g = _advance(g, layer)
    out.append(g)
  return out


def input_interval(layers: Sequence[Layer], input_size: int, position: int,
                   upto: Optional[int] = None) -> Tuple[int, int]:
  """First and last input pixel that output ``position`` of layer ``upto`` (default: the
  last) reads, exactly: each layer's window is clipped to the positions its input really
  has (a window reaching into padding reads nothing there), so a field that the
  recurrences of :func:`receptive_fields` extend past a map's last real position is cut
  where it ends. ``(-1, -1)`` when the position reads only padding."""
  return input_intervals(layers, input_size, [position], upto)[0]


def input_intervals(layers: Sequence[Layer], input_size: int, positions: Sequence[int],
                    upto: Optional[int] = None) -> List[Tuple[int, int]]:
  """:func:`input_interval` of several positions of one layer."""
  layers = list(layers)
  upto = len(layers) - 1 if upto is None else upto
  return every_layer_intervals(layers[:upto + 1], input_size,
                               [[] for _ in range(upto)] + [list(positions)])[-1]


def every_layer_intervals(layers: Sequence[Layer], input_size: int,
                          positions: Sequence[Sequence[int]]) -> List[List[Tuple[int, int]]]:
  """:func:`input_interval` of ``positions[i]`` of every layer ``i`` (the stack's plan
  built once: linear in depth per layer)."""
  plan = _plan(list(layers), int(input_size))
  # All layers' positions walk back together, one vectorised step per layer: walking each
  # one back alone was quadratic in depth (7 s of Python for ResNet-1202's 602 layers).
  start = np.array([i for i, ps in enumerate(positions) for _ in ps], np.int64)
  a = np.array([p for ps in positions for p in ps], np.int64)
  b, dead = a.copy(), np.zeros(len(a), bool)
  for j in reversed(range(len(plan))):
    on = start >= j
    a[on], b[on], dead[on] = _step_back(plan[j], a[on], b[on], dead[on])
  dead |= a > b
  a, b = np.where(dead, -1, a), np.where(dead, -1, b)
  out, k = [], 0
  for ps in positions:
    out.append([(int(a[k + m]), int(b[k + m])) for m in range(len(ps))])
    k += len(ps)
  return out


def _step_back(step, a: np.ndarray, b: np.ndarray, dead: np.ndarray):
  """One layer walked back, on arrays of intervals: each layer's window clipped to the
  positions its input has; a branching layer takes the union of its branches' intervals.
  ``dead``: the interval reads only padding."""
  dead = dead | (a > b)
  if step[0] == "branches":
    lo, hi, hit = np.full_like(a, np.iinfo(np.int64).max), np.full_like(b, -1), np.zeros_like(dead)
    for branch in step[1]:
      pa, pb, pdead = a.copy(), b.copy(), dead.copy()
      for sub in reversed(branch):
        pa, pb, pdead = _step_back(sub, pa, pb, pdead)
      ok = ~(pdead | (pa > pb))
      lo, hi, hit = np.where(ok, np.minimum(lo, pa), lo), np.where(ok, np.maximum(hi, pb), hi), \
          hit | ok
    return np.where(hit, lo, a), np.where(hit, hi, b), dead | ~hit
  stride, lo, f_eff, n_in = step
  return np.maximum(a * stride - lo, 0), np.minimum(b * stride - lo + f_eff - 1, n_in - 1), dead


def _plan(layers: List[Layer], size: int) -> list:
  """Per layer, what :func:`_step_back` needs: ``("branches", [plans])`` or
  ``(stride, low padding, read width, n_in)``."""
  plan, g = [], Geometry("input", size, 1, 1, 0.0)
  for layer in layers:
    if isinstance(layer, Parallel):
      plan.append(("branches", [_plan(list(b), g.size) for b in layer.branches]))
    else:  # a global layer is one window over the whole map: all of it
      spec, lo, f_eff = _window(layer, g.size)
      plan.append((spec.stride, lo, f_eff, g.size))
    g = _advance(g, layer)
  return plan


def receptive_field(layers: Iterable[Layer], input_size: int) -> int:
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
