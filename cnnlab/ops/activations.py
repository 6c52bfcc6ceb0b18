"""Activations as pure functions, each with its declared output range.

The range is the closure of the function's image over the reals, ``(low, high)``
with ``±inf`` for unbounded sides. Models use it to reject combinations that
cannot work, e.g. stochastic pooling (which needs non-negative inputs) after
``tanh``. The conformance tests check every declared range against a dense grid.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, Dict, Mapping, Optional, Sequence, Tuple, Union

import jax
import jax.numpy as jnp

from cnnlab.registry import (Option, OptionError, Registry, check_signature, doc_summary,
                             format_call, parse_call, resolve_options)

INF = math.inf


@dataclasses.dataclass(frozen=True)
class ActivationSpec:
  """A registered activation: ``fn(x, **options) -> y`` (elementwise) and its output range.

  ``output_range`` is a ``(low, high)`` pair, or a function of the options' values
  giving it (``elu``: ``(-alpha, inf)``); ``values`` are options bound to this entry
  (``get_activation("leaky_relu(negative_slope=0.2)")``).
  """
  name: str
  fn: Callable[..., jax.Array]
  range_of: Union[Tuple[float, float], Callable[..., Tuple[float, float]]] = (-INF, INF)
  description: str = ""
  options: Tuple[Option, ...] = ()
  values: Mapping[str, Any] = dataclasses.field(default_factory=dict)

  def resolve(self, options: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
    """Every option's value: the bound ones, then ``options`` (a call's), each checked."""
    clash = set(self.values) & set(options or {})
    if clash:
      raise OptionError(f"activation {self.name!r}: option(s) {sorted(clash)} given twice (in "
                        f"{self.label!r} and again)")
    return resolve_options(self.options, {**self.values, **(options or {})},
                           f"activation {self.name!r}")

  @property
  def output_range(self) -> Tuple[float, float]:
    r = self.range_of(**self.resolve()) if callable(self.range_of) else self.range_of
    return float(r[0]), float(r[1])

  @property
  def nonnegative(self) -> bool:
    return self.output_range[0] >= 0

  @property
  def label(self) -> str:
    return format_call(self.name, self.values)

  def bind(self, **options) -> "ActivationSpec":
    resolve_options(self.options, {**self.values, **options}, f"activation {self.name!r}")
    return dataclasses.replace(self, values={**self.values, **options})

  def describe(self) -> str:
    lo, hi = self.output_range
    return f"range [{lo:.4g}, {hi:.4g}]  {self.description}"

  def __call__(self, x, **options):
    """``fn(x)`` with the bound options and ``options`` (``ACTIVATIONS.get("elu")(x,
    alpha=0.5)`` is ``elu(x, alpha=0.5)``)."""
    return self.fn(x, **self.resolve(options))


ACTIVATIONS: Registry[ActivationSpec] = Registry("activation")


def register_activation(name: str, fn: Optional[Callable] = None, *,
                        output_range=(-INF, INF), options: Sequence[Option] = (),
                        description: Optional[str] = None, overwrite: bool = False):
  """Registers an elementwise activation; usable as a call or a decorator.

  ``output_range`` is ``(low, high)`` (or a function of the options giving it);
  options are declared (``options=[Option("negative_slope", float, 0.01)]``) and
  ``fn`` takes each by keyword.
  """
  def add(f):
    check_signature(f, [o.name for o in options], f"activation {name!r}")
    spec = ActivationSpec(name, f, output_range, description or doc_summary(f),
                          tuple(options))
    lo, hi = spec.output_range
    if not lo <= hi:
      raise ValueError(f"activation {name!r}: output_range low {lo} > high {hi}")
    ACTIVATIONS.add(name, spec, overwrite=overwrite)
    return f

  return add if fn is None else add(fn)


def get_activation(spec: str) -> ActivationSpec:
  """The activation ``spec`` names: ``"relu"``, or ``"leaky_relu(negative_slope=0.2)"``."""
  name, options = parse_call(spec)
  entry = ACTIVATIONS.get(name)
  return entry.bind(**options) if options else entry


# Scaled tanh of LeNet-5 (LeCun et al. 1998, appendix A): f(x) = A·tanh(S·x).
LECUN_A = 1.7159
LECUN_S = 2.0 / 3.0


def lecun_tanh(x):
  """1.7159·tanh(2x/3), LeNet-5's squashing function (f(±1) = ±1)"""
  return (LECUN_A * jnp.tanh(LECUN_S * x)).astype(x.dtype)


def abs_tanh(x):
  """|tanh(x)| (Jarrett et al. 2009 rectification)"""
  return jnp.abs(jnp.tanh(x))


def identity(x):
  """x"""
  return x


def mish(x):
  """x·tanh(softplus(x)) (Misra 2019)"""
  return x * jnp.tanh(jax.nn.softplus(x))


# Minima of the smooth ReLU-likes, found numerically (scipy.optimize) and rounded
# outward: the declared range must contain every output.
GELU_MIN = -0.1700  # exact gelu; min ≈ -0.16997 at x ≈ -0.7518
SILU_MIN = -0.2785  # min ≈ -0.27846 at x ≈ -1.2785
MISH_MIN = -0.3089  # min ≈ -0.30884 at x ≈ -1.1924

register_activation("relu", jax.nn.relu, output_range=(0, INF), description="max(0, x)")
register_activation("tanh", jnp.tanh, output_range=(-1, 1), description="tanh(x)")
register_activation("abs_tanh", abs_tanh, output_range=(0, 1))
register_activation("sigmoid", jax.nn.sigmoid, output_range=(0, 1), description="1/(1+e^-x)")
register_activation("lecun_tanh", lecun_tanh, output_range=(-LECUN_A, LECUN_A))
register_activation("leaky_relu", lambda x, negative_slope=0.01: jax.nn.leaky_relu(
    x, negative_slope), options=[Option("negative_slope", float, 0.01, low=0.0, high=1.0,
                                        doc="the slope for x < 0")],
                    description="max(a·x, x), a = negative_slope (default 0.01)")
register_activation("elu", lambda x, alpha=1.0: jax.nn.elu(x, alpha),
                    output_range=lambda alpha: (-alpha, INF),
                    options=[Option("alpha", float, 1.0, low=0.0, low_open=True,
                                    doc="the negative saturation value is -alpha")],
                    description="x if x>0 else alpha·(e^x-1)")
register_activation("selu", jax.nn.selu, output_range=(-1.0507009873554805 * 1.6732632423543772,
                                                       INF), description="scaled ELU")
register_activation("gelu", lambda x: jax.nn.gelu(x, approximate=False),
                    output_range=(GELU_MIN, INF), description="x·Φ(x) (exact)")
register_activation("silu", jax.nn.silu, output_range=(SILU_MIN, INF), description="x·σ(x)")
register_activation("swish", jax.nn.silu, output_range=(SILU_MIN, INF),
                    description="alias of silu")
register_activation("softplus", jax.nn.softplus, output_range=(0, INF),
                    description="log(1+e^x)")
register_activation("mish", mish, output_range=(MISH_MIN, INF))
register_activation("relu6", jax.nn.relu6, output_range=(0, 6), description="min(max(0,x),6)")
register_activation("hard_tanh", jax.nn.hard_tanh, output_range=(-1, 1),
                    description="clip(x, -1, 1)")
register_activation("identity", identity, output_range=(-INF, INF))

# The activations this module defines (a user's registrations are not built-ins).
BUILTIN = frozenset(ACTIVATIONS.names())
