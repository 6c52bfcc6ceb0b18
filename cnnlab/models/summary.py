"""Model introspection: layers, output shapes, receptive field, parameters, FLOPs.

    python -m cnnlab.models.summary lenet5
    python -m cnnlab.models.summary resnet56 --pool=gem --act=silu --input_shape=32,32,3

Output shapes come from one abstract forward pass; FLOPs per example from XLA's cost
analysis of the compiled eval-mode forward pass at batch 1; the receptive field from
the model's declared layer geometry (sequential models) through
:func:`cnnlab.ops.shapes.receptive_fields`.
"""

from __future__ import annotations

import ast
import dataclasses
import sys
from typing import Dict, List, Optional, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from cnnlab.errors import USER_ERRORS, ModelConfigError, report
from cnnlab.models.registry import MODELS, abstract_init, create_model
from cnnlab.ops import shapes


@dataclasses.dataclass
class ModelSummary:
  name: str
  input_shape: Tuple[int, ...]
  rows: List[Tuple[str, Tuple[int, ...], int]]  # (module path, output shape, params)
  params: int
  flops_per_example: Optional[float]
  receptive_fields: Optional[List[shapes.Geometry]]

  def format(self) -> str:
    width = max([len(r[0]) for r in self.rows] + [10])
    lines = [f"{self.name}  input {self.input_shape}",
             f"{'module'.ljust(width)}  {'output shape':<22} {'params':>12}"]
    for path, shape, n in self.rows:
      lines.append(f"{path.ljust(width)}  {str(shape):<22} {n:>12,d}")
    lines.append(f"total parameters: {self.params:,d}")
    if self.flops_per_example is not None:
      lines.append(f"FLOPs per example (forward, XLA cost analysis): "
                   f"{self.flops_per_example / 1e6:,.2f} M")
    if self.receptive_fields:
      lines.append("receptive field (per spatial axis):")
      for g in self.receptive_fields:
        lines.append(f"  {g.name:<12} size {g.size:>4}  jump {g.jump:>3}  RF {g.receptive_field:>4}"
                     f"  start {g.start:>6.1f}")
    return "\n".join(lines)


def _param_rows(params) -> Dict[str, int]:
  counts: Dict[str, int] = {}
  for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
    keys = [getattr(k, "key", str(k)) for k in path][:-1]
    for depth in range(1, len(keys) + 1):
      p = "/".join(keys[:depth])
      counts[p] = counts.get(p, 0) + int(np.prod(leaf.shape))
  return counts


def _call_order_rows(model, variables, x) -> List[Tuple[str, Tuple[int, ...]]]:
  """(module path, output shape) of every module's __call__, in execution order."""
  seen: List[Tuple[str, Tuple[int, ...]]] = []

  def record(next_fun, args, kwargs, context):
    mod = context.module
    if context.method_name != "__call__" or mod.scope is None or not mod.scope.path:
      return next_fun(*args, **kwargs)
    slot = len(seen)  # reserve the row so that a parent precedes its children
    seen.append(("/".join(str(p) for p in mod.scope.path), ()))
    out = next_fun(*args, **kwargs)
    leaves = jax.tree_util.tree_leaves(out)
    seen[slot] = (seen[slot][0], tuple(leaves[0].shape) if leaves else ())
    return out

  def run(v, z):
    with nn.intercept_methods(record):
      return model.apply(v, z)

  jax.eval_shape(run, variables, x)
  return seen


def forward_flops(model, input_shape: Tuple[int, ...], variables=None) -> Optional[float]:
  """FLOPs of one example's eval-mode forward pass, from XLA's cost analysis (batch 1).

  Lowered from abstract values only: nothing is initialised or run.
  """
  shape = tuple(input_shape)
  variables = abstract_init(model, shape) if variables is None else variables
  x = jax.ShapeDtypeStruct((1,) + shape, jnp.float32)
  cost = jax.jit(lambda v, z: model.apply(v, z)).lower(variables, x).cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  return float(cost.get("flops", 0.0)) if cost else None


def summarize(name: str, input_shape: Optional[Tuple[int, ...]] = None, flops: bool = True,
              max_depth: int = 2, **overrides) -> ModelSummary:
  spec = MODELS.get(name)
  shape = tuple(input_shape or spec.input_shape)
  model = create_model(name, shape, **overrides)
  x = jax.ShapeDtypeStruct((1,) + shape, jnp.float32)
  variables = abstract_init(model, shape)
  counts = _param_rows(variables.get("params", {}))
  rows = [(p, s, counts.get(p, 0)) for p, s in _call_order_rows(model, variables, x)
          if p.count("/") < max_depth]
  total = shapes.param_count(variables.get("params", {}))
  flop = forward_flops(model, shape, variables) if flops else None
  geometry = getattr(model, "geometry", None)
  rf = shapes.receptive_fields(geometry(), shape[0]) if callable(geometry) else None
  return ModelSummary(name, shape, rows, total, flop, rf)


USAGE = "python -m cnnlab.models.summary MODEL [--input_shape=H,W,C] [--field=value ...]"


def _parse(argv: List[str]):
  if not argv or argv[0].startswith("-"):
    raise ModelConfigError(f"usage: {USAGE}; models: {', '.join(MODELS.names())}")
  name, overrides, input_shape = argv[0], {}, None
  MODELS.get(name)  # an unknown model fails here, with the closest names
  for arg in argv[1:]:
    if not arg.startswith("--") or "=" not in arg:
      raise ModelConfigError(f"expected --field=value, got {arg!r} (usage: {USAGE})")
    key, value = arg[2:].split("=", 1)
    if key == "input_shape":
      try:
        input_shape = tuple(int(v) for v in value.split(","))
      except ValueError:
        raise ModelConfigError(f"--input_shape must be integers such as 32,32,3, got "
                               f"{value!r}") from None
      continue
    try:
      overrides[key] = ast.literal_eval(value)
    except (ValueError, SyntaxError):
      overrides[key] = value
  return name, input_shape, overrides


def main(argv: List[str]) -> int:
  try:
    name, input_shape, overrides = _parse(argv[1:])
    print(summarize(name, input_shape, **overrides).format())
  except USER_ERRORS as e:
    return report("model", e)
  return 0


if __name__ == "__main__":
  sys.exit(main(sys.argv))
