"""Shape arithmetic: the (W − F + 2P)/S + 1 formula, SAME, dilation, receptive fields."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnlab.ops import shapes as S
from cnnlab.ops.conv import conv


@pytest.mark.parametrize("w,f,p,s", [
    (28, 5, 0, 1), (32, 5, 2, 1), (7, 3, 0, 2), (7, 3, 1, 2), (8, 3, 1, 2), (227, 11, 0, 4),
    (13, 4, 1, 3), (5, 5, 0, 1), (9, 2, 0, 2),
])
def test_formula_on_odd_cases(w, f, p, s):
  assert S.output_size(w, f, s, p) == math.floor((w - f + 2 * p) / s) + 1


def test_hand_worked_lenet_style_chain():
  # 28x28 input, 5x5 VALID conv -> 24x24, 2x2 pool -> 12x12 (Nielsen ch. 6).
  assert S.output_sizes((28, 28), 5, 1) == (24, 24)
  assert S.output_sizes((24, 24), 2, 2) == (12, 12)
  # AlexNet conv1: 227 - 11, stride 4 -> 55.
  assert S.output_size(227, 11, 4) == 55


def test_same_padding_gives_ceil_and_matches_xla():
  for w in range(1, 12):
    for s in (1, 2, 3):
      for f in (1, 2, 3, 4):
        assert S.output_size(w, f, s, "SAME") == math.ceil(w / s)
        pads = S.resolve_padding("SAME", (w,), (f,), (s,))
        assert pads == tuple(jax.lax.padtype_to_pads((w,), (f,), (s,), "SAME"))


def test_dilation_and_asymmetric_padding():
  assert S.effective_window(3, 2) == 5
  assert S.output_size(10, 3, 1, "VALID", dilation=2) == 6
  assert S.output_size(10, 3, 1, (1, 2), dilation=2) == 9
  x = jnp.ones((1, 10, 1))
  k = jnp.ones((3, 1, 1))
  assert conv(x, k, padding=[(1, 2)], dilation=2).shape == (1, 9, 1)


def test_window_too_large_names_the_layer():
  with pytest.raises(S.ShapeError, match=r"layer 'conv3'.*window 5 is larger than the padded "
                                         r"input 4"):
    S.output_sizes((4, 4), 5, 1, name="conv3")
  with pytest.raises(S.ShapeError, match="dilation 3 makes it 7"):
    S.output_size(6, 3, 1, dilation=3, name="c")
  with pytest.raises(S.ShapeError, match="expected 2"):
    S.output_sizes((4, 4), (2, 2, 2), 1)
  with pytest.raises(S.ShapeError, match="unknown padding"):
    S.resolve_padding("FULL", (4,), (2,), (1,))


def test_receptive_field_hand_worked():
  # Two 3x3 convs: RF 5; then 2x2/2 pool: 6; then 3x3 conv: 6 + 2*2 = 10.
  geo = S.receptive_fields([("c1", 3, 1, 1), ("c2", 3, 1, 1), ("p1", 2, 2), ("c3", 3, 1, 1)],
                           32)
  assert [g.receptive_field for g in geo] == [3, 5, 6, 10]
  assert [g.jump for g in geo] == [1, 1, 2, 2]
  assert [g.size for g in geo] == [32, 32, 16, 16]
  assert geo[2].start == 0.5  # centre of the first 2x2 window over pixels 0 and 1
  # Nielsen's two conv-pool layers on 28x28: 5 -> 6 -> 14 -> 16.
  nielsen = [("conv1", 5), ("pool1", 2, 2), ("conv2", 5), ("pool2", 2, 2)]
  assert [g.receptive_field for g in S.receptive_fields(nielsen, 28)] == [5, 6, 14, 16]
  assert S.receptive_field(nielsen, 28) == 16


def test_receptive_field_matches_gradient_support():
  # The receptive field is where the gradient of one output is non-zero.
  layers = [("a", 3, 1, 0, 2), ("b", 2, 2, 0, 1), ("c", 3, 1, 0, 1)]
  rf = S.receptive_field(layers, 32)
  def net(x):
    for _, f, s, _, d in layers:
      x = conv(x, jnp.ones((f, 1, 1)), strides=s, dilation=d)
    return x[0, 0, 0]
  g = jax.grad(net)(jnp.ones((1, 32, 1)))
  assert int((np.asarray(g) != 0).sum()) == rf


def test_param_counts():
  assert S.conv_param_count(1, 6, 5) == 156  # LeNet C1: 6·(25+1)
  assert S.conv_param_count(3, 64, (3, 3), use_bias=False) == 1728
  assert S.conv_param_count(4, 8, 3, groups=2, ndim=1) == 3 * 2 * 8 + 8
  assert S.dense_param_count(120, 84) == 10164
  assert S.param_count({"a": np.zeros((3, 4)), "b": [np.zeros(5)]}) == 17
  with pytest.raises(S.ShapeError, match="groups"):
    S.conv_param_count(3, 8, 3, groups=2)
