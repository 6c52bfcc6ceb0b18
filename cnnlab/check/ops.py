"""The conformance battery of registered ops: one function per property.

Every pooling op, activation and normalization — built in, or registered by a
researcher in their own file — must have these properties, at its default options
and at a non-default value of each declared option (:func:`cases`). Each check takes
the op as a string (``"lp_sum(p=4.5)"``) and raises :class:`AssertionError` with the
reason when the property fails. The test suite parametrizes over them
(``tests/test_registry_conformance.py``) and ``python -m cnnlab.check`` runs them on a
user's own ops.
"""

from __future__ import annotations

from typing import Callable, Dict, List, Optional, Sequence, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from cnnlab.ops.activations import ACTIVATIONS, get_activation
from cnnlab.ops.normalization import NORMS, get_norm
from cnnlab.ops.pooling import POOLS, ROI_POOLS, get_pool
from cnnlab.registry import Registry, format_call, parse_call

SPATIAL = {1: (9,), 2: (6, 5), 3: (4, 5, 4)}
CHANNELS = 8
NDIMS = (1, 2, 3)
PADDINGS = ("VALID", "SAME")


def cases(registry: Registry, names: Optional[Sequence[str]] = None) -> List[str]:
  """Each op of ``registry`` (or ``names``) at its defaults and with each option changed."""
  out = []
  for name in registry.names() if names is None else names:
    entry = registry.get(name)
    out.append(name)
    out += [format_call(name, {o.name: o.alternative()}) for o in entry.options]
  return out


def _input(ndim: int, seed: int = 0, nonneg: bool = False, dtype=jnp.float32):
  x = np.random.default_rng(seed).normal(size=(2,) + SPATIAL[ndim] + (CHANNELS,))
  # Distinct values avoid ties (whose gradients are implementation-defined).
  x = x + np.arange(x.size).reshape(x.shape) * 1e-3
  return jnp.asarray(np.abs(x) + 0.05 if nonneg else x, dtype)


def _close(a, b, rtol, atol, what: str, x=None) -> None:
  """``a`` ≈ ``b``, else one line: what was compared, on which input, the largest
  difference and where (``cnnlab.check`` shows a failure's first line)."""
  a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
  inp = f" on input {tuple(x.shape)} {x.dtype}" if x is not None else ""
  if a.shape != b.shape:
    raise AssertionError(f"{what}{inp}: shapes {a.shape} and {b.shape} differ")
  bad = ~(np.abs(a - b) <= atol + rtol * np.abs(b)) | (np.isnan(a) != np.isnan(b))
  if bad.any():
    diff = np.where(np.isnan(a - b), np.inf, np.abs(a - b))
    excess = np.where(bad, diff - (atol + rtol * np.abs(b)), -np.inf)  # the worst offender
    at = np.unravel_index(int(np.argmax(excess)), diff.shape)
    raise AssertionError(
        f"{what}{inp}: {int(bad.sum())} of {bad.size} values differ beyond rtol={rtol:g}, "
        f"atol={atol:g}; the largest excess: difference {diff[at]:.3g} at index "
        f"{tuple(map(int, at))} ({a[at]:.6g} vs {b[at]:.6g})")


# -- pooling ------------------------------------------------------------------------------


def _pool(case: str, ndim: int, padding: str, train: bool) -> Callable:
  spec = get_pool(case)
  params = spec.init_params(jax.random.PRNGKey(7), CHANNELS, 2, ndim)
  key = jax.random.PRNGKey(0)
  return lambda z: spec(z, 2, None, padding, params=params, rng=key, train=train)


def _modes(case: str) -> Tuple[bool, ...]:
  return (False, True) if get_pool(case).stochastic else (False,)


def pool_shape(case: str, ndim: int, padding: str) -> None:
  """The output shape is the registered rule's (the output-size formula for window ops)."""
  spec = get_pool(case)
  x = _input(ndim, nonneg=spec.requires_nonnegative)
  for train in _modes(case):
    y = _pool(case, ndim, padding, train)(x)
    want = spec.output_shape(x.shape, 2, None, padding)
    assert y.shape == want, f"{case} (train={train}): shape {y.shape}, expected {want}"


def pool_jit(case: str, ndim: int, padding: str) -> None:
  """Under ``jit`` the same numbers as eagerly."""
  x = _input(ndim, nonneg=get_pool(case).requires_nonnegative)
  for train in _modes(case):
    f = _pool(case, ndim, padding, train)
    _close(jax.jit(f)(x), f(x), 1e-5, 1e-6, f"{case} (train={train}) jit vs eager", x)


def pool_deterministic(case: str, ndim: int, padding: str) -> None:
  """The same output for the same input and key."""
  x = _input(ndim, nonneg=get_pool(case).requires_nonnegative)
  for train in _modes(case):
    f = _pool(case, ndim, padding, train)
    np.testing.assert_array_equal(f(x), f(x), err_msg=f"{case} (train={train})")


def pool_gradients(case: str, ndim: int, padding: str) -> None:
  """Finite gradients, and some signal reaches the input."""
  x = _input(ndim, nonneg=get_pool(case).requires_nonnegative)
  for train in _modes(case):
    f = _pool(case, ndim, padding, train)
    g = np.asarray(jax.jit(jax.grad(lambda z, f=f: f(z).sum()))(x))
    assert np.all(np.isfinite(g)), f"{case} (train={train}): non-finite gradient"
    assert np.any(g != 0), f"{case} (train={train}): no gradient reaches the input"


def pool_bfloat16(case: str, ndim: int, padding: str) -> None:
  """bfloat16 in, bfloat16 out, close to float32 (in eval mode)."""
  x = _input(ndim, nonneg=get_pool(case).requires_nonnegative)
  f = _pool(case, ndim, padding, False)
  yb = f(x.astype(jnp.bfloat16))
  assert yb.dtype == jnp.bfloat16, f"{case}: bfloat16 input gave {yb.dtype}"
  assert f(x).dtype == jnp.float32, f"{case}: float32 input gave {f(x).dtype}"
  _close(yb, f(x), 5e-2, 5e-2, f"{case} bfloat16 vs float32", x.astype(jnp.bfloat16))


def pool_window_too_large(case: str) -> None:
  """A window larger than its input fails before anything runs, naming the layer."""
  spec = get_pool(case)
  if spec.kind != "window":
    return
  try:
    spec(jnp.ones((1, 3, 3, 2)), 4, layer="p7")
  except ValueError as e:
    assert "layer 'p7'" in str(e), f"{case}: the error does not name the layer: {e}"
    return
  raise AssertionError(f"{case}: a 4×4 window on a 3×3 map was accepted")


def pool_learnable(case: str) -> None:
  """Learnable parameters get finite gradients."""
  spec = get_pool(case)
  if not spec.learnable:
    return
  x = _input(2, nonneg=True)
  params = spec.init_params(jax.random.PRNGKey(0), CHANNELS, 2, 2)
  g = jax.grad(lambda p: spec(x, 2, params=p).sum())(params)
  for leaf in jax.tree_util.tree_leaves(g):
    assert np.all(np.isfinite(leaf)), f"{case}: non-finite parameter gradient"


def pool_entry_is_its_function(case: str) -> None:
  """The registry entry called as users call it (the options passed to the call, no
  parameters for a learnable op whose initial ones are not random) computes what the
  bare function computes with those options (init options: the parameters they set)."""
  name, options = parse_call(case)
  entry = POOLS.get(name)
  x = _input(2, nonneg=entry.requires_nonnegative)
  key = jax.random.PRNGKey(0)
  init = {k: v for k, v in options.items() if k in entry.init_options}
  call = {k: v for k, v in entry.resolve(options).items() if k not in entry.init_options}
  params = entry.init_params(jax.random.PRNGKey(7), CHANNELS, 2, 2, **options) \
      if entry.learnable and entry.init_random else None
  bare_params = params or (entry.init(None, CHANNELS, (2, 2), **init) if entry.learnable
                           else {})
  for train in _modes(case):
    if entry.kind == "identity":
      via, bare = entry(x), entry.fn(x)
    elif entry.kind == "global":
      via, bare = entry(x, params=params, **options), entry.fn(x, **call, **bare_params)
    else:
      extra = {"rng": key, "train": train} if entry.stochastic else {}
      via = entry(x, 2, None, "SAME", params=params, rng=key, train=train, **options)
      bare = entry.fn(x, 2, None, "SAME", **call, **bare_params, **extra)
    _close(via, bare, 1e-6, 1e-6, f"{case} (train={train}): POOLS[{name!r}] called with "
           f"{options or 'no options'} vs its function", x)


def roi_entry_is_its_function(case: str) -> None:
  """An RoI pooling entry takes its boxes (``entry(features, rois, **options)``) and
  computes what the bare function computes with the case's options."""
  name, options = parse_call(case)
  entry = ROI_POOLS.get(name)
  x = _input(2)
  rois = np.asarray([[0, 0, 0, 4, 3], [1, 1, 2, 3, 4], [0, 2, 1, 2, 1]], np.float32)
  bare = entry.fn(x, rois, **entry.resolve(options))
  _close(entry(x, rois, **options), bare, 1e-6, 1e-6,
         f"{case}: ROI_POOLS[{name!r}] called with {options or 'no options'} vs its function",
         x)
  _close(entry(x, rois=rois, **options), bare, 1e-6, 1e-6, f"{case}: rois= by keyword", x)


POOL_CHECKS = {"shape": pool_shape, "jit": pool_jit, "deterministic": pool_deterministic,
               "gradients": pool_gradients, "bfloat16": pool_bfloat16}
POOL_SINGLE_CHECKS = {"window too large": pool_window_too_large, "learnable": pool_learnable,
                      "entry is its function": pool_entry_is_its_function}


# -- activations ----------------------------------------------------------------------------

_GRID = np.linspace(-30, 30, 6001, dtype=np.float32)


def act_shape_and_dtype(case: str) -> None:
  """Elementwise: the input's shape and dtype."""
  y = get_activation(case)(jnp.asarray(_GRID))
  assert y.shape == _GRID.shape and y.dtype == jnp.float32, f"{case}: {y.shape} {y.dtype}"


def act_jit(case: str) -> None:
  spec = get_activation(case)
  x = jnp.asarray(_GRID)
  _close(jax.jit(spec.__call__)(x), spec(x), 1e-6, 1e-6, f"{case} jit vs eager", x)


def act_range(case: str) -> None:
  """Every output lies in the declared range (on a dense grid over [-30, 30])."""
  spec = get_activation(case)
  y = np.asarray(spec(jnp.asarray(_GRID)))
  lo, hi = spec.output_range
  assert y.min() >= lo - 1e-6 and y.max() <= hi + 1e-6, \
      f"{case}: outputs [{y.min():.6g}, {y.max():.6g}] outside the declared [{lo}, {hi}]"


def act_gradients(case: str) -> None:
  spec = get_activation(case)
  g = jax.vmap(jax.grad(lambda v: spec(v)))(jnp.asarray(_GRID))
  assert np.all(np.isfinite(g)), f"{case}: non-finite gradient"


def act_bfloat16(case: str) -> None:
  spec = get_activation(case)
  yb = spec(jnp.asarray(_GRID, jnp.bfloat16))
  assert yb.dtype == jnp.bfloat16, f"{case}: bfloat16 input gave {yb.dtype}"
  _close(yb, spec(jnp.asarray(_GRID)), 2e-2, 2e-2, f"{case} bfloat16 vs float32",
         jnp.asarray(_GRID, jnp.bfloat16))


def act_entry_is_its_function(case: str) -> None:
  """The registry entry called with the case's options, and the bound name, compute what
  the bare function computes with them."""
  name, options = parse_call(case)
  entry = ACTIVATIONS.get(name)
  x = jnp.asarray(_GRID)
  bare = entry.fn(x, **entry.resolve(options))
  _close(entry(x, **options), bare, 1e-6, 1e-6,
         f"{case}: ACTIVATIONS[{name!r}] called with {options or 'no options'} vs its function",
         x)
  _close(get_activation(case)(x), bare, 1e-6, 1e-6, f"{case}: the bound name vs its function",
         x)


ACT_CHECKS = {"shape and dtype": act_shape_and_dtype, "jit": act_jit, "range": act_range,
              "gradients": act_gradients, "bfloat16": act_bfloat16,
              "entry is its function": act_entry_is_its_function}


# -- normalization ----------------------------------------------------------------------------


def _norm(case: str, train: bool) -> Tuple[Callable, Dict]:
  """``f(x, params) -> y`` and the initial params."""
  spec = get_norm(case)
  params = spec.init(CHANNELS) if spec.init else {}
  stats = spec.init_stats(CHANNELS) if spec.has_stats else {}

  def f(z, p):
    out = spec(z, params=p, stats=stats, train=train)
    return out[0] if spec.has_stats else out
  return f, params


def norm_shape_and_dtype(case: str, ndim: int) -> None:
  x = _input(ndim)
  for train in (False, True):
    f, params = _norm(case, train)
    y = f(x, params)
    assert y.shape == x.shape and y.dtype == x.dtype, f"{case}: {y.shape} {y.dtype}"


def norm_jit(case: str, ndim: int) -> None:
  x = _input(ndim)
  for train in (False, True):
    f, params = _norm(case, train)
    _close(jax.jit(f)(x, params), f(x, params), 1e-5, 1e-5, f"{case} (train={train}) jit", x)


def norm_gradients(case: str, ndim: int) -> None:
  """Finite gradients for the input and every parameter."""
  x = _input(ndim)
  for train in (False, True):
    f, params = _norm(case, train)
    gx, gp = jax.grad(lambda z, p, f=f: (f(z, p) ** 2).sum(), argnums=(0, 1))(x, params)
    for leaf in [gx] + jax.tree_util.tree_leaves(gp):
      assert np.all(np.isfinite(leaf)), f"{case} (train={train}): non-finite gradient"


def norm_bfloat16(case: str, ndim: int) -> None:
  f, params = _norm(case, False)
  y = f(_input(ndim, dtype=jnp.bfloat16), params)
  assert y.dtype == jnp.bfloat16, f"{case}: bfloat16 input gave {y.dtype}"


def norm_statistics(case: str, ndim: int) -> None:
  """Running statistics: every one returned, unchanged in eval mode."""
  spec = get_norm(case)
  if not spec.has_stats:
    return
  stats = spec.init_stats(CHANNELS)
  params = spec.init(CHANNELS) if spec.init else {}
  for train in (False, True):
    _, new = spec(_input(ndim), params=params, stats=stats, train=train)
    new = dict(zip(spec.stat_names, new))
    assert set(new) == set(stats), f"{case}: statistics {sorted(new)} != {sorted(stats)}"
    if not train:
      for k in stats:
        np.testing.assert_array_equal(new[k], stats[k], err_msg=f"{case}: eval moved {k}")


def norm_entry_is_its_function(case: str, ndim: int) -> None:
  """The registry entry called with the case's options computes what the bare function
  computes with them (train and eval)."""
  name, options = parse_call(case)
  entry = NORMS.get(name)
  x = _input(ndim)
  params = entry.init(CHANNELS) if entry.init else {}
  stats = entry.init_stats(CHANNELS) if entry.has_stats else {}
  full = entry.resolve(options)
  for train in (False, True):
    via = entry(x, params=params, stats=stats, train=train, **options)
    bare = entry.fn(x, **params, **stats, **full, train=train, axis_name=None) \
        if entry.has_stats else entry.fn(x, **params, **full)
    via, bare = (via[0], bare[0]) if entry.has_stats else (via, bare)
    _close(via, bare, 1e-6, 1e-6, f"{case} (train={train}): NORMS[{name!r}] called with "
           f"{options or 'no options'} vs its function", x)


NORM_CHECKS = {"shape and dtype": norm_shape_and_dtype, "jit": norm_jit,
               "gradients": norm_gradients, "bfloat16": norm_bfloat16,
               "statistics": norm_statistics, "entry is its function": norm_entry_is_its_function}

REGISTRIES = {"pool": POOLS, "act": ACTIVATIONS, "norm": NORMS}
