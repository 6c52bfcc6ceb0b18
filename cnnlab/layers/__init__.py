"""Thin ``flax.linen`` wrappers around :mod:`cnnlab.ops`, chosen by registry name.

A model never hard-codes an op: it holds ``Pool(kind=cfg.pool)``,
``Act(fn=cfg.act)`` and ``Norm(kind=cfg.norm)``, so every registered op (including
one registered after the model was written) is available to it. Names are looked
up, and pool/activation combinations checked, when the module is constructed —
before any tracing or compilation.

RNG streams: stochastic pooling draws from ``"pool"``, dropout from ``"dropout"``.
Batch-norm running statistics live in the ``"batch_stats"`` collection.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Optional, Sequence, Union

import flax.linen as nn
import jax
import jax.numpy as jnp

from cnnlab.ops import compat, conv as conv_ops, normalization, shapes
from cnnlab.ops.activations import get_activation
from cnnlab.ops.normalization import get_norm
from cnnlab.ops.pooling import get_pool

Dtype = Any
Window = Union[int, Sequence[int]]


def _layer_name(module: nn.Module) -> str:
  path = "/".join(str(p) for p in module.scope.path) if module.scope is not None else ""
  return path or (module.name or type(module).__name__)


class Pool(nn.Module):
  """Any registered pooling op.

  Attributes:
    kind: registry name, with options if any: ``"max"``, ``"lp_sum(p=4)"``,
      ``"mixed(per_channel=True)"`` (``python -m cnnlab.registries pool`` lists them).
    window, strides, padding: the window geometry (ignored by global/identity pools).
    options: the model's default options for this layer; the options in ``kind``
      override them. Every option is checked against the op's declaration.
    input_act: the activation applied right before this pool, if any. When given,
      the combination is checked at construction (stochastic pooling after tanh fails).
  """
  kind: str = "max"
  window: Optional[Window] = 2
  strides: Optional[Window] = None
  padding: Any = "VALID"
  options: Optional[Mapping[str, Any]] = None
  input_act: Optional[str] = None

  def __post_init__(self):
    get_pool(self.kind).resolve(defaults=self.options, layer=self.name)  # names, options
    if self.input_act is not None:
      compat.check_pool_after(self.kind, self.input_act, self.name)
    super().__post_init__()

  @nn.compact
  def __call__(self, x, train: bool = False):
    spec = get_pool(self.kind)
    layer = _layer_name(self)
    params = {}
    if spec.learnable:
      ndim = x.ndim - 2
      init = lambda key: spec.init_params(key, x.shape[-1], self.window, ndim, layer=layer,
                                          defaults=self.options)
      shapes_ = jax.eval_shape(init, jax.random.PRNGKey(0))
      for pname in shapes_:
        params[pname] = self.param(pname, lambda key, n=pname: init(key)[n])
    rng = self.make_rng("pool") if (spec.stochastic and train) else None
    return spec(x, self.window, self.strides, self.padding, params=params, rng=rng,
                train=train, layer=layer, defaults=self.options)


class Act(nn.Module):
  """Any registered activation, with options if any: ``"relu"``,
  ``"leaky_relu(negative_slope=0.2)"`` (``python -m cnnlab.registries act``)."""
  fn: str = "relu"

  def __post_init__(self):
    get_activation(self.fn)
    super().__post_init__()

  def __call__(self, x):
    return get_activation(self.fn)(x)


class Norm(nn.Module):
  """Any registered normalization; batch norm keeps running statistics.

  Attributes:
    kind: registry name, with options if any: ``"batch"``, ``"lrn(size=3)"``
      (``python -m cnnlab.registries norm``).
    options: the model's default options for this layer (``momentum``, ``eps``,
      ``num_groups``, LRN's ``size/k/alpha/beta``); the options in ``kind`` override them.
    axis_name: mapped axis over which batch statistics are averaged (sync BN).
  """
  kind: str = "batch"
  options: Optional[Mapping[str, Any]] = None
  axis_name: Optional[str] = None
  zero_scale: bool = False  # start the affine scale at 0 (zero-init residual branches)

  def __post_init__(self):
    get_norm(self.kind).resolve(defaults=self.options)
    super().__post_init__()

  @nn.compact
  def __call__(self, x, train: bool = False):
    spec = get_norm(self.kind)
    c = x.shape[-1]
    init = spec.init(c) if spec.init else {}
    if self.zero_scale and "scale" in init:
      init["scale"] = jnp.zeros_like(init["scale"])
    params = {k: self.param(k, lambda key, v=v: v) for k, v in init.items()}
    if not spec.has_stats:
      return spec(x, params=params, defaults=self.options)
    stat_vars = {k: self.variable("batch_stats", k, lambda v=v: v)
                 for k, v in spec.init_stats(c).items()}
    # Statistics are not updated while the module is being initialised.
    update = train and not self.is_initializing()
    y, new = spec(x, params=params, stats={k: v.value for k, v in stat_vars.items()},
                  train=train, axis_name=self.axis_name, defaults=self.options)
    if update:
      for name, value in zip(spec.stat_names, new):
        stat_vars[name].value = value
    return y


class Dropout(nn.Module):
  """Dropout drawing from the ``"dropout"`` rng stream (see :func:`normalization.dropout`)."""
  rate: float = 0.5
  mode: str = "inverted"

  @nn.compact
  def __call__(self, x, train: bool = False):
    rng = self.make_rng("dropout") if (train and self.rate > 0) else None
    return normalization.dropout(x, self.rate, rng, train=train, mode=self.mode)


class Conv(nn.Module):
  """N-D convolution over :func:`cnnlab.ops.conv.conv`, channels-last.

  Parameters are stored in ``param_dtype`` and the computation runs in ``dtype``
  (e.g. bfloat16 compute with float32 parameters). ``kernel_mask`` (broadcastable
  to the kernel) fixes some connections at zero, e.g. LeNet-5's C3 table.
  """
  features: int
  kernel_size: Window = 3
  strides: Window = 1
  padding: Any = "VALID"
  dilation: Window = 1
  groups: int = 1
  use_bias: bool = True
  dtype: Optional[Dtype] = None
  param_dtype: Dtype = jnp.float32
  kernel_init: Callable = nn.initializers.lecun_normal()
  bias_init: Callable = nn.initializers.zeros_init()
  kernel_mask: Optional[Any] = None

  @nn.compact
  def __call__(self, x):
    ndim = x.ndim - 2
    window = shapes.as_tuple(self.kernel_size, ndim, "kernel_size", self.name)
    if x.shape[-1] % self.groups:
      raise shapes.ShapeError(f"layer {_layer_name(self)!r}: {x.shape[-1]} input channels "
                              f"not divisible by groups={self.groups}")
    kshape = window + (x.shape[-1] // self.groups, self.features)
    kernel = self.param("kernel", self.kernel_init, kshape, self.param_dtype)
    if self.kernel_mask is not None:
      kernel = kernel * jnp.asarray(self.kernel_mask, kernel.dtype)
    bias = self.param("bias", self.bias_init, (self.features,), self.param_dtype
                      ) if self.use_bias else None
    dtype = self.dtype or x.dtype
    return conv_ops.conv(x.astype(dtype), kernel.astype(dtype),
                         None if bias is None else bias.astype(dtype), self.strides,
                         self.padding, self.dilation, self.groups, layer=_layer_name(self))


class Tap(nn.Module):
  """The identity, as a named module: marks a tensor that is no module's output (a scanned
  stage's result) so that inspection can find it by path (no parameters, no compute)."""

  def __call__(self, x):
    return x


__all__ = ["Pool", "Act", "Norm", "Dropout", "Conv", "Tap"]
