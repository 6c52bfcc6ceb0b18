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


# -- branches and exact intervals (hand-worked) ----------------------------------------------


def test_parallel_branches_take_the_union_of_their_fields():
  """A residual block: 3×3 (pad 1) twice beside the identity → the main path's 5; a
  shortcut misaligned by SAME padding at stride 2 widens the union."""
  block = S.Parallel("b", ((("c1", 3, 1, 1), ("c2", 3, 1, 1)), ()))
  g, = S.receptive_fields([block], 8)
  assert (g.size, g.jump, g.receptive_field, g.start) == (8, 1, 5, 0.0)
  # stride-2 SAME conv on 8 pads (0, 1): centre of output i at 2i + 1; a 1×1 stride-2
  # shortcut sits at 2i: the union of [2i, 2i + 2] and [2i, 2i] is 3 wide, centred at 2i + 1
  down = S.Parallel("d", ((("c", 3, 2, "SAME"),), (("s", 1, 2),)))
  g, = S.receptive_fields([down], 8)
  assert (g.size, g.jump, g.receptive_field, g.start) == (4, 2, 3, 1.0)
  with pytest.raises(S.ShapeError, match="branches disagree"):
    S.receptive_fields([S.Parallel("x", ((("a", 3, 2),), ()))], 8)


def test_input_interval_cuts_fields_where_the_maps_end():
  """Subsampling 3/2 of 20 reads 0, 2, …, 16; a 5-wide padded conv at its last position
  reaches pool positions 6..10 of which 9 and 10 are padding, so input 17..19 is not read,
  though the recurrences' field (centre 16 ± 6, clipped) says 10..19."""
  layers = [("conv1", 5, 1, 2), S.LayerSpec("pool1", 3, 2, span=1), ("conv2", 5, 1, 2)]
  geoms = S.receptive_fields(layers, 20)
  assert geoms[-1].interval(8, 20) == (10, 19)
  assert S.input_interval(layers, 20, 8) == (10, 18)
  assert S.input_interval(layers, 20, 0) == (0, 6)
  assert S.input_interval(layers, 20, 4, upto=1) == (6, 10)  # pool1 at 4 reads conv1 8
  # a global layer reads everything; a window entirely in padding reads nothing
  assert S.input_interval([("c", 3), S.LayerSpec("g", None)], 9, 0) == (0, 8)
  assert S.input_interval([("p", 1, 1, 3)], 4, 0) == (-1, -1)


def test_every_layer_intervals_is_each_layer_walked_back_alone():
  """The vectorised walk of all layers at once equals :func:`input_intervals` per layer,
  through branches, clipped ends and positions that read only padding."""
  block = S.Parallel("b", ((("c1", 3, 1, 1), ("c2", 3, 1, 1)), ()))
  down = S.Parallel("d", ((("c", 3, 2, "SAME"),), (("s", 1, 2),)))
  layers = [("conv1", 5, 1, 2), S.LayerSpec("pool1", 3, 2, span=1), block, down,
            ("p", 1, 1, 3), ("conv2", 3, 1, 1)]
  geoms = S.receptive_fields(layers, 20)
  positions = [list(range(-1, g.size + 2)) for g in geoms]
  got = S.every_layer_intervals(layers, 20, positions)
  want = [S.input_intervals(layers, 20, ps, upto=i) for i, ps in enumerate(positions)]
  assert got == want
  assert (-1, -1) in got[4] and got[4] != [(-1, -1)] * len(got[4])
