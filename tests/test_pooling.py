"""Pooling numerics against NumPy loops over windows, hand-worked cases and closed forms."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnlab.ops.pooling import get_pool

import reference as ref
from cnnlab.ops import pooling as P
from cnnlab.ops.shapes import ShapeError

# (spatial shape, window, strides, padding): 1-D, 2-D and 3-D, odd sizes, overlap,
# SAME, explicit and asymmetric padding.
GEOMETRIES = [
    ((7,), (3,), (2,), "VALID"),
    ((6,), (2,), (2,), "SAME"),
    ((5, 6), (2, 2), (2, 2), "VALID"),
    ((5, 5), (3, 3), (2, 2), "SAME"),
    ((4, 5), (3, 2), (1, 2), [(1, 1), (0, 1)]),
    ((3, 4, 4), (2, 2, 2), (1, 2, 2), "VALID"),
    ((3, 3, 3), (2, 2, 2), (2, 2, 2), 1),
]


def _x(spatial, seed=0, positive=False, channels=3):
  rng = np.random.default_rng(seed)
  x = rng.normal(size=(2,) + tuple(spatial) + (channels,))
  return np.abs(x) + 0.1 if positive else x


def _check(ours, want, tol=1e-5):
  np.testing.assert_allclose(np.asarray(ours, np.float64), want, rtol=tol, atol=tol)


@pytest.mark.parametrize("spatial,window,strides,padding", GEOMETRIES)
def test_window_pools_match_numpy_loops(spatial, window, strides, padding):
  x = _x(spatial)
  xj = jnp.asarray(x, jnp.float32)
  args = (window, strides, padding)
  _check(P.max_pool(xj, *args), ref.pool(x, *args, ref.max_ref))
  _check(P.min_pool(xj, *args), ref.pool(x, *args, ref.min_ref))
  _check(P.avg_pool(xj, *args), ref.pool(x, *args, ref.avg_ref))
  _check(P.avg_pool(xj, *args, count_include_pad=False),
         ref.pool(x, *args, lambda v, m: ref.avg_ref(v, m, include_pad=False)))
  for p in (2.0, 3.0):
    for form in ("sum", "mean"):
      _check(P.lp_pool(xj, *args, p=p, form=form), ref.pool(x, *args, ref.lp_ref(p, form)),
             tol=1e-4)
  _check(P.distance_weighted_pool(xj, *args, sigma=0.8),
         ref.pool(x, *args, ref.distance_ref(window, 0.8)))
  xp = np.abs(x)
  _check(P.stochastic_pool(jnp.asarray(xp, jnp.float32), *args, train=False),
         ref.pool(xp, *args, ref.stochastic_eval_ref))
  alpha = 0.3
  _check(P.mixed_pool(xj, *args, alpha=alpha),
         alpha * ref.pool(x, *args, ref.max_ref) + (1 - alpha) * ref.pool(x, *args, ref.avg_ref))
  omega = np.linspace(-1, 1, int(np.prod(window)))
  _check(P.gated_pool(xj, *args, omega=jnp.asarray(omega, jnp.float32)),
         ref.pool(x, *args, ref.gated_ref(omega)))
  first = ref.pool(x, *args, lambda v, m: np.where(np.isnan(v[:, 0]), 0.0, v[:, 0]))
  _check(P.subsample(xj, *args), first)


@pytest.mark.parametrize("shape,window", [((2, 9, 3), 2), ((2, 7, 8, 3), (2, 2)),
                                          ((1, 4, 6, 4, 2), (2, 3, 2))])
@pytest.mark.parametrize("name", ["max_pool", "min_pool"])
def test_tiled_max_and_min_pools_equal_reduce_window_in_value_and_gradient(shape, window, name):
  """Non-overlapping windows take the reshape path (fast gradients on CPU); it must give
  reduce_window's values and, without ties, its gradients (odd sizes are cropped)."""
  x = jax.random.normal(jax.random.PRNGKey(0), shape)
  fast = getattr(P, name)
  init, op = (-jnp.inf, jax.lax.max) if name == "max_pool" else (jnp.inf, jax.lax.min)
  w = P._geometry(x, window, None, "VALID")[0]
  slow = lambda z: jax.lax.reduce_window(z, np.float32(init), op, (1,) + w + (1,),
                                         (1,) + w + (1,), "VALID")
  np.testing.assert_array_equal(fast(x, window), slow(x))
  g = lambda f: jax.grad(lambda z: (f(z) ** 2).sum())(x)
  np.testing.assert_allclose(g(lambda z: fast(z, window)), g(slow), rtol=1e-6)
  ties = jnp.zeros((1, 2, 2, 1))  # tied maxima: all of it to the first, as reduce_window
  rw = lambda z: jax.lax.reduce_window(z, np.float32(init), op, (1, 2, 2, 1), (1, 2, 2, 1),
                                       "VALID")
  for f in (lambda z: fast(z, 2), rw):
    np.testing.assert_array_equal(jax.grad(lambda z: f(z).sum())(ties).ravel(), [1, 0, 0, 0])


def test_hand_worked_4x4_max_pool_stride_2():
  # The textbook example: a 4x4 map, 2x2 max pool, stride 2 -> 2x2.
  x = jnp.array([[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]], jnp.float32)
  y = P.max_pool(x[None, :, :, None], 2, 2)[0, :, :, 0]
  np.testing.assert_array_equal(y, [[6, 8], [3, 4]])


def test_l2_forms_are_distinct_and_named():
  x = jnp.full((1, 2, 2, 1), 3.0)
  assert float(P.get_pool("l2_sum")(x, 2).squeeze()) == pytest.approx(6.0)  # sqrt(4·9)
  assert float(P.get_pool("l2_rms")(x, 2).squeeze()) == pytest.approx(3.0)  # sqrt(9)
  with pytest.raises(KeyError, match="ambiguous.*l2_sum.*l2_rms"):
    P.get_pool("l2")


def test_lp_pool_zero_window_gives_zero_value_and_gradient():
  x = jnp.zeros((1, 4, 4, 1))
  for form in ("sum", "mean"):
    y = P.lp_pool(x, 2, form=form)
    g = jax.grad(lambda z: P.lp_pool(z, 2, form=form).sum())(x)
    assert np.all(np.asarray(y) == 0) and np.all(np.isfinite(g))


def test_stochastic_pool_sampling_frequencies_match_probabilities():
  # One window with distinct values: p = a / Σa = [1, 2, 3, 0] / 6.
  a = jnp.array([1.0, 2.0, 3.0, 0.0]).reshape(1, 2, 2, 1)
  n = 20000
  keys = jax.random.split(jax.random.PRNGKey(0), n)
  draws = jax.jit(jax.vmap(lambda k: P.stochastic_pool(a, 2, rng=k, train=True)))(keys)
  draws = np.asarray(draws).reshape(-1)
  freq = np.array([(draws == v).mean() for v in (1.0, 2.0, 3.0, 0.0)])
  # Binomial std of a frequency is ≤ 0.5/sqrt(n) = 0.0035; allow 4 std.
  np.testing.assert_allclose(freq, [1 / 6, 2 / 6, 3 / 6, 0.0], atol=0.015)
  # Eval mode is the probability-weighted average Σ pᵢ aᵢ = (1 + 4 + 9) / 6.
  assert float(P.stochastic_pool(a, 2).squeeze()) == pytest.approx(14 / 6)
  # ... which is also the expectation of the training-time samples.
  assert draws.mean() == pytest.approx(14 / 6, abs=0.03)


def test_stochastic_pool_all_zero_window_is_zero_not_nan():
  x = jnp.zeros((1, 4, 4, 2))
  for train in (True, False):
    y = P.stochastic_pool(x, 2, rng=jax.random.PRNGKey(0), train=train)
    g = jax.grad(lambda z: P.stochastic_pool(z, 2, rng=jax.random.PRNGKey(0),
                                             train=train).sum())(x)
    assert np.all(np.asarray(y) == 0) and np.all(np.isfinite(g))


def test_stochastic_pool_needs_a_key_at_train_time():
  with pytest.raises(ValueError, match="rng"):
    P.stochastic_pool(jnp.ones((1, 2, 2, 1)), 2, train=True)


def test_stochastic_sample_is_an_element_of_its_window():
  x = jnp.asarray(np.abs(_x((6, 6), seed=3)), jnp.float32)
  y = P.stochastic_pool(x, 2, rng=jax.random.PRNGKey(5), train=True)
  patches = np.asarray(P.extract_patches(x, 2))
  assert np.all(np.any(np.isclose(patches, np.asarray(y)[..., None]), axis=-1))


def test_mixed_pool_endpoints_and_per_channel_alpha():
  x = jnp.asarray(_x((4, 4)), jnp.float32)
  np.testing.assert_allclose(P.mixed_pool(x, 2, alpha=1.0), P.max_pool(x, 2), atol=1e-6)
  np.testing.assert_allclose(P.mixed_pool(x, 2, alpha=0.0), P.avg_pool(x, 2), atol=1e-6)
  alpha = jnp.array([0.0, 1.0, 0.5])
  y = P.mixed_pool(x, 2, alpha=alpha)
  np.testing.assert_allclose(y[..., 0], P.avg_pool(x, 2)[..., 0], atol=1e-6)
  np.testing.assert_allclose(y[..., 1], P.max_pool(x, 2)[..., 1], atol=1e-6)


def test_gated_pool_per_channel_omega_and_gate_extremes():
  x = jnp.asarray(np.abs(_x((4, 4))) + 1, jnp.float32)
  big = jnp.full((4,), 1e3)  # σ(large) = 1 -> max
  np.testing.assert_allclose(P.gated_pool(x, 2, omega=big), P.max_pool(x, 2), rtol=1e-6)
  np.testing.assert_allclose(P.gated_pool(x, 2, omega=-big), P.avg_pool(x, 2), rtol=1e-6)
  per_channel = jnp.zeros((4, 3))
  assert P.gated_pool(x, 2, omega=per_channel).shape == (2, 2, 2, 3)
  with pytest.raises(ShapeError, match="omega"):
    P.gated_pool(x, 2, omega=jnp.zeros((5,)))


def test_distance_weighted_pool_weights_fall_with_distance():
  w = P.distance_weights((3, 3), sigma=1.0).reshape(3, 3)
  assert w[1, 1] == 1.0 and w[0, 1] > w[0, 0]
  x = jnp.asarray(_x((4, 4)), jnp.float32)  # 2x2 windows: equidistant -> plain average
  np.testing.assert_allclose(P.distance_weighted_pool(x, 2), P.avg_pool(x, 2), atol=1e-6)


def test_global_pools_closed_forms():
  x = jnp.asarray(np.abs(_x((3, 4), seed=1)) + 0.5, jnp.float32)
  xn = np.asarray(x, np.float64)
  _check(P.global_avg_pool(x), xn.mean((1, 2)))
  _check(P.global_max_pool(x), xn.max((1, 2)))
  _check(P.gem_pool(x, p=3.0), (xn ** 3).mean((1, 2)) ** (1 / 3), tol=1e-4)
  _check(P.gem_pool(x, p=1.0), xn.mean((1, 2)), tol=1e-5)
  assert P.global_avg_pool(x, keepdims=True).shape == (2, 1, 1, 3)
  # GeM tends to max as p grows.
  _check(P.gem_pool(x, p=200.0), xn.max((1, 2)), tol=2e-2)


def test_identity_and_window_errors():
  x = jnp.ones((1, 4, 4, 2))
  assert P.identity_pool(x, 99) is x
  with pytest.raises(ShapeError, match="window 5 is larger than the padded input 4"):
    P.max_pool(x, 5)
  with pytest.raises(ShapeError, match="layer 'pool3'"):
    P.get_pool("avg")(x, 5, layer="pool3")
  with pytest.raises(ShapeError, match="1-3 spatial axes"):
    P.max_pool(jnp.ones((4, 4)), 2)


ROIS = np.array([
    [0, 0, 0, 7, 7],      # the whole map
    [1, 2, 1, 5, 6],      # interior box
    [0, 6, 6, 12, 12],    # over the bottom-right border
    [1, 3, 3, 3, 3],      # a single pixel: smaller than the 2x3 grid
    [0, 2, 3, 4, 4],      # 3x2 box, smaller than the grid in one direction
    [1, -4, -4, -1, -1],  # entirely outside: empty cells -> 0
    [0, 0.4, 1.6, 5.5, 6.49],  # fractional corners (rounded half away from zero)
], np.float32)


@pytest.mark.parametrize("scale", [1.0, 0.5])
def test_roi_max_pool_matches_caffe_reference(scale):
  feats = np.random.default_rng(0).normal(size=(2, 8, 8, 3)).astype(np.float32)
  rois = ROIS.copy()
  if scale != 1.0:
    rois[:, 1:] /= scale
  ours = P.roi_max_pool(jnp.asarray(feats), jnp.asarray(rois), (2, 3), spatial_scale=scale)
  _check(ours, ref.roi_max_pool_ref(feats, rois, 2, 3, scale))
  assert ours.shape == (len(rois), 2, 3, 3)
  assert np.all(np.asarray(ours[5]) == 0)  # outside the map


def _roi_cases(n=128, seed=3):
  """Boxes of every kind on an 11×9 map (larger than most boxes), with grids of 1–7."""
  rng = np.random.default_rng(seed)
  cases = [((1, -2, -3, 4, 5), (7, 7))]  # the case the outside check found
  while len(cases) < n:
    x1, y1 = rng.integers(-3, 9, 2)
    w, h = rng.integers(0, 9, 2)
    grid = tuple(int(g) for g in rng.integers(1, 8, 2))
    cases.append(((int(rng.integers(0, 2)), int(x1), int(y1), int(x1 + w), int(y1 + h)), grid))
  return cases


def test_roi_cells_stay_inside_the_box_under_jit_on_a_larger_map():
  feats = np.random.default_rng(4).normal(size=(2, 11, 9, 3)).astype(np.float32)
  pooled = {}
  for box, grid in _roi_cases():
    if grid not in pooled:
      pooled[grid] = jax.jit(lambda f, r, g=grid: P.roi_max_pool(f, r, g))
    rois = np.asarray([box], np.float32)
    ours = pooled[grid](jnp.asarray(feats), jnp.asarray(rois))
    np.testing.assert_array_equal(np.asarray(ours), ref.roi_max_pool_ref(
        feats, rois, *grid).astype(np.float32), err_msg=f"box {box}, grid {grid}")


def test_roi_batch_index_must_name_an_image():
  feats = jnp.ones((2, 6, 6, 1))
  for bad in (2, -1, 0.5):
    with pytest.raises(ShapeError, match="box 1 has batch index .*valid: 0..1"):
      P.roi_max_pool(feats, np.asarray([[0, 0, 0, 3, 3], [bad, 0, 0, 3, 3]], np.float32), 2)
  # Under jit the index cannot be checked: such a box gives NaN, never another image.
  out = jax.jit(lambda r: P.roi_max_pool(feats, r, 2))(
      jnp.asarray([[0, 0, 0, 3, 3], [5, 0, 0, 3, 3]], jnp.float32))
  assert np.all(np.isfinite(out[0])) and np.all(np.isnan(out[1]))


def test_pooling_padding_of_more_than_half_a_window_is_rejected():
  x = jnp.ones((1, 6, 6, 1))
  for name in ("max", "avg_exclude_pad", "lp_mean", "subsample"):
    with pytest.raises(ShapeError, match="layer 'p1': pooling padding \\(2, 2\\) on spatial axis "
                                         "0 is more than half the window 3"):
      get_pool(name)(x, 3, 1, ((2, 2), (1, 1)), layer="p1")
  y = get_pool("avg_exclude_pad")(x, 3, 1, ((1, 1), (1, 1)))  # half a window: fine
  assert np.all(np.isfinite(y)) and y.shape == (1, 6, 6, 1)


def test_roi_max_pool_jit_grad_and_errors():
  feats = jnp.asarray(np.random.default_rng(1).normal(size=(1, 6, 6, 2)), jnp.float32)
  rois = jnp.asarray([[0, 0, 0, 5, 5], [0, 1, 1, 3, 4]], jnp.float32)
  f = lambda z: P.roi_max_pool(z, rois, 3).sum()
  np.testing.assert_allclose(jax.jit(f)(feats), f(feats), rtol=1e-6)
  assert np.all(np.isfinite(jax.grad(f)(feats)))
  with pytest.raises(ShapeError, match=r"\(R, 5\)"):
    P.roi_max_pool(feats, jnp.zeros((2, 4)), 3)


def test_window_pools_differentiate_under_jit():
  # Regression: a traced init value made reduce_window non-differentiable under jit.
  x = jnp.asarray(_x((6, 6)), jnp.float32)
  for fn in (P.max_pool, P.min_pool, P.avg_pool):
    g = jax.jit(jax.grad(lambda z: fn(z, 3, 2, "SAME").sum()))(x)
    assert np.all(np.isfinite(g)) and np.any(np.asarray(g) != 0)
