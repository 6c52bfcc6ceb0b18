"""Checks of layer combinations that are invalid whatever the weights.

These run on names and static shapes only, so a model or a config can be rejected
before anything is traced or compiled, with the offending layer named.
"""

from __future__ import annotations

from typing import Optional

from cnnlab.ops.activations import get_activation
from cnnlab.ops.pooling import get_pool
from cnnlab.errors import IncompatibleLayersError  # noqa: F401  (raised here; defined with the others)


def check_pool_after(pool: str, previous_activation: Optional[str],
                     layer: Optional[str] = None) -> None:
  """Rejects a pooling whose input range requirement the activation before it breaks.

  Args:
    pool: registered pooling name (with options, ``"lp_sum(p=4)"``).
    previous_activation: registered activation (with options) applied just before the pool, or
      ``None`` when the pool's input is unconstrained (e.g. raw conv outputs).
    layer: the pooling layer's name, for the message.
  """
  spec = get_pool(pool)
  if not spec.requires_nonnegative:
    return
  where = f"layer {layer!r}: " if layer else ""
  if previous_activation is None:
    raise IncompatibleLayersError(
        f"{where}pooling {pool!r} needs non-negative inputs, but its input is not passed "
        f"through an activation (raw conv outputs can be negative); put a non-negative "
        f"activation (relu, sigmoid, abs_tanh, softplus, relu6) before it")
  act = get_activation(previous_activation)
  if not act.nonnegative:
    lo, hi = act.output_range
    raise IncompatibleLayersError(
        f"{where}pooling {pool!r} needs non-negative inputs, but activation "
        f"{previous_activation!r} before it has range [{lo:.4g}, {hi:.4g}]; use a "
        f"non-negative activation (relu, sigmoid, abs_tanh, softplus, relu6) or another pooling")
