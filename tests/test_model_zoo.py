"""The zoo against published numbers and the architectures' defining details."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from cnnlab.models import ModelConfigError, abstract_init, create_model, init_rngs
from cnnlab.models import finetune, summary
from cnnlab.models.lenet import C3_TABLE, SparseC3
from cnnlab.models.nielsen import ConvPool
from cnnlab.ops import IncompatibleLayersError, ShapeError, shapes
from cnnlab.ops.pooling import max_pool
from cnnlab.registry import UnknownNameError


def _params(name, **kw):
  from cnnlab.models import MODELS
  model = create_model(name, **kw)
  return shapes.param_count(abstract_init(model, MODELS.get(name).input_shape)["params"])


@pytest.mark.parametrize("name,count,published", [
    # He et al. 2016, Table 6: 0.27M, 0.46M, 0.66M, 0.85M, 1.7M, 19.4M.
    ("resnet20", 269_722, 0.27e6), ("resnet32", 464_154, 0.46e6), ("resnet44", 658_586, 0.66e6),
    ("resnet56", 853_018, 0.85e6), ("resnet110", 1_727_962, 1.7e6),
    ("resnet1202", 19_421_274, 19.4e6),
    ("allcnn_c", 1_369_738, 1.4e6),          # Springenberg et al. 2015: "1.4M"
    ("vgg16", 138_357_544, 138e6),           # Simonyan & Zisserman: 138M at 224×224
    ("lenet5", 60_850, 60e3),                # LeCun et al. 1998: "60,000" (RBF output → dense)
    ("densenet_bc", 769_162, 0.8e6),         # Huang et al. 2017: DenseNet-BC-100, k=12: 0.8M
    ("alexnet", 62_378_344, 62.3e6),         # single-tower AlexNet
    ("resnet18", 11_689_512, 11.7e6), ("resnet50", 25_557_032, 25.6e6),
    ("conv1d_base", 5_210, 5.2e3),           # MNIST-1D ConvBase
    ("mlp1d", 15_210, 15_210),               # MNIST-1D MLPBase (100, 100, residual)
    ("gru1d", 5_110, 5_134),                 # MNIST-1D GRUBase: PyTorch has 2 biases per gate
    # Fashion-MNIST benchmark convnet: 832 + 51,264 + 3,212,288 + 10,250 (TF's layers)
    ("fashion_benchmark_convnet", 3_274_634, 3_274_634),
])
def test_parameter_counts_match_published(name, count, published):
  n = _params(name)
  assert n == count
  assert abs(n - published) / published < 0.05


def test_conv_bias_only_where_the_norm_has_no_shift():
  from cnnlab.models.common import norm_has_shift
  assert [n for n in ("none", "batch", "lrn", "group", "layer") if norm_has_shift(n)] == [
      "batch", "group", "layer"]
  # VGG-8: 6 convs with 32..256 maps; LRN keeps the conv biases, batch norm drops them.
  biases = 32 + 64 + 128 + 128 + 256 + 256
  assert _params("vgg8", norm="lrn") == _params("vgg8")
  assert _params("vgg8", norm="batch") == _params("vgg8") - biases + 2 * biases


def test_plain_has_option_a_params_and_option_b_has_more():
  assert _params("plain20") == _params("resnet20")
  assert _params("resnet_cifar", depth=20, shortcut="B") > _params("resnet20")


def test_lenet_dense_c3_and_sparse_connectivity():
  assert _params("lenet5", sparse_c3=False) == 60_850 - 1_516 + 2_416
  m = SparseC3()
  x = jnp.ones((1, 5, 5, 6))
  v = m.init(jax.random.PRNGKey(0), x)
  jac = jax.jacobian(lambda z: m.apply(v, z)[0, 0, 0])(x)  # (16, 1, 5, 5, 6)
  depends = np.asarray(jnp.abs(jac).sum((1, 2, 3)) > 0)  # (16, 6): C3 map j on S2 map i
  np.testing.assert_array_equal(depends.T, C3_TABLE)
  # Against a NumPy loop over C3's maps: map o sums its table inputs, each with the
  # weights stored in its group's kernel, plus its bias.
  x = np.asarray(jax.random.normal(jax.random.PRNGKey(1), (2, 7, 7, 6)))
  y = np.asarray(m.apply(v, jnp.asarray(x)))
  groups = [range(0, 6), range(6, 12), range(12, 15), range(15, 16)]
  want = np.zeros((2, 3, 3, 16))
  for g, outs in enumerate(groups):
    k, b = (np.asarray(v["params"][f"group{g}"][n]) for n in ("kernel", "bias"))
    for j, o in enumerate(outs):
      ins = np.nonzero(C3_TABLE[:, o])[0]
      for r in range(3):
        for c in range(3):
          window = x[:, r:r + 5, c:c + 5, ins]
          want[:, r, c, o] = np.einsum("nhwt,hwt->n", window, k[:, :, :, j]) + b[j]
  np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-5)


def test_receptive_fields_by_hand():
  # LeNet-5: C1 5; S2 5+1 = 6; C3 6+4·2 = 14; S4 14+1·2 = 16; C5 16+4·4 = 32 (whole input).
  s = summary.summarize("lenet5", flops=False)
  assert [g.receptive_field for g in s.receptive_fields] == [5, 6, 14, 16, 32]
  assert [g.size for g in s.receptive_fields] == [28, 14, 10, 5, 1]
  # FashionNet: 5, 6, 14, 16 with jumps 1, 2, 2, 4.
  f = summary.summarize("fashionnet", flops=False)
  assert [(g.receptive_field, g.jump) for g in f.receptive_fields] == [(5, 1), (6, 2), (14, 2),
                                                                        (16, 4)]


def test_summary_and_cli(capsys):
  s = summary.summarize("lenet5")
  assert s.params == 60_850 and s.flops_per_example > 1e5
  rows = {p: (shape, n) for p, shape, n in s.rows}
  assert rows["C3"] == ((1, 10, 10, 16), 1_516) and rows["head"][0] == (1, 10)
  assert list(rows).index("C1") < list(rows).index("C3")  # call order
  assert summary.main(["summary", "resnet20", "--pool=gem", "--input_shape=16,16,3"]) == 0
  out = capsys.readouterr().out
  assert "total parameters: 269,723" in out  # + GeM's learned p
  assert summary.main(["summary"]) == 2  # usage, as one line (tests/test_cli.py)


def test_invalid_configurations_fail_before_compilation_naming_the_layer():
  with pytest.raises(IncompatibleLayersError, match="layer 'S2'.*'lecun_tanh'"):
    create_model("lenet5", pool="stochastic")
  create_model("lenet5", pool="stochastic", act="relu")  # fine after ReLU
  with pytest.raises(IncompatibleLayersError, match="not passed through an activation"):
    create_model("nielsen_conv2", pool="stochastic", act="relu")  # Nielsen pools raw convs
  with pytest.raises(ModelConfigError, match="6n\\+2"):
    create_model("resnet_cifar", depth=21)
  with pytest.raises(ModelConfigError, match="needs one of: global_avg, global_max, gem"):
    create_model("resnet20", pool="max")
  with pytest.raises(ShapeError, match="layer 'pool2'.*window 2 is larger"):
    create_model("fashionnet", input_shape=(3, 3, 1))
  with pytest.raises(ShapeError, match="layer 'pool5'"):
    create_model("alexnet", input_shape=(64, 64, 3))
  with pytest.raises(ModelConfigError, match="FashionNet: width .* must be > 0, got -1.0"):
    create_model("fashionnet", width=-1.0)
  with pytest.raises(ModelConfigError, match="ResNetCifar: num_classes must be >= 1, got 0"):
    create_model("resnet20", num_classes=0)
  with pytest.raises(ModelConfigError, match="head_pool 'max' is a window pooling.*global_avg"):
    create_model("resnet18", head_pool="max")
  with pytest.raises(ModelConfigError, match="no field 'depthh'. Did you mean 'depth'.*Its fields"):
    create_model("resnet20", depthh=3)
  with pytest.raises(UnknownNameError, match="Valid names"):
    create_model("resnet21")
  with pytest.raises(ModelConfigError, match="block_loop 'unrolled' unknown; valid: auto, scan"):
    create_model("resnet20", block_loop="unrolled")
  with pytest.raises(UnknownNameError, match="unknown pooling"):
    create_model("fashionnet", pool="maxx")
  with pytest.raises(UnknownNameError, match="unknown activation"):
    create_model("vgg8", act="rectifier")


def test_nielsen_activation_comes_after_pooling():
  layer = ConvPool(3, act="abs_tanh")
  x = jnp.asarray(np.random.default_rng(0).normal(size=(2, 9, 9, 1)), jnp.float32)
  v = layer.init(jax.random.PRNGKey(0), x)
  p = v["params"]
  conv = jax.lax.conv_general_dilated(x, p["conv"]["kernel"], (1, 1), "VALID",
                                      dimension_numbers=("NHWC", "HWIO", "NHWC"))
  want = jnp.abs(jnp.tanh(max_pool(conv, 2) + p["bias"]))
  np.testing.assert_allclose(layer.apply(v, x), want, atol=1e-5)
  # ... which differs from pooling after the activation for |tanh|.
  assert not np.allclose(want, max_pool(jnp.abs(jnp.tanh(conv + p["bias"])), 2), atol=1e-3)
  # Weight init N(0, 1/n_out), n_out = 3·25/4; zero softmax layer -> zero logits.
  net = create_model("nielsen_conv1")
  variables = net.init(init_rngs(jax.random.PRNGKey(0)), jnp.ones((1, 28, 28, 1)))
  k = np.asarray(variables["params"]["ConvPool_0"]["conv"]["kernel"])
  assert abs(k.std() - np.sqrt(4 / (20 * 25))) < 0.02
  np.testing.assert_array_equal(net.apply(variables, jnp.ones((3, 28, 28, 1))), 0.0)


def test_allcnn_variants():
  counts = {v: _params("allcnn_c", variant=v) for v in ("base", "strided", "convpool", "allcnn")}
  assert counts["base"] == counts["strided"] < counts["convpool"] == counts["allcnn"]
  assert counts["allcnn"] == 1_369_738


def test_deep_resnet_runs_with_scanned_blocks():
  model = create_model("resnet110", input_shape=(8, 8, 3), width=0.25, num_classes=4)
  x = jnp.ones((2, 8, 8, 3))
  v = model.init(init_rngs(jax.random.PRNGKey(0)), x)
  # 17 identical blocks per stage share one scanned parameter stack.
  assert v["params"]["stage1_blocks"]["block"]["conv1"]["kernel"].shape[0] == 17
  assert jax.jit(lambda v, z: model.apply(v, z))(v, x).shape == (2, 4)


@pytest.mark.parametrize("name", ["resnet_cifar", "resnet18"])
def test_unrolled_blocks_compute_what_the_scan_computes_with_the_same_params(name):
  kw = dict(depth=20) if name == "resnet_cifar" else {}
  models = {loop: create_model(name, input_shape=(16, 16, 3), width=0.125, num_classes=3,
                               block_loop=loop, **kw) for loop in ("scan", "unroll")}
  x = jnp.asarray(np.random.default_rng(0).normal(size=(4, 16, 16, 3)), jnp.float32)
  v = jax.jit(models["scan"].init)(init_rngs(jax.random.PRNGKey(0)), x)
  v_unrolled = jax.jit(models["unroll"].init)(init_rngs(jax.random.PRNGKey(0)), x)
  # One checkpoint layout for both (stacked block params), same initial values.
  jax.tree.map(np.testing.assert_array_equal, v, v_unrolled)

  def loss(params, model):
    out, stats = model.apply({**v, "params": params}, x, train=True, mutable=["batch_stats"])
    return (out ** 2).sum(), stats

  # jitted: op by op, the unrolled net's hundreds of small ops took most of a minute
  grad = jax.jit(jax.value_and_grad(loss, has_aux=True), static_argnums=1)
  (l_scan, s_scan), g_scan = grad(v["params"], models["scan"])
  (l_unr, s_unr), g_unr = grad(v["params"], models["unroll"])
  np.testing.assert_allclose(l_scan, l_unr, rtol=1e-5)
  # Unrolled code fuses differently: rounding relative to each gradient's scale.
  jax.tree.map(lambda a, b: np.testing.assert_allclose(
      a, b, rtol=1e-4, atol=1e-5 + 1e-6 * float(np.abs(a).max())), g_scan, g_unr)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6), s_scan, s_unr)
  if name == "resnet_cifar":  # (two-block stages: test_unrolled_stages_compile_to_...)
    # "unroll" really compiles to straight-line code (XLA's CPU convs are slow in loops).
    hlo = {loop: jax.jit(m.apply).lower(v, x).compile().as_text() for loop, m in models.items()}
    assert " while(" in hlo["scan"] and " while(" not in hlo["unroll"]


def test_finetune_replaces_head_freezes_features_keeps_stats(tmp_path):
  model = create_model("fashionnet", width=0.5)
  x = jnp.asarray(np.random.default_rng(0).normal(size=(8, 28, 28, 1)), jnp.float32)
  v = model.init(init_rngs(jax.random.PRNGKey(0)), x)
  _, state = model.apply(v, x, train=True, mutable=["batch_stats"])
  v = {**v, **state}  # "trained" statistics
  path = str(tmp_path / "trained.msgpack")
  finetune.save_variables(path, v)
  loaded = finetune.load_variables(path)
  new_model, nv = finetune.replace_head(model, loaded, 5, (28, 28, 1), jax.random.PRNGKey(3))
  assert new_model.num_classes == 5
  assert nv["params"]["head"]["dense"]["kernel"].shape[-1] == 5
  jax.tree_util.tree_map(np.testing.assert_array_equal, nv["batch_stats"], v["batch_stats"])
  labels = jnp.arange(8) % 5
  def loss(p):
    logits = new_model.apply({**nv, "params": p}, x, train=False)
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()
  grad = jax.jit(jax.grad(loss))
  for freeze in (True, False):
    tx = finetune.finetune_optimizer(optax.adam(1e-2), nv["params"], freeze_features=freeze)
    params, opt = nv["params"], tx.init(nv["params"])
    for _ in range(3):
      updates, opt = tx.update(grad(params), opt, params)
      params = optax.apply_updates(params, updates)
    conv_same = np.array_equal(params["conv1"]["conv"]["kernel"],
                               nv["params"]["conv1"]["conv"]["kernel"])
    assert conv_same == freeze
    assert not np.array_equal(params["head"]["dense"]["kernel"],
                              nv["params"]["head"]["dense"]["kernel"])
  with pytest.raises(ValueError, match="feature layers"):
    finetune.replace_head(model, loaded, 5, (28, 28, 3))  # RGB: conv1 differs


def test_zero_init_residual_starts_blocks_as_identity():
  model = create_model("resnet_cifar", depth=14, width=0.5, zero_init_residual=True,
                       input_shape=(8, 8, 3))
  v = model.init(init_rngs(jax.random.PRNGKey(0)), jnp.ones((1, 8, 8, 3)))
  scales = v["params"]["stage1_blocks"]["block"]["norm2"]["scale"]
  np.testing.assert_array_equal(scales, 0.0)
  assert np.all(np.asarray(v["params"]["stage1_block0"]["norm1"]["scale"]) == 1.0)


@pytest.mark.parametrize("name,kwargs", [("resnet_cifar", {"depth": 14}),
                                         ("resnet_cifar", {"depth": 20}),
                                         ("resnet18_cifar", {"width": 0.125})])
def test_unrolled_stages_compile_to_straight_line_code(name, kwargs):
  """Two-block stages once compiled to a one-trip while loop (10× slower on CPU)."""
  model = create_model(name, (32, 32, 3), num_classes=10, block_loop="unroll", **kwargs)
  x = jnp.zeros((2, 32, 32, 3))
  variables = jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0), x))
  text = jax.jit(lambda v, z: model.apply(v, z)).lower(variables, x).as_text()
  assert "while" not in text
