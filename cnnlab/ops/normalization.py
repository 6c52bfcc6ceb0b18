"""Normalization and regularization as pure functions, channels-last.

* :func:`batch_norm` — train mode normalises with the batch statistics (optionally
  averaged across devices through ``axis_name``) and returns updated running
  statistics; eval mode uses the running statistics.
* :func:`local_response_norm` — AlexNet's ``b = a / (k + α Σ a²)^β`` over ``n``
  neighbouring channels (Krizhevsky et al. 2012, §3.3).
* :func:`group_norm`, :func:`layer_norm`, and ``"none"``.
* :func:`dropout` — with an explicit key, inverted (scale at train time) or
  Nielsen/Hinton style (scale the activations by ``1 − rate`` at test time).

Each norm is registered in :data:`NORMS` with its parameter initialiser, so that
models pick them by name (``norm="batch"``).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Dict, Mapping, Optional, Sequence, Tuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from cnnlab.registry import (Option, Registry, check_signature, doc_summary, format_call,
                             parse_call, resolve_options)


def _f32(x):
  return x.astype(jnp.promote_types(x.dtype, jnp.float32))


def batch_norm(x, scale, bias, mean, var, *, train: bool, momentum: float = 0.9,
               eps: float = 1e-5, axis_name: Optional[str] = None):
  """Batch normalization over every axis but the last.

  Args:
    x: ``(N, ..., C)``.
    scale, bias: ``(C,)`` affine parameters.
    mean, var: ``(C,)`` running statistics.
    train: use (and update) the batch statistics, else the running ones.
    momentum: ``running = momentum·running + (1 − momentum)·batch``.
    eps: added to the variance.
    axis_name: a mapped axis (pmap/shard_map/vmap) over which the batch
      statistics are averaged, for synchronized batch norm.

  Returns:
    ``(y, (new_mean, new_var))``; in eval mode the statistics are returned unchanged.
  """
  xc = _f32(x)
  axes = tuple(range(x.ndim - 1))
  if train:
    batch_mean = xc.mean(axes)
    batch_sq = (xc * xc).mean(axes)
    if axis_name is not None:
      batch_mean, batch_sq = lax.pmean((batch_mean, batch_sq), axis_name)
    batch_var = jnp.maximum(batch_sq - batch_mean * batch_mean, 0.0)
    use_mean, use_var = batch_mean, batch_var
    new_stats = (momentum * mean + (1 - momentum) * lax.stop_gradient(batch_mean),
                 momentum * var + (1 - momentum) * lax.stop_gradient(batch_var))
  else:
    use_mean, use_var = mean, var
    new_stats = (mean, var)
  y = (xc - use_mean) * lax.rsqrt(use_var + eps) * scale + bias
  return y.astype(x.dtype), new_stats


def local_response_norm(x, size: int = 5, k: float = 2.0, alpha: float = 1e-4,
                        beta: float = 0.75, alpha_over_size: bool = False):
  """Local response normalization across channels (AlexNet).

  ``b_i = a_i / (k + α · Σ_{j=i−⌊n/2⌋}^{i+⌊(n−1)/2⌋} a_j²)^β`` with channels outside
  ``[0, C)`` left out. AlexNet used ``n=5, k=2, α=1e-4, β=0.75``. PyTorch's and
  Caffe's layers divide α by n: pass ``alpha_over_size=True`` to match them.
  """
  if size < 1:
    raise ValueError(f"local_response_norm size must be >= 1, got {size}")
  xc = _f32(x)
  sq = xc * xc
  window = (1,) * (x.ndim - 1) + (size,)
  pads = ((0, 0),) * (x.ndim - 1) + ((size // 2, (size - 1) // 2),)
  total = lax.reduce_window(sq, np.asarray(0.0, sq.dtype), lax.add, window, (1,) * x.ndim, pads)
  a = alpha / size if alpha_over_size else alpha
  return (xc / (k + a * total) ** beta).astype(x.dtype)


def group_norm(x, scale, bias, num_groups: int = 32, eps: float = 1e-5):
  """Group normalization (Wu & He 2018): statistics per example over groups of channels."""
  c = x.shape[-1]
  if c % num_groups:
    raise ValueError(f"group_norm: {c} channels are not divisible into {num_groups} groups")
  xc = _f32(x)
  g = xc.reshape(x.shape[:-1] + (num_groups, c // num_groups))
  axes = tuple(range(1, g.ndim - 2)) + (g.ndim - 1,)
  mean = g.mean(axes, keepdims=True)
  var = ((g - mean) ** 2).mean(axes, keepdims=True)
  y = ((g - mean) * lax.rsqrt(var + eps)).reshape(x.shape)
  return (y * scale + bias).astype(x.dtype)


def layer_norm(x, scale, bias, eps: float = 1e-5):
  """Layer normalization over all non-batch axes (per example), affine per channel."""
  xc = _f32(x)
  axes = tuple(range(1, x.ndim))
  mean = xc.mean(axes, keepdims=True)
  var = ((xc - mean) ** 2).mean(axes, keepdims=True)
  return ((xc - mean) * lax.rsqrt(var + eps) * scale + bias).astype(x.dtype)


def dropout(x, rate: float, rng: Optional[jax.Array], *, train: bool,
            mode: str = "inverted"):
  """Dropout with an explicit key.

  ``mode="inverted"``: at train time keep each unit with probability ``1 − rate``
  and scale kept units by ``1/(1 − rate)``; identity at test time.
  ``mode="scale_at_test"``: at train time zero units without rescaling; at test
  time multiply by ``1 − rate`` (Hinton et al. 2012; Nielsen's network3.py).
  """
  if not 0.0 <= rate < 1.0:
    raise ValueError(f"dropout rate must be in [0, 1), got {rate}")
  if mode not in ("inverted", "scale_at_test"):
    raise ValueError(f"dropout mode must be 'inverted' or 'scale_at_test', got {mode!r}")
  if rate == 0.0:
    return x
  if not train:
    return x if mode == "inverted" else (x * (1.0 - rate)).astype(x.dtype)
  if rng is None:
    raise ValueError("dropout needs an explicit PRNG key `rng` at train time")
  keep = jax.random.bernoulli(rng, 1.0 - rate, x.shape)
  kept = x / (1.0 - rate) if mode == "inverted" else x
  return jnp.where(keep, kept, jnp.zeros_like(x)).astype(x.dtype)


# ----------------------------------------------------------------------------
# Registry.


@dataclasses.dataclass(frozen=True)
class NormSpec:
  """A registered normalization.

  Attributes:
    fn: ``fn(x, **params, **options)``; a norm with running statistics is called as
      ``fn(x, **params, **stats, **options, train=..., axis_name=...)`` and returns
      ``(y, new_stats_tuple)``, the others return ``y``.
    init: ``init(num_channels) -> {param: array}`` (learnable affine parameters).
    init_stats: ``init_stats(num_channels) -> {stat: array}`` for running statistics.
    stat_names: the order of the statistics ``fn`` returns.
    options: the declared options (:class:`cnnlab.registry.Option`); ``values`` the
      ones bound to this entry (``get_norm("lrn(size=3)")``).
  """
  name: str
  fn: Callable
  init: Optional[Callable[[int], Dict[str, jax.Array]]] = None
  init_stats: Optional[Callable[[int], Dict[str, jax.Array]]] = None
  stat_names: Tuple[str, ...] = ()
  options: Tuple[Option, ...] = ()
  description: str = ""
  values: Mapping[str, Any] = dataclasses.field(default_factory=dict)

  @property
  def has_stats(self) -> bool:
    return self.init_stats is not None

  @property
  def label(self) -> str:
    return format_call(self.name, self.values)

  def describe(self) -> str:
    flags = " [running stats]" if self.has_stats else ""
    return f"{self.description}{flags}"

  def resolve(self, options: Optional[Mapping[str, Any]] = None,
              defaults: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
    """Every option's value: ``defaults`` (e.g. a model's), then the bound values, then
    ``options``; each checked against its declaration."""
    given = {**(defaults or {}), **self.values, **(options or {})}
    return resolve_options(self.options, given, f"normalization {self.name!r}")

  def bind(self, **options) -> "NormSpec":
    resolve_options(self.options, {**self.values, **options}, f"normalization {self.name!r}")
    return dataclasses.replace(self, values={**self.values, **options})

  def __call__(self, x, *, params=None, stats=None, train: bool = False,
               axis_name: Optional[str] = None, defaults: Optional[Mapping[str, Any]] = None,
               **options):
    opts = self.resolve(options, defaults)
    if not self.has_stats:
      return self.fn(x, **(params or {}), **opts)
    return self.fn(x, **(params or {}), **(stats or {}), **opts, train=train,
                   axis_name=axis_name)


NORMS: Registry[NormSpec] = Registry("normalization")


def register_norm(name: str, fn: Optional[Callable] = None, *, init=None, init_stats=None,
                  stat_names: Tuple[str, ...] = (), options: Sequence[Option] = (),
                  description: Optional[str] = None, overwrite: bool = False):
  """Registers a normalization; usable as a call or a decorator. Options are declared
  (``options=[Option("eps", float, 1e-5, low=0.0)]``) and ``fn`` takes each by keyword."""

  def add(f):
    check_signature(f, [o.name for o in options], f"normalization {name!r}")
    NORMS.add(name, NormSpec(name, f, init, init_stats, tuple(stat_names), tuple(options),
                             description or doc_summary(f)), overwrite=overwrite)
    return f

  return add if fn is None else add(fn)


def get_norm(spec: str) -> NormSpec:
  """The normalization ``spec`` names: ``"batch"``, or ``"lrn(size=3)"`` with options bound."""
  name, options = parse_call(spec)
  entry = NORMS.get(name)
  return entry.bind(**options) if options else entry


def _affine(c):
  return {"scale": jnp.ones((c,), jnp.float32), "bias": jnp.zeros((c,), jnp.float32)}


def _running(c):
  return {"mean": jnp.zeros((c,), jnp.float32), "var": jnp.ones((c,), jnp.float32)}


def _no_norm(x):
  """No normalization"""
  return x


EPS = Option("eps", float, 1e-5, low=0.0, low_open=True, doc="added to the variance")

register_norm("none", _no_norm)
register_norm("batch", batch_norm, init=_affine, init_stats=_running,
              stat_names=("mean", "var"),
              options=[Option("momentum", float, 0.9, low=0.0, high=1.0, high_open=True,
                              doc="running = momentum·running + (1 − momentum)·batch"), EPS],
              description="Batch normalization (options momentum, eps)")
register_norm("lrn", local_response_norm,
              options=[Option("size", int, 5, low=1, doc="channels summed over"),
                       Option("k", float, 2.0, low=0.0), Option("alpha", float, 1e-4, low=0.0),
                       Option("beta", float, 0.75, low=0.0),
                       Option("alpha_over_size", bool, False,
                              doc="divide alpha by size (PyTorch's and Caffe's layers)")],
              description="Local response normalization, AlexNet (options size, k, alpha, beta)")
register_norm("group", group_norm, init=_affine,
              options=[Option("num_groups", int, 8, low=1, example=2), EPS],
              description="Group normalization (option num_groups, default 8)")
register_norm("layer", layer_norm, init=_affine, options=[EPS],
              description="Layer normalization over all non-batch axes")
