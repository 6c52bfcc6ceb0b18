"""The pooling registry: every pooling op under a name, with its declared options.

    get_pool("max")(x, 2)                           # a window op: window, strides, padding
    get_pool("lp_sum(p=4)")(x, 2)                   # options in the name ...
    get_pool("lp_sum")(x, 2, p=4.0)                 # ... or at the call; checked either way
    get_pool("lp_sum")(x, 2, pp=4.0)                # OptionError: no option 'pp'. Did you mean 'p'?

A registered op is a pure function (:mod:`cnnlab.ops.pool_functions`,
:mod:`cnnlab.ops.roi`) called in one convention by its kind: a ``"window"`` op as
``fn(x, window, strides, padding, **options, **params)`` (plus ``rng=, train=`` when it
is stochastic), a ``"global"`` op as ``fn(x, **options, **params)``, ``"identity"`` as
``fn(x)``. Options are declared (:class:`cnnlab.registry.Option`), checked before
anything is traced, and never dropped. Registering a new op is one line (see
:func:`register_pool`); the conformance tests then check it at its default options and
at a non-default value of each.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, Dict, Mapping, Optional, Sequence, Tuple

import jax
import jax.numpy as jnp

from cnnlab.ops import shapes
from cnnlab.ops.pool_functions import (  # noqa: F401  (re-exported: the pooling functions)
    Window, _geometry, avg_pool, distance_weighted_pool, distance_weights, extract_patches,
    gated_pool, gem_pool, global_avg_pool, global_max_pool, identity_pool, lp_pool,
    max_pool, min_pool, mixed_pool, stochastic_pool, subsample)
from cnnlab.ops.roi import roi_max_pool
from cnnlab.registry import (Option, OptionError, Registry, check_signature, doc_summary,
                             format_call, parse_call, resolve_options)

KINDS = ("window", "global", "identity", "roi")


@dataclasses.dataclass(frozen=True)
class PoolSpec:
  """A registered pooling op and what models need to know to use it safely.

  Attributes:
    name: the registry name.
    fn: the pure function (see the module docstring for its calling convention).
    kind: ``"window"`` (obeys the output-size formula), ``"global"`` (→ (N, C)) or
      ``"identity"``.
    requires_nonnegative: inputs must be >= 0 (stochastic pooling); a model
      rejects it after an activation whose declared range includes negatives.
    stochastic: draws random numbers at train time (needs an ``rng``).
    init: ``init(key, num_channels, window, **init_options) -> {param: array}`` for
      learnable pools; the arrays are passed to ``fn`` by name.
    options: the declared options; ``init_options`` name those that go to ``init``
      (e.g. a learned parameter's initial value) instead of ``fn``.
    values: options bound to this entry (``get_pool("lp_sum(p=4)")``).
    init_random: whether ``init`` draws random numbers. Called without ``params``, a
      learnable op whose init is not random computes with its initial parameters, the
      init options giving their values (``POOLS.get("gem")(x, p=1.0)`` is the mean); one
      whose init is random is refused, asking for ``params``.
    first_only: each output reads its window's first element only (subsampling).

  A ``"roi"`` op (RoI pooling) is called ``spec(features, rois, **options)``.
  """
  name: str
  fn: Callable[..., jax.Array]
  kind: str = "window"
  requires_nonnegative: bool = False
  stochastic: bool = False
  init: Optional[Callable[..., Dict[str, jax.Array]]] = None
  options: Tuple[Option, ...] = ()
  init_options: Tuple[str, ...] = ()
  description: str = ""
  values: Mapping[str, Any] = dataclasses.field(default_factory=dict)
  init_random: bool = True
  first_only: bool = False

  def layer_spec(self, name: str, window: Optional[Window] = 2,
                 strides: Optional[Window] = None, padding="VALID"):
    """This op's geometry along one axis (:mod:`cnnlab.ops.shapes`), for receptive fields:
    None for the identity, a global layer for a global op."""
    if self.kind == "identity":
      return None
    if self.kind != "window":
      return shapes.LayerSpec(name, None)
    w = window if isinstance(window, int) else tuple(window)[0]
    s = w if strides is None else (strides if isinstance(strides, int) else tuple(strides)[0])
    pad = padding if isinstance(padding, (str, int)) else tuple(padding)[0]
    return shapes.LayerSpec(name, w, s, pad, span=1 if self.first_only else None)

  @property
  def learnable(self) -> bool:
    return self.init is not None

  @property
  def label(self) -> str:
    """The name with its bound options, as configs and reports write it."""
    return format_call(self.name, self.values)

  def describe(self) -> str:
    flags = [f for f, on in (("learnable", self.learnable), ("stochastic", self.stochastic),
                             ("needs x>=0", self.requires_nonnegative)) if on]
    extra = f" [{', '.join(flags)}]" if flags else ""
    return f"{self.kind:<8} {self.description}{extra}"

  def resolve(self, options: Optional[Mapping[str, Any]] = None, layer: Optional[str] = None,
              defaults: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
    """Every option's value, checked against its declaration: ``defaults`` (a model's),
    overridden by the bound values (the name's), then ``options`` (the call's, which may
    not repeat a bound one)."""
    clash = set(self.values) & set(options or {})
    owner = f"{'layer %r: ' % layer if layer else ''}pooling {self.name!r}"
    if clash:
      raise ValueError(f"{owner}: option(s) {sorted(clash)} given twice (in "
                       f"{self.label!r} and again)")
    given = {**(defaults or {}), **self.values, **(options or {})}
    return resolve_options(self.options, given, owner)

  def bind(self, **options) -> "PoolSpec":
    """This op with ``options`` bound (checked now)."""
    resolve_options(self.options, {**self.values, **options}, f"pooling {self.name!r}")
    return dataclasses.replace(self, values={**self.values, **options})

  def output_shape(self, in_shape: Sequence[int], window: Optional[Window] = None,
                   strides: Optional[Window] = None, padding="VALID",
                   layer: Optional[str] = None) -> Tuple[int, ...]:
    """Static output shape, raising ShapeError (naming ``layer``) if the window does not fit."""
    in_shape = tuple(in_shape)
    if self.kind == "identity":
      return in_shape
    if self.kind == "global":
      return (in_shape[0], in_shape[-1])
    if self.kind == "roi":
      raise ValueError(f"pooling {self.name!r}: an RoI pooling's output is (boxes, rows, cols, "
                       f"C), set by its rois, not by the input shape")
    dummy = jax.ShapeDtypeStruct(in_shape, jnp.float32)
    _, _, _, out = _geometry(dummy, window, strides, padding, layer)
    return (in_shape[0],) + out + (in_shape[-1],)

  def init_params(self, key, num_channels: int, window: Optional[Window] = None,
                  ndim: int = 2, layer: Optional[str] = None,
                  defaults: Optional[Mapping[str, Any]] = None,
                  **options) -> Dict[str, jax.Array]:
    if self.init is None:
      return {}
    win = shapes.as_tuple(window if window is not None else 1, ndim, "window")
    opts = self.resolve(options, layer, defaults)
    return self.init(key, num_channels, win, **{k: opts[k] for k in self.init_options})

  def __call__(self, x, window: Optional[Window] = None, strides: Optional[Window] = None,
               padding="VALID", *, params: Optional[Mapping[str, jax.Array]] = None,
               rng=None, train: bool = False, layer: Optional[str] = None,
               defaults: Optional[Mapping[str, Any]] = None, rois=None, **options):
    where = f"{'layer %r: ' % layer if layer else ''}pooling {self.name!r}"
    if self.learnable and not params:
      params = self._initial_params(x, window, options, layer, defaults, where)
    opts = self.resolve(options, layer, defaults)
    opts = {k: v for k, v in opts.items() if k not in self.init_options}
    if self.kind == "identity":
      return self.fn(x)
    if self.kind == "roi":
      rois = window if rois is None else rois  # spec(features, rois) or rois=
      if rois is None:
        raise ValueError(f"{where} needs rois: (R, 5) rows (batch_index, x1, y1, x2, y2)")
      return self.fn(x, rois, **opts)
    if self.kind == "global":
      return self.fn(x, **opts, **(params or {}))
    if window is None:
      raise ValueError(f"{where} needs a window")
    _geometry(x, window, strides, padding, layer)  # a clear error naming the layer
    extra = {}
    if self.stochastic:
      if train and rng is None:
        raise ValueError(f"{where} needs an rng at train time")
      extra = {"rng": rng, "train": train}
    return self.fn(x, window, strides, padding, **opts, **(params or {}), **extra)

  def _initial_params(self, x, window, options, layer, defaults, where):
    """The parameters a bare call computes with: the initial ones, where init is not random
    (the init options are their values)."""
    if self.init_random:
      raise OptionError(f"{where} is learnable and its initial parameters are random: pass "
                        f"params= (e.g. spec.init_params(key, channels, window))")
    return self.init_params(None, x.shape[-1], window, ndim=max(x.ndim - 2, 1), layer=layer,
                            defaults=defaults, **options)


POOLS: Registry[PoolSpec] = Registry("pooling")
ROI_POOLS: Registry[PoolSpec] = Registry("RoI pooling")


def register_pool(name: str, fn: Optional[Callable] = None, *, kind: str = "window",
                  requires_nonnegative: bool = False, stochastic: bool = False,
                  init: Optional[Callable] = None, options: Sequence[Option] = (),
                  init_options: Sequence[str] = (), description: Optional[str] = None,
                  overwrite: bool = False, registry: Registry = POOLS,
                  init_random: bool = True, first_only: bool = False):
  """Registers a pooling function under ``name``; usable as a call or a decorator.

  One line is enough for a new op, e.g. in a test, a notebook or a user's file::

      register_pool("double_avg", lambda x, window, strides=None, padding="VALID":
                    2 * avg_pool(x, window, strides, padding))

  Options are declared, e.g. ``options=[Option("p", float, 3.0, low=1.0)]``; the
  function must take each by keyword. From then on every model, config and sweep
  accepts ``pool="double_avg"`` (or ``"name(p=4)"``) and the conformance tests check it.
  ``first_only``: each output depends on its window's first element only (subsampling),
  which receptive fields need to know.
  """
  if kind not in KINDS:
    raise ValueError(f"pool kind must be one of {KINDS}, got {kind!r}")
  options = tuple(options)
  unknown = set(init_options) - {o.name for o in options}
  if unknown:
    raise ValueError(f"pooling {name!r}: init_options {sorted(unknown)} are not declared")

  def add(f: Callable) -> Callable:
    check_signature(f, [o.name for o in options if o.name not in init_options],
                    f"pooling {name!r}")
    if init is not None:
      check_signature(init, list(init_options), f"pooling {name!r} (init)")
    registry.add(name, PoolSpec(name, f, kind, requires_nonnegative, stochastic, init,
                                options, tuple(init_options), description or doc_summary(f),
                                init_random=init_random, first_only=first_only),
                 overwrite=overwrite)
    return f

  return add if fn is None else add(fn)


def get_pool(spec: str) -> PoolSpec:
  """The pooling op ``spec`` names: ``"max"``, or ``"lp_sum(p=4)"`` with options bound."""
  name, options = parse_call(spec)
  entry = POOLS.get(name)
  return entry.bind(**options) if options else entry


# -- the built-in ops ----------------------------------------------------------------------


def _mixed_init(key, num_channels, window, per_channel: bool = False):
  del key, window
  shape = (num_channels,) if per_channel else ()
  return {"alpha_logit": jnp.zeros(shape, jnp.float32)}  # α = σ(0) = 0.5


def _gated_init(key, num_channels, window, per_channel: bool = False):
  k = math.prod(window)
  shape = (k, num_channels) if per_channel else (k,)
  return {"omega": jax.random.normal(key, shape, jnp.float32) * (1.0 / math.sqrt(k))}


def _gem_init(key, num_channels, window, p: float = 3.0):
  del key, num_channels, window
  return {"p": jnp.asarray(p, jnp.float32)}


def _mixed_learned(x, window, strides=None, padding="VALID", *, alpha_logit):
  """α·max + (1−α)·avg, α = σ(learned logit) per layer (or per channel)"""
  return mixed_pool(x, window, strides, padding, alpha=jax.nn.sigmoid(alpha_logit))


def _lp(form: str):
  def pool(x, window, strides=None, padding="VALID", p: float = 3.0):
    return lp_pool(x, window, strides, padding, p=p, form=form)
  return pool


P_OPTION = Option("p", float, 3.0, low=1.0, doc="the power: 1 is a sum/mean of |x|, large "
                  "p approaches max")
PER_CHANNEL = Option("per_channel", bool, False, doc="one learned gate per channel")

register_pool("none", identity_pool, kind="identity")
register_pool("max", max_pool)
register_pool("avg", avg_pool, description="Mean over each window (padding counted)")
register_pool("avg_exclude_pad", lambda x, window, strides=None, padding="VALID": avg_pool(
    x, window, strides, padding, count_include_pad=False),
              description="Mean over each window (padding not counted)")
register_pool("min", min_pool)
register_pool("lp_sum", _lp("sum"), options=[P_OPTION],
              description="(Σ|x|ᵖ)^(1/p), PyTorch lp_pool form (option p, default 3)")
register_pool("lp_mean", _lp("mean"), options=[P_OPTION],
              description="(mean |x|ᵖ)^(1/p), root-mean form (option p, default 3)")
register_pool("l2_sum", lambda x, window, strides=None, padding="VALID": lp_pool(
    x, window, strides, padding, p=2.0, form="sum"),
              description="sqrt(Σx²): PyTorch lp_pool(p=2), the MNIST-1D paper's 'L2'")
register_pool("l2_rms", lambda x, window, strides=None, padding="VALID": lp_pool(
    x, window, strides, padding, p=2.0, form="mean"),
              description="sqrt(mean x²): the root-mean-square form of L2 pooling")
POOLS.hint("l2", "L2 pooling has two forms in use; choose 'l2_sum' (sqrt(Σx²), PyTorch's "
           "lp_pool) or 'l2_rms' (sqrt(mean x²))")
POOLS.hint("lp", "choose 'lp_sum' ((Σ|x|ᵖ)^(1/p)) or 'lp_mean' ((mean|x|ᵖ)^(1/p))")
register_pool("stochastic", stochastic_pool, requires_nonnegative=True, stochastic=True,
              description="Train: sample with pᵢ=aᵢ/Σa; test: Σpᵢaᵢ (Zeiler & Fergus)")
register_pool("mixed", _mixed_learned, init=_mixed_init, options=[PER_CHANNEL],
              init_options=["per_channel"], init_random=False,
              description="α·max + (1−α)·avg, α learned (option per_channel)")
register_pool("gated", gated_pool, init=_gated_init, options=[PER_CHANNEL],
              init_options=["per_channel"],
              description="α·max + (1−α)·avg, α = σ(ωᵀx) per window (option per_channel)")
register_pool("distance_weighted", distance_weighted_pool,
              options=[Option("sigma", float, 1.0, low=0.0, low_open=True,
                              doc="standard deviation of the Gaussian weights, in pixels")],
              description="Gaussian-weighted average by distance to the window centre "
                          "(option sigma)")
register_pool("subsample", subsample, first_only=True,
              description="First element of each window: plain striding ('stride_2')")
register_pool("global_avg", global_avg_pool, kind="global")
register_pool("global_max", global_max_pool, kind="global")
register_pool("gem", gem_pool, kind="global", init=_gem_init,
              options=[Option("p", float, 3.0, low=1.0, doc="the learned power's initial value")],
              init_options=["p"], init_random=False,
              description="Generalized mean (mean xᵖ)^(1/p), p learned (init option p=3)")
register_pool("roi_max", roi_max_pool, kind="roi", registry=ROI_POOLS,
              options=[Option("output_size", int, 7, low=1, doc="cells per box side"),
                       Option("spatial_scale", float, 1.0, low=0.0, low_open=True,
                              doc="feature-map pixels per input pixel")],
              description="Fast R-CNN RoI max pooling: (N,H,W,C) + (R,5) boxes → (R,gh,gw,C)")
