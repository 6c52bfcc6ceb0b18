"""Receptive fields, computed and measured: every layer's size, jump and start from the
model's declared geometry (:meth:`cnnlab.models.common.ZooModel.geometry` through
:func:`cnnlab.ops.shapes.receptive_fields`) beside the extent of the input that the
gradient of one output position actually reaches.

The computed intervals follow each window back to the input, clipped at every layer to
the positions its input has (:func:`cnnlab.ops.shapes.input_interval`). The
measurement: for output positions first / middle / last (on the diagonal of a 2-D
map), the input gradient of a random channel mix at that position, over a few random
inputs; its support's first and last row (and column) are the measured field, compared
with the computed one clipped to the input. Zero gradients that are not structural
(a ReLU off, a max that picked another element) are made rare by the random inputs and
channel mixes, and the union over examples closes them.

Assumes per-position normalisation (batch norm in eval mode, LRN); a norm whose
statistics span the map (group norm) makes every later output see the whole input.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Dict, List, Optional, Sequence, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from cnnlab.ops import shapes


@dataclasses.dataclass
class FieldRow:
  """One layer: its computed geometry and, where measured, the measured intervals.

  ``computed`` and ``measured`` map an output position to ``((lo, hi), ...)``, one
  interval per spatial axis (input pixels, inclusive)."""
  geometry: shapes.Geometry
  computed: Dict[int, Tuple[Tuple[int, int], ...]]
  measured: Optional[Dict[int, Tuple[Tuple[int, int], ...]]] = None

  @property
  def agrees(self) -> Optional[bool]:
    return None if self.measured is None else self.measured == self.computed


def module_outputs(model, variables, x, names: Sequence[str]) -> Dict[str, jax.Array]:
  """The outputs of the modules at the paths ``names`` (``"conv1"``, ``"S2"``,
  ``"stage1_output"``) for input ``x`` in eval mode, without changing the model; names
  that are no module's path are left out."""
  wanted, found = set(names), {}

  def record(next_fun, args, kwargs, context):
    out = next_fun(*args, **kwargs)
    mod = context.module
    if context.method_name == "__call__" and mod.scope is not None:
      path = "/".join(str(p) for p in mod.scope.path)
      if path in wanted:  # the last call: a scan's body runs inside the scan's own call
        found[path] = jax.tree_util.tree_leaves(out)[0]  # a scan's (carry, None): the carry
    return out

  with nn.intercept_methods(record):
    model.apply(variables, x, train=False)
  return found


@functools.lru_cache(maxsize=64)
def outputs_fn(model, names: Tuple[str, ...]):
  """:func:`module_outputs` of ``names`` compiled: ``fn(variables, x) -> {name: array}``
  (cached per model and names, so that repeated calls on batches reuse the program)."""
  return jax.jit(lambda variables, x: module_outputs(model, variables, x, names))


def spatial_layers(model, variables, input_shape: Sequence[int], names: Sequence[str]
                   ) -> Dict[str, jax.ShapeDtypeStruct]:
  """Of ``names``, the modules whose output is a feature map ``(N, *spatial, C)``, in the
  order given, with their output shapes (abstract: nothing is computed)."""
  probe = jax.ShapeDtypeStruct((1,) + tuple(input_shape), jnp.float32)
  found = jax.eval_shape(lambda z: module_outputs(model, variables, z, names), probe)
  return {k: found[k] for k in names if k in found and found[k].ndim == len(input_shape) + 1}


def _probe_positions(size: int) -> Tuple[int, ...]:
  return tuple(sorted({0, size // 2, size - 1}))


# Random inputs per probe: a pixel's gradient is zero wherever every path from it passes
# a ReLU that is off, so too few inputs can cut a field's edge (4 did so at one init of
# the tiny DenseNet-BC, 4 growth channels; 8 measured every zoo model's fields whole).
MEASURE_EXAMPLES = 8


def measure(model, variables, input_shape: Sequence[int], names: Sequence[str],
            examples: int = MEASURE_EXAMPLES,
            seed: int = 0) -> Dict[str, Dict[int, Tuple[Tuple[int, int], ...]]]:
  """Measured fields of the layers ``names``: ``{name: {position: ((lo, hi) per axis)}}``.

  One compiled gradient for all layers: the batch holds a block of examples per (layer,
  position), and each block's cotangent is non-zero at its layer and position only
  (examples do not interact in eval mode). A field's pixel counts when its gradient is
  non-zero for any of the ``examples`` random inputs."""
  input_shape = tuple(input_shape)
  spatial = len(input_shape) - 1
  found = spatial_layers(model, variables, input_shape, names)
  layers = list(found)
  blocks = [(k, p) for k in layers for p in _probe_positions(min(found[k].shape[1:-1]))]
  if not blocks:
    return {}
  n = examples * len(blocks)
  key_x, key_c = jax.random.split(jax.random.PRNGKey(seed))
  x = jax.random.normal(key_x, (n,) + input_shape, jnp.float32)
  cots = {k: np.zeros((n,) + found[k].shape[1:], np.float32) for k in layers}
  mix = np.asarray(jax.random.normal(key_c, (n, max(found[k].shape[-1] for k in layers))))
  for b, (k, p) in enumerate(blocks):
    rows = slice(b * examples, (b + 1) * examples)
    cots[k][(rows,) + (p,) * spatial] = mix[rows, :found[k].shape[-1]]

  @jax.jit
  def grad(variables, x, cots):
    y, vjp = jax.vjp(lambda z: module_outputs(model, variables, z, layers), x)
    return vjp({k: cots[k].astype(y[k].dtype) for k in y})[0]

  support = np.abs(np.asarray(grad(variables, x, cots))).sum(axis=-1) > 0  # (n, *spatial)
  out: Dict[str, Dict[int, Tuple[Tuple[int, int], ...]]] = {}
  for b, (k, p) in enumerate(blocks):
    s = support[b * examples:(b + 1) * examples].any(axis=0)
    out.setdefault(k, {})[p] = tuple(_extent(s, a) for a in range(spatial))
  return out


def _extent(support: np.ndarray, axis: int) -> Tuple[int, int]:
  hit = np.nonzero(support.any(axis=tuple(a for a in range(support.ndim) if a != axis)))[0]
  return (int(hit[0]), int(hit[-1])) if len(hit) else (-1, -1)


def receptive_field_rows(model, variables, input_shape: Sequence[int], measured: bool = True,
                         examples: int = MEASURE_EXAMPLES, seed: int = 0) -> List[FieldRow]:
  """Every top-level layer of the model's geometry, computed, and measured where the layer
  is a module with a spatial output (blocks inside a scan and merges of branches that are
  not modules are computed only)."""
  layers = model.geometry()
  if layers is None:
    raise ValueError(f"{type(model).__name__} declares no geometry() (see ZooModel.geometry)")
  input_shape = tuple(input_shape)
  sizes = input_shape[:-1]
  per_axis = [shapes.receptive_fields(layers, s) for s in sizes]
  positions = [_probe_positions(min(axis[i].size for axis in per_axis))
               for i in range(len(layers))]
  by_size = {s: shapes.every_layer_intervals(layers, s, positions) for s in set(sizes)}
  per = [by_size[s] for s in sizes]  # a square map's axes share one computation
  rows = []
  for i, g in enumerate(per_axis[0]):
    computed = {p: tuple(axis[i][j] for axis in per) for j, p in enumerate(positions[i])}
    rows.append(FieldRow(g, computed))
  if measured:
    got = measure(model, variables, input_shape, [r.geometry.name for r in rows], examples, seed)
    for r in rows:
      if r.geometry.name in got:
        r.measured = got[r.geometry.name]
  return rows


def format_rows(rows: List[FieldRow]) -> str:
  """A plain-text table: layer, size, jump, field, start, measured at the probed positions."""
  lines = [f"{'layer':<24} {'size':>5} {'jump':>5} {'field':>6} {'start':>7}  measured"]
  for r in rows:
    g = r.geometry
    if r.measured is None:
      check = "—"
    else:
      check = "equal" if r.agrees else "DIFFERS " + "; ".join(
          f"@{p}: computed {r.computed[p]} measured {r.measured[p]}" for p in r.computed
          if r.computed[p] != r.measured.get(p))
    lines.append(f"{g.name:<24} {g.size:>5} {g.jump:>5} {g.receptive_field:>6} "
                 f"{g.start:>7.1f}  {check}")
  return "\n".join(lines)
