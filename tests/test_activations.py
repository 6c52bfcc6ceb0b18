"""Activations against closed forms; declared ranges hold."""

import math

import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import erf

from cnnlab.ops import activations as A

X = np.linspace(-8, 8, 2001)

CLOSED_FORMS = {
    "relu": lambda x: np.maximum(x, 0),
    "tanh": np.tanh,
    "abs_tanh": lambda x: np.abs(np.tanh(x)),
    "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
    "lecun_tanh": lambda x: 1.7159 * np.tanh(2 * x / 3),
    "leaky_relu": lambda x: np.where(x > 0, x, 0.01 * x),
    "leaky_relu(negative_slope=0.2)": lambda x: np.where(x > 0, x, 0.2 * x),
    "elu": lambda x: np.where(x > 0, x, np.expm1(x)),
    "elu(alpha=2.5)": lambda x: np.where(x > 0, x, 2.5 * np.expm1(x)),
    "gelu": lambda x: x * 0.5 * (1 + erf(x / math.sqrt(2))),
    "silu": lambda x: x / (1 + np.exp(-x)),
    "swish": lambda x: x / (1 + np.exp(-x)),
    "softplus": lambda x: np.log1p(np.exp(x)),
    "mish": lambda x: x * np.tanh(np.log1p(np.exp(x))),
    "relu6": lambda x: np.clip(x, 0, 6),
    "hard_tanh": lambda x: np.clip(x, -1, 1),
    "identity": lambda x: x,
    "selu": lambda x: 1.0507009873554805 * np.where(x > 0, x, 1.6732632423543772 * np.expm1(x)),
}


@pytest.mark.parametrize("name", sorted(CLOSED_FORMS))
def test_closed_form(name):
  y = A.get_activation(name)(jnp.asarray(X, jnp.float32))
  np.testing.assert_allclose(np.asarray(y, np.float64), CLOSED_FORMS[name](X), rtol=1e-5,
                             atol=1e-5)


def test_every_builtin_has_a_closed_form_test():
  """Built-ins only: an activation a user registers needs no test of its own (the
  conformance battery checks it)."""
  assert A.BUILTIN <= set(CLOSED_FORMS)


def test_a_users_activation_is_not_held_to_the_closed_form_list():
  A.register_activation("toy_cube", lambda x: x ** 3)
  try:
    assert "toy_cube" in A.ACTIVATIONS and "toy_cube" not in A.BUILTIN
  finally:
    A.ACTIVATIONS.remove("toy_cube")


def test_lecun_tanh_hits_plus_minus_one_at_one():
  f = A.get_activation("lecun_tanh")
  assert float(f(jnp.float32(1.0))) == pytest.approx(1.0, abs=2e-4)


@pytest.mark.parametrize("name,lo", [("gelu", A.GELU_MIN), ("silu", A.SILU_MIN),
                                     ("mish", A.MISH_MIN)])
def test_declared_minimum_is_tight(name, lo):
  y = CLOSED_FORMS[name](np.linspace(-5, 0, 200001))
  assert y.min() >= lo and y.min() - lo < 5e-4


def test_nonnegative_flags():
  nonneg = {n for n in A.ACTIVATIONS.names() if A.get_activation(n).nonnegative}
  assert {"relu", "sigmoid", "abs_tanh", "softplus", "relu6"} <= nonneg
  assert not nonneg & {"tanh", "lecun_tanh", "leaky_relu", "elu", "gelu", "identity"}


def test_bad_range_rejected():
  with pytest.raises(ValueError, match="low"):
    A.register_activation("bad_range", lambda x: x, output_range=(1, 0))
