"""Every lowering of :func:`cnnlab.ops.conv.conv` computes lax.conv's function, values and
gradients, and a NumPy loop over windows agrees with them."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnlab.ops import conv as C

CASES = [  # spatial input, window, strides, padding, dilation, groups, c_in, c_out
    ((11,), (3,), 1, "SAME", 1, 1, 1, 4),
    ((12,), (5,), 2, [(1, 1)], 1, 1, 3, 5),
    ((13,), (3,), 2, "SAME", 2, 2, 4, 6),
    ((9, 8), (3, 3), 1, "VALID", 1, 1, 2, 3),
    ((9, 8), (3, 2), (2, 1), "SAME", (1, 2), 1, 3, 4),
    ((8, 8), (3, 3), 2, [(1, 2), (0, 1)], 1, 2, 4, 6),
    ((5, 6, 4), (2, 3, 2), (1, 2, 1), "SAME", 1, 1, 2, 3),
    ((6, 5, 5), (3, 2, 2), 1, "VALID", (2, 1, 1), 3, 3, 3),
]


def _args(case, seed=0):
  spatial, window, strides, padding, dilation, groups, c_in, c_out = case
  rng = np.random.default_rng(seed)
  x = jnp.asarray(rng.normal(size=(2,) + spatial + (c_in,)), jnp.float32)
  k = jnp.asarray(rng.normal(size=window + (c_in // groups, c_out)), jnp.float32)
  return x, k, dict(strides=strides, padding=padding, dilation=dilation, groups=groups)


@pytest.mark.parametrize("form", ["im2col", "shifted"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{len(c[0])}d-{c[1]}-s{c[2]}-g{c[5]}")
def test_form_equals_lax_conv_in_values_and_gradients(case, form):
  x, k, opts = _args(case)
  want = C.conv(x, k, form="xla", **opts)
  got = C.conv(x, k, form=form, **opts)
  assert got.shape == want.shape
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
  ct = jnp.asarray(np.random.default_rng(1).normal(size=want.shape), jnp.float32)
  grad = lambda f: jax.grad(lambda a, b: jnp.sum(C.conv(a, b, form=f, **opts) * ct),  # noqa
                            argnums=(0, 1))(x, k)
  for g_got, g_want in zip(grad(form), grad("xla")):
    np.testing.assert_allclose(g_got, g_want, rtol=1e-4, atol=1e-4)


def _numpy_conv(x, k, stride, pad, dil):
  """Cross-correlation by a loop over output positions and window offsets (1-D, 2-D)."""
  x = np.pad(x, [(0, 0)] + list(pad) + [(0, 0)])
  nd = x.ndim - 2
  out = [(x.shape[1 + i] - (k.shape[i] - 1) * dil[i] - 1) // stride[i] + 1 for i in range(nd)]
  y = np.zeros((x.shape[0], *out, k.shape[-1]))
  for pos in itertools.product(*map(range, out)):
    for off in itertools.product(*map(range, k.shape[:nd])):
      idx = tuple(p * s + o * d for p, s, o, d in zip(pos, stride, off, dil))
      y[(slice(None),) + pos] += x[(slice(None),) + idx] @ k[off]
  return y


@pytest.mark.parametrize("form", C.FORMS)
def test_forms_match_a_numpy_loop(form):
  x, k, _ = _args(((9, 7), (3, 2), 1, None, 1, 1, 2, 3), seed=2)
  want = _numpy_conv(np.asarray(x, np.float64), np.asarray(k, np.float64), (2, 1),
                     [(1, 1), (0, 2)], (1, 2))
  got = C.conv(x, k, strides=(2, 1), padding=[(1, 1), (0, 2)], dilation=(1, 2), form=form)
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_choice_follows_backend_and_shape(monkeypatch):
  monkeypatch.delenv("CNNLAB_CONV_FORM", raising=False)
  assert C.choose_form((100, 40, 1), (3, 1, 20), backend="cpu") == "im2col"
  assert C.choose_form((100, 40, 4), (3, 2, 20), groups=2, backend="cpu") == "xla"
  assert C.choose_form((100, 28, 28, 1), (5, 5, 1, 32), backend="cpu") == "im2col"
  assert C.choose_form((100, 14, 14, 16), (5, 5, 16, 32), backend="cpu") == "xla"
  assert C.choose_form((100, 8, 8, 8, 1), (3, 3, 3, 1, 8), backend="cpu") == "xla"
  assert C.choose_form((100, 40, 1), (3, 1, 20), backend="gpu") == "xla"
  monkeypatch.setenv("CNNLAB_CONV_FORM", "shifted")
  assert C.choose_form((100, 28, 28, 1), (5, 5, 1, 32), backend="gpu") == "shifted"
  monkeypatch.setenv("CNNLAB_CONV_FORM", "winograd")
  with pytest.raises(ValueError, match="valid: xla, im2col, shifted"):
    C.choose_form((1, 4, 1), (3, 1, 1))


def test_unknown_form_is_a_clear_error():
  with pytest.raises(ValueError, match="unknown convolution form 'fft'.*'im2col'"):
    C.conv(jnp.ones((1, 5, 1)), jnp.ones((3, 1, 1)), form="fft")
