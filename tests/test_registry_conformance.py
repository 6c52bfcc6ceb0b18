"""Conformance tests generated from the registries.

Every registered pooling op, activation and norm — built in, or registered by a
researcher in one line — is checked here for shape, jit, finite gradients,
bfloat16 and determinism, in 1-D, 2-D and 3-D where it applies. The
parametrization comes from ``conftest.pytest_generate_tests``.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnlab.ops import get_activation, get_norm, get_pool

SPATIAL = {1: (9,), 2: (6, 5), 3: (4, 5, 4)}
CHANNELS = 4


def _input(ndim, seed=0, nonneg=False, dtype=jnp.float32):
  x = np.random.default_rng(seed).normal(size=(2,) + SPATIAL[ndim] + (CHANNELS,))
  # Distinct values avoid ties (whose gradients are implementation-defined).
  x = x + np.arange(x.size).reshape(x.shape) * 1e-3
  return jnp.asarray(np.abs(x) + 0.05 if nonneg else x, dtype)


def _pool_call(spec, ndim, x, train, key, window=2, strides=None, padding="VALID"):
  params = spec.init_params(jax.random.PRNGKey(7), x.shape[-1], window, ndim)
  return spec(x, window, strides, padding, params=params, rng=key, train=train)


@pytest.mark.parametrize("ndim", [1, 2, 3])
@pytest.mark.parametrize("padding", ["VALID", "SAME"])
def test_pool_conformance(pool_name, ndim, padding):
  spec = get_pool(pool_name)
  key = jax.random.PRNGKey(0)
  x = _input(ndim, nonneg=spec.requires_nonnegative)
  for train in ((False, True) if spec.stochastic else (False,)):
    f = lambda z: _pool_call(spec, ndim, z, train, key, padding=padding)
    y = f(x)
    # Shape: the registered output-shape rule (the output-size formula for window ops).
    assert y.shape == spec.output_shape(x.shape, 2, None, padding), (pool_name, train)
    assert y.dtype == x.dtype
    # jit gives the same numbers.
    np.testing.assert_allclose(jax.jit(f)(x), y, rtol=1e-5, atol=1e-6)
    # Deterministic for a fixed key.
    np.testing.assert_array_equal(f(x), y)
    # Finite gradients, and some signal reaches the input.
    g = jax.grad(lambda z: f(z).sum())(x)
    assert np.all(np.isfinite(g)) and np.any(np.asarray(g) != 0), pool_name
    # bfloat16 in, bfloat16 out, close to float32.
    yb = f(x.astype(jnp.bfloat16))
    assert yb.dtype == jnp.bfloat16
    if not (spec.stochastic and train):
      np.testing.assert_allclose(np.asarray(yb, np.float32), y, rtol=5e-2, atol=5e-2)


def test_pool_learnable_params_are_finite_and_differentiable(learnable_pool_name):
  spec = get_pool(learnable_pool_name)
  x = _input(2, nonneg=True)
  params = spec.init_params(jax.random.PRNGKey(0), CHANNELS, 2, 2)
  g = jax.grad(lambda p: spec(x, 2, params=p).sum())(params)
  for leaf in jax.tree_util.tree_leaves(g):
    assert np.all(np.isfinite(leaf))


def test_pool_window_too_large_is_rejected_with_layer_name(window_pool_name):
  spec = get_pool(window_pool_name)
  with pytest.raises(ValueError, match="layer 'p7'"):
    spec(jnp.ones((1, 3, 3, 2)), 4, layer="p7")


def test_activation_conformance(act_name):
  spec = get_activation(act_name)
  x = jnp.linspace(-30, 30, 6001, dtype=jnp.float32)
  y = spec(x)
  assert y.shape == x.shape and y.dtype == x.dtype
  np.testing.assert_allclose(jax.jit(spec.fn)(x), y, rtol=1e-6, atol=1e-6)
  lo, hi = spec.output_range
  yn = np.asarray(y)
  assert yn.min() >= lo - 1e-6 and yn.max() <= hi + 1e-6, (act_name, yn.min(), yn.max())
  g = jax.vmap(jax.grad(lambda v: spec(v)))(x)
  assert np.all(np.isfinite(g))
  yb = spec(x.astype(jnp.bfloat16))
  assert yb.dtype == jnp.bfloat16
  np.testing.assert_allclose(np.asarray(yb, np.float32), yn, rtol=2e-2, atol=2e-2)


@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_norm_conformance(norm_name, ndim):
  spec = get_norm(norm_name)
  x = _input(ndim)
  params = spec.init(CHANNELS) if spec.init else {}
  stats = spec.init_stats(CHANNELS) if spec.has_stats else {}
  opts = {"num_groups": 2} if norm_name == "group" else {}
  for train in (False, True):
    f = lambda z, p: spec(z, params=p, stats=stats, train=train, **opts)
    out = f(x, params)
    y = out[0] if spec.has_stats else out
    assert y.shape == x.shape and y.dtype == x.dtype
    jy = jax.jit(f)(x, params)
    np.testing.assert_allclose(jy[0] if spec.has_stats else jy, y, rtol=1e-5, atol=1e-5)
    loss = lambda z, p: ((f(z, p)[0] if spec.has_stats else f(z, p)) ** 2).sum()
    gx, gp = jax.grad(loss, argnums=(0, 1))(x, params)
    assert np.all(np.isfinite(gx))
    for leaf in jax.tree_util.tree_leaves(gp):
      assert np.all(np.isfinite(leaf))
    out_b = f(x.astype(jnp.bfloat16), params)
    assert (out_b[0] if spec.has_stats else out_b).dtype == jnp.bfloat16
    if spec.has_stats:
      new = dict(zip(spec.stat_names, out[1]))
      assert set(new) == set(stats)
      if not train:
        for k in stats:
          np.testing.assert_array_equal(new[k], stats[k])
