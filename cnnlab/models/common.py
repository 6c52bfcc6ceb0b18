"""Pieces shared by the model families: validation, the classifier head, a conv block."""

from __future__ import annotations

from typing import Any, Optional, Sequence

import flax.linen as nn
import jax.numpy as jnp

from cnnlab.layers import Act, Conv, Norm
from cnnlab.ops import compat
from cnnlab.ops import conv as conv_ops
from cnnlab.ops.activations import get_activation
from cnnlab.ops.normalization import get_norm
from cnnlab.ops.pooling import POOLS, get_pool
from cnnlab.errors import ModelConfigError  # noqa: F401  (raised here; defined with the others)


def check_names(model: nn.Module, pool_kinds: Sequence[str] = ("window", "identity"),
                pool_after: Optional[str] = "act", layer: str = "pool") -> None:
  """Validates ``model.pool/act/norm`` names and the pool/activation combination.

  Args:
    pool_kinds: the kinds of pooling this model can use where ``pool`` is applied.
    pool_after: ``"act"`` when the pool's input is the activation's output,
      ``None`` when it is raw (conv outputs, e.g. Nielsen's pool-then-activate).
    layer: name of the first pooling layer, for the message.
  """
  unused = getattr(model, "UNUSED_FIELDS", ())
  field = lambda f: None if f in unused else getattr(model, f, None)  # noqa: E731
  act = field("act")
  if act is not None:
    get_activation(act)
  norm = field("norm")
  if norm is not None:
    get_norm(norm)
  pool = field("pool")
  if pool is not None:
    check_pool(type(model).__name__, "pool", pool, pool_kinds,
               act if pool_after == "act" else None, layer)


def check_pool(owner: str, field: str, pool: str, kinds: Sequence[str],
               previous_activation: Optional[str], layer: str) -> None:
  """Rejects a pooling of the wrong kind for where it is applied, or after the wrong act."""
  spec = get_pool(pool)
  if spec.kind not in kinds:
    valid = [n for n, s in POOLS.items() if s.kind in kinds]
    raise ModelConfigError(
        f"{owner}: {field} {pool!r} is a {spec.kind} pooling, but this model applies "
        f"`{field}` at {layer!r}, where it needs one of: {', '.join(valid)}")
  compat.check_pool_after(pool, previous_activation, layer)


class ZooModel(nn.Module):
  """Base of the zoo's models: the shared fields, and everything checkable checked at
  construction.

  The shared fields are declared once, here; a model redeclares one only to change its
  default (``pool: str = "global_avg"``). A model without a layer for a shared field
  lists it in ``UNUSED_FIELDS``: the field is then not among the model's fields
  (configs and ``create_model`` reject it by name) and must keep its default. Each of
  ``pool``, ``act`` and ``norm`` takes options in the name: ``"lp_sum(p=4)"``.

  Subclasses describe where their ``pool`` field is applied — ``POOL_LAYER`` (the
  first such layer, for messages), ``POOL_AFTER`` (``"act"``, or ``None`` when the
  pools see raw conv outputs) and ``POOL_KINDS`` — and override :meth:`check` for
  their own fields (depth rules and the like).
  """
  num_classes: int = 10
  pool: str = "max"
  act: str = "relu"
  norm: str = "none"
  width: float = 1.0     # a channel multiplier
  dtype: Any = jnp.float32  # compute; parameters stay float32
  head: str = "dense"    # or "conv": the classifier as a convolution (score maps)

  # Plain class attributes, not annotated: annotated ones would become module fields.
  POOL_LAYER = "pool1"
  POOL_AFTER = "act"
  POOL_KINDS = ("window", "identity")
  UNUSED_FIELDS = ()  # shared fields a model has no layer for (a tuple of names)

  def check(self) -> None:
    """Model-specific validation; raise :class:`ModelConfigError` naming the field."""

  def geometry(self):
    """The spatial layers along one axis, input to output, as :mod:`cnnlab.ops.shapes`
    layers (``LayerSpec`` or tuples ``(name, window, stride, padding)``, ``Parallel`` for
    branches), each named by its module path where it has one (``[]``: no spatial
    layers). Receptive fields come from it (:func:`cnnlab.ops.shapes.receptive_fields`),
    and a registry test measures them from gradients for every model; None: not declared.
    """
    return None

  def __post_init__(self):
    name = type(self).__name__
    for f in self.UNUSED_FIELDS:
      default = ZooModel.__dataclass_fields__[f].default
      if getattr(self, f) != default:
        raise ModelConfigError(f"{name} has no layer for {f!r} (it is not one of its "
                               f"fields); got {f}={getattr(self, f)!r}")
    if self.num_classes < 1:
      raise ModelConfigError(f"{name}: num_classes must be >= 1, got {self.num_classes}")
    if self.width <= 0:
      raise ModelConfigError(f"{name}: width (a channel multiplier) must be > 0, got "
                             f"{self.width}")
    if self.head not in HEADS:
      raise ModelConfigError(f"{name}: head {self.head!r} unknown; valid: {', '.join(HEADS)}")
    self.check()
    check_names(self, self.POOL_KINDS, self.POOL_AFTER, self.POOL_LAYER)
    super().__post_init__()


def pool_layer(name: str, kind: str, window=2, strides=None, padding="VALID") -> list:
  """The receptive-field geometry of a ``Pool(kind, window, strides, padding)`` layer as a
  list for a model's :meth:`ZooModel.geometry` (empty for the identity)."""
  spec = get_pool(kind).layer_spec(name, window, strides, padding)
  return [] if spec is None else [spec]


def norm_has_shift(norm: str) -> bool:
  """Whether a registered norm adds its own learned shift (a ``bias`` parameter).

  A conv in front of such a norm needs no bias: the norm's shift replaces it (and a
  bias there makes data-parallel parameters drift apart).
  """
  spec = get_norm(norm)
  return spec.init is not None and "bias" in spec.init(1)


def scaled(channels: int, width: float) -> int:
  return max(1, int(round(channels * width)))


HEADS = ("dense", "conv")


class ConvDense(nn.Module):
  """A fully connected layer as a convolution over its whole input map (VALID, one window).

  Its kernel has the training input's spatial size: on the training input it
  computes exactly what flatten + dense computes (with the dense kernel reshaped to
  ``(*spatial, C, features)``), keeping singleton spatial dims; on a larger input it
  slides, giving ``(N, *positions, features)``. A second ConvDense then sees a
  ``1×1`` map at training size, so a whole FC stack becomes a sliding classifier
  (the "3×3×5 map into 4096 units is a 3×3 convolution with 4096 filters" reading).
  The kernel's shape is fixed at initialisation and reused as stored on any input.
  """
  features: int
  dtype: Any = jnp.float32
  kernel_init: Any = nn.initializers.lecun_normal()
  bias_init: Any = nn.initializers.zeros_init()

  @nn.compact
  def __call__(self, x):
    if x.ndim < 3:
      raise ModelConfigError("head='conv' needs a feature map (N, *spatial, C) before the "
                             f"classifier, got shape {x.shape}")
    if self.has_variable("params", "kernel") and not self.is_initializing():
      kernel = self.get_variable("params", "kernel")  # the trained window, any input size
    else:
      kernel = self.param("kernel", self.kernel_init,
                          x.shape[1:-1] + (x.shape[-1], self.features), jnp.float32)
    bias = self.param("bias", self.bias_init, (self.features,), jnp.float32)
    return conv_ops.conv(x.astype(self.dtype), kernel.astype(self.dtype),
                         bias.astype(self.dtype), 1, "VALID")


def fc(x, features: int, kind: str, dtype, name: str,
       kernel_init=nn.initializers.lecun_normal(), bias_init=nn.initializers.zeros_init()):
  """A fully connected layer inside a model's ``@nn.compact`` call: flatten + dense, or,
  with ``kind="conv"``, :class:`ConvDense` (same parameters, same name)."""
  if kind == "conv":
    return ConvDense(features, dtype, kernel_init, bias_init, name=name)(x)
  return nn.Dense(features, dtype=dtype, kernel_init=kernel_init, bias_init=bias_init,
                  name=name)(x.reshape(x.shape[0], -1))


def squeeze_map(y):
  """``(N, 1, …, 1, K)`` → ``(N, K)``: the training-size output of a conv classifier."""
  if y.ndim > 2 and all(d == 1 for d in y.shape[1:-1]):
    return y.reshape(y.shape[0], y.shape[-1])
  return y


class GlobalConvHead(nn.Module):
  """The classifier of a globally average-pooled net as a 1×1 convolution, then the pool.

  ``mean(features)·W`` equals ``mean(features·W)``: the outputs are those of
  pool + dense with the same weights, and the per-position class scores (a class
  activation map) are sown as ``intermediates/…/score_map`` (see
  :func:`cnnlab.models.finetune.score_map`).
  """
  num_classes: int
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    k = (1,) * (x.ndim - 2)
    kernel = self.param("kernel", nn.initializers.lecun_normal(), k + (x.shape[-1],
                                                                       self.num_classes))
    bias = self.param("bias", nn.initializers.zeros_init(), (self.num_classes,))
    scores = conv_ops.conv(x.astype(self.dtype), kernel.astype(self.dtype),
                           bias.astype(self.dtype), 1, "VALID").astype(jnp.float32)
    self.sow("intermediates", "score_map", scores)
    return scores.mean(axis=tuple(range(1, x.ndim - 1)))


class Head(nn.Module):
  """The classifier to ``num_classes`` float32 outputs: ``kind="dense"`` (flatten + FC) or
  ``"conv"`` (the same layer as a convolution, :class:`ConvDense`)."""
  num_classes: int
  dtype: Any = jnp.float32
  kernel_init: Any = nn.initializers.lecun_normal()
  kind: str = "dense"

  @nn.compact
  def __call__(self, x):
    if self.kind not in HEADS:
      raise ModelConfigError(f"head {self.kind!r} unknown; valid: {', '.join(HEADS)}")
    y = fc(x, self.num_classes, self.kind, self.dtype, name=self.kind,  # head/dense or head/conv
           kernel_init=self.kernel_init)
    return squeeze_map(y).astype(jnp.float32)


class ConvNormAct(nn.Module):
  """conv → norm → activation; the conv has no bias when a norm with a shift follows."""
  features: int
  kernel_size: Any = 3
  strides: Any = 1
  padding: Any = "SAME"
  norm: str = "batch"
  act: str = "relu"
  dtype: Any = jnp.float32
  use_act: bool = True
  kernel_init: Any = nn.initializers.he_normal()

  @nn.compact
  def __call__(self, x, train: bool = False):
    x = Conv(self.features, self.kernel_size, self.strides, self.padding,
             use_bias=not norm_has_shift(self.norm), dtype=self.dtype,
             kernel_init=self.kernel_init, name="conv")(x)
    x = Norm(self.norm, name="norm")(x, train)
    return Act(self.act)(x) if self.use_act else x
