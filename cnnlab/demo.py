"""A tour of the ops library: ``python -m cnnlab.demo``.

It prints the geometry of Nielsen's two conv-pool network (output sizes and
receptive fields from :mod:`cnnlab.ops.shapes`), then applies every registered
pooling op to the same 4×4 map, and checks that stochastic pooling is rejected
after tanh before anything is compiled.
"""

from __future__ import annotations

import io

import jax
import jax.numpy as jnp
import numpy as np

from cnnlab.layers import Pool
from cnnlab.ops import IncompatibleLayersError, POOLS, shapes


def tour() -> str:
  out = io.StringIO()
  p = lambda *a: print(*a, file=out)
  layers = [("conv1 5x5", 5), ("pool1 2x2/2", 2, 2), ("conv2 5x5", 5), ("pool2 2x2/2", 2, 2)]
  p("Nielsen ch. 6, two conv-pool layers on a 28x28 input:")
  p(f"  {'layer':<12} {'size':>5} {'jump':>5} {'RF':>4} {'start':>6}")
  for g in shapes.receptive_fields(layers, 28):
    p(f"  {g.name:<12} {g.size:>5} {g.jump:>5} {g.receptive_field:>4} {g.start:>6.1f}")
  x = jnp.array([[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]], jnp.float32)
  x = x[None, :, :, None]
  p("\nEvery registered pooling op on the 4x4 map [[1,1,2,4],[5,6,7,8],[3,2,1,0],[1,2,3,4]],"
    " window 2, stride 2:")
  key = jax.random.PRNGKey(0)
  for name, spec in POOLS.items():
    params = spec.init_params(key, 1, 2, 2)
    y = spec(x, 2, params=params, rng=key, train=False)
    p(f"  {name:<18} {np.round(np.asarray(y, np.float64).squeeze(), 2).tolist()}")
  try:
    Pool("stochastic", 2, input_act="tanh", name="pool1")
  except IncompatibleLayersError as e:
    p(f"\nRejected before compilation, as it should be:\n  {e}")
  return out.getvalue()


if __name__ == "__main__":
  print(tour(), end="")
