"""Losses, their metrics, the conv head, the perceptron, and multi-label / regression data."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnlab.data import load_dataset
from cnnlab.train import ConfigError, base_config, train, validate
from cnnlab.train import losses as L
from test_train import one_model_per_family


@pytest.fixture(autouse=True)
def _data_dir(tmp_path, monkeypatch):
  monkeypatch.setenv("CNNLAB_DATA_DIR", str(tmp_path / "data"))


EXTREME = np.array([[1e4, -1e4, 0.0], [-80.0, 80.0, 3.0], [0.5, -0.25, 2.0]], np.float32)


def _logsumexp(x):
  m = x.max(-1, keepdims=True)
  return (m + np.log(np.exp(x - m).sum(-1, keepdims=True)))[..., 0]


def test_softmax_cross_entropy_matches_numpy_with_extreme_logits():
  labels = np.array([1, 0, 2])
  x = EXTREME.astype(np.float64)
  ref = _logsumexp(x) - x[np.arange(3), labels]
  got = np.asarray(L.softmax_cross_entropy(jnp.asarray(EXTREME), labels))
  assert np.all(np.isfinite(got))
  np.testing.assert_allclose(got, ref, rtol=1e-6)
  smooth = np.asarray(L.softmax_cross_entropy(jnp.asarray(EXTREME), labels, label_smoothing=0.3))
  t = np.full((3, 3), 0.1)
  t[np.arange(3), labels] += 0.7
  np.testing.assert_allclose(smooth, -(t * (x - _logsumexp(x)[:, None])).sum(-1), rtol=1e-6)


def _vote_reference(outputs, labels):
  """Nielsen's vote by loops: count each net's top class; ties go to the highest mean prob."""
  probs = np.exp(outputs - outputs.max(-1, keepdims=True))
  probs = (probs / probs.sum(-1, keepdims=True)).mean(0)
  correct = 0
  for n in range(outputs.shape[1]):
    counts = {}
    for r in range(outputs.shape[0]):
      top = int(np.argmax(outputs[r, n]))
      counts[top] = counts.get(top, 0) + 1
    most = max(counts.values())
    winner = max((c for c in counts if counts[c] == most), key=lambda c: probs[n, c])
    correct += winner == labels[n]
  return correct


def test_ensemble_vote_and_mean_softmax_by_hand_and_against_loops():
  # Example 0: nets vote 0, 0, 1 -> 0 wins the vote although the mean softmax favours 1.
  # Example 1: votes 0, 1, 2 tie -> the highest mean probability among them (2) wins.
  # Example 2 (masked out): would be correct under both.
  outs = np.array([[[2.0, 1.9, -9.0], [1.6, 0.0, 1.5], [5.0, 0.0, 0.0]],  # net 0
                   [[2.0, 1.9, -9.0], [0.0, 1.6, 1.5], [5.0, 0.0, 0.0]],  # net 1
                   [[0.0, 9.0, -9.0], [0.0, 0.0, 2.0], [5.0, 0.0, 0.0]]], np.float32)
  labels, mask = np.array([0, 2, 0]), np.array([True, True, False])
  sums = L.LOSSES.get("softmax_cross_entropy").ensemble_sums(jnp.asarray(outs), labels, mask)
  assert float(sums["vote_accuracy"]) == 2.0
  assert float(sums["softmax_accuracy"]) == 1.0  # example 0 goes to class 1 by mean softmax
  rng = np.random.default_rng(0)
  outs = rng.normal(size=(5, 200, 4)).astype(np.float32)
  labels = rng.integers(0, 4, 200)
  sums = L._class_ensemble(jnp.asarray(outs), labels, np.ones(200, bool))
  assert float(sums["vote_accuracy"]) == _vote_reference(outs, labels)


def test_sigmoid_cross_entropy_matches_numpy_with_extreme_logits():
  t = np.array([[1, 1, 0], [0, 1, 1], [1, 0, 0]], np.float32)
  x = EXTREME.astype(np.float64)
  # −t·log σ(x) − (1−t)·log σ(−x), with log σ(x) = −log(1 + e^(−x)) computed stably
  log_sig = lambda z: -(np.maximum(-z, 0) + np.log1p(np.exp(-np.abs(z))))
  ref = (-(t * log_sig(x)) - (1 - t) * log_sig(-x)).mean(-1)
  got = np.asarray(L.sigmoid_cross_entropy(jnp.asarray(EXTREME), jnp.asarray(t)))
  assert np.all(np.isfinite(got))
  np.testing.assert_allclose(got, ref, rtol=1e-6)


def test_euclidean_and_mse_match_numpy():
  y = np.array([[1.0, 2.0, 3.0], [1e4, -1e4, 0.0]], np.float32)
  t = np.array([[0.0, 2.0, 5.0], [0.0, 0.0, 0.0]], np.float32)
  np.testing.assert_allclose(L.euclidean(y, t), 0.5 * ((y - t) ** 2).sum(-1), rtol=1e-6)
  np.testing.assert_allclose(L.mse(y, t), ((y - t) ** 2).mean(-1), rtol=1e-6)


def test_perceptron_loss_counts_mistakes_and_ties():
  f = jnp.array([[2.0], [-1.0], [0.0], [3.0]])
  labels = jnp.array([1, 1, 0, 0])
  np.testing.assert_array_equal(L.perceptron(f, labels), [0.0, 1.0, 0.0, 3.0])
  # The tie (f = 0) is a mistake: its gradient is nonzero.
  g = jax.grad(lambda z: L.perceptron(z, jnp.array([1])).sum())(jnp.array([[0.0]]))
  assert float(g[0, 0]) == -1.0


def test_average_precision_by_hand_and_against_scikit_learn():
  assert L.average_precision([0.9, 0.8, 0.7, 0.6], [1, 0, 1, 0]) == pytest.approx((1 + 2 / 3) / 2)
  assert L.average_precision([0.1, 0.9], [1, 0]) == pytest.approx(0.5)
  assert np.isnan(L.average_precision([0.3, 0.2], [0, 0]))
  metrics = pytest.importorskip("sklearn.metrics")
  rng = np.random.default_rng(0)
  scores, targets = rng.normal(size=(200, 5)), rng.random((200, 5)) < 0.3
  ref = np.mean([metrics.average_precision_score(targets[:, k], scores[:, k]) for k in range(5)])
  assert L.mean_average_precision(scores, targets) == pytest.approx(ref, rel=1e-9)


def test_regression_metrics_from_masked_sums_match_numpy():
  rng = np.random.default_rng(1)
  y, t = rng.normal(size=(10, 3)).astype(np.float32), rng.normal(size=(10, 3)).astype(np.float32)
  mask = np.arange(10) < 7  # the last three are padding
  spec = L.LOSSES.get("euclidean")
  m = spec.finalize(jax.device_get(spec.eval_sums(jnp.asarray(y), jnp.asarray(t), mask)))
  yv, tv = y[:7].astype(np.float64), t[:7].astype(np.float64)
  assert m["rmse"] == pytest.approx(np.sqrt(((yv - tv) ** 2).mean()), rel=1e-5)
  r2 = 1 - ((yv - tv) ** 2).sum(0) / ((tv - tv.mean(0)) ** 2).sum(0)
  assert m["r2"] == pytest.approx(r2.mean(), rel=1e-5)
  assert m["loss"] == pytest.approx((0.5 * ((yv - tv) ** 2).sum(-1)).mean(), rel=1e-5)


def test_multilabel_metrics_from_sums_by_hand():
  y = jnp.array([[3.0, -2.0], [1.0, 1.0], [-1.0, 4.0]])
  t = jnp.array([[1, 0], [0, 1], [1, 1]])
  spec = L.LOSSES.get("sigmoid_cross_entropy")
  m = spec.finalize(jax.device_get(spec.eval_sums(y, t, jnp.ones(3, bool))), np.asarray(y),
                    np.asarray(t))
  assert m["label_accuracy"] == pytest.approx(4 / 6) and m["exact_match"] == pytest.approx(1 / 3)
  # label 0: scores 3, 1, -1 with positives 1, 0, 1 -> AP (1 + 2/3)/2; label 1: 4, 1 -> 1
  assert m["map"] == pytest.approx(((1 + 2 / 3) / 2 + 1.0) / 2)


def test_unknown_and_unfitting_losses_fail_before_compiling(tmp_path):
  c = base_config()
  c.train.loss = "hinge"
  with pytest.raises(ConfigError,
                     match="unknown loss 'hinge'.* Valid: auto, softmax_cross_entropy"):
    validate(c)

  def tiny(**train_fields):
    c = base_config("fashionnet")
    c.model.width = 0.25
    c.data.name = "synthetic"
    c.data.options = {"shape": (8, 8, 1), "num_train": 32, "num_test": 8}
    c.train.batch_size = 16
    c.train.num_epochs = 1
    c.train.update(train_fields)
    return c
  cases = [({"loss": "euclidean"}, "needs regression targets, but data set 'synthetic' has "
                                   "class targets; losses for it: softmax_cross_entropy"),
           ({"loss": "perceptron"}, "needs 2 classes, but data set 'synthetic' has 10"),
           ({"loss": "auto", "label_smoothing": 0.1}, None)]
  for fields, message in cases:
    if message is None:
      continue
    with pytest.raises(ConfigError, match=message):
      train(tiny(**fields), str(tmp_path / "x"), log=lambda *_: None)
  c = tiny(label_smoothing=0.1)
  c.data.name, c.data.options = "synthetic_regression", {"num_train": 32, "num_test": 8}
  with pytest.raises(ConfigError, match="label_smoothing applies to softmax_cross_entropy only"):
    train(c, str(tmp_path / "y"), log=lambda *_: None)
  assert not os.path.exists(tmp_path / "x" / "checkpoints")


# -- heads --------------------------------------------------------------------


@pytest.mark.parametrize("name", one_model_per_family())
def test_conv_head_equals_dense_head_and_gives_score_maps_on_larger_inputs(name):
  """For every model family: dense weights converted to the conv form give the same
  outputs at the training size, and a larger input gives a map of class scores."""
  from cnnlab.models import MODELS, create_model, finetune
  spec = MODELS.get(name)
  shape = spec.test_input_shape or spec.input_shape
  model = create_model(name, shape, num_classes=7, **spec.test_kwargs)
  keys = {"params": jax.random.PRNGKey(0), "dropout": jax.random.PRNGKey(1),
          "pool": jax.random.PRNGKey(2)}
  # jitted: op-by-op, the deepest families took up to a minute
  variables = jax.jit(model.init)(keys, jnp.zeros((1,) + shape))
  x = jax.random.normal(jax.random.PRNGKey(1), (3,) + shape)
  if model.head == "conv":  # All-CNN: a convolutional classifier by design
    conv_model, conv_vars = model, variables
  else:
    conv_model, conv_vars = finetune.to_conv_head(model, variables, shape)
  assert conv_model.head == "conv"
  dense_out = jax.jit(model.apply)(variables, x)
  scale = float(jnp.abs(dense_out).max()) + 1.0
  np.testing.assert_allclose(jax.jit(conv_model.apply)(conv_vars, x), dense_out, rtol=1e-4,
                             atol=1e-4 * scale)
  big = tuple(2 * d for d in shape[:-1]) + shape[-1:]
  scores = jax.jit(lambda v, z: finetune.score_map(conv_model, v, z))(
      conv_vars, jnp.ones((2,) + big))
  assert scores.ndim == len(shape) + 1 and scores.shape[0] == 2 and scores.shape[-1] == 7
  assert all(p > 1 for p in scores.shape[1:-1])  # several positions, one score vector each


def test_conv_head_trains_from_a_config_and_bad_heads_are_named(tmp_path):
  from cnnlab.models import ModelConfigError, create_model
  c = base_config("fashionnet")
  c.model.width, c.model.head = 0.25, "conv"
  c.data.name = "synthetic"
  c.data.options = {"shape": (8, 8, 1), "num_train": 32, "num_test": 8}
  c.train.batch_size, c.train.num_epochs = 16, 1
  assert train(c, str(tmp_path / "conv"), log=lambda *_: None).status == "done"
  with pytest.raises(ModelConfigError, match="head 'fc' unknown; valid: dense, conv"):
    create_model("fashionnet", (28, 28, 1), head="fc")
  with pytest.raises(ModelConfigError, match="head='conv' needs pool='global_avg'"):
    create_model("resnet20", (32, 32, 3), head="conv", pool="global_max")
  with pytest.raises(ModelConfigError, match="1×1 convolution by design"):
    create_model("allcnn_c", (32, 32, 3), head="dense")


# -- the perceptron -------------------------------------------------------------


def test_one_perceptron_step_is_rosenblatts_rule():
  import optax
  from cnnlab.models import create_model
  from cnnlab.train.steps import StepSpec, create_state, make_steps
  model = create_model("perceptron", (2, 2, 1), num_classes=1)
  tx = optax.sgd(0.5)
  step, _ = make_steps(model, tx, StepSpec((0.0,), (1.0,), num_classes=2, loss="perceptron"))
  state = create_state(model, tx, jax.random.PRNGKey(0), (2, 2, 1))
  x = np.array([[[[1.0], [2.0]], [[-1.0], [0.5]]]], np.float32)
  state, _ = step(state, {"image": x, "label": np.array([1])})  # f = 0: a mistake, s = +1
  dense = state.params["head"]["dense"]
  np.testing.assert_allclose(dense["kernel"][:, 0], 0.5 * x.reshape(-1))
  assert float(dense["bias"][0]) == 0.5
  before = jax.device_get(state.params)
  state, _ = step(state, {"image": x, "label": np.array([1])})  # now right: no change
  for a, b in zip(jax.tree_util.tree_leaves(before), jax.tree_util.tree_leaves(state.params)):
    np.testing.assert_array_equal(a, b)


def test_perceptron_converges_on_a_separable_set(tmp_path):
  c = base_config("perceptron")
  c.data.name = "synthetic"
  c.data.options = {"shape": (6, 6, 1), "num_classes": 2, "num_train": 200, "num_test": 100,
                    "noise": 0.02}
  c.train.update({"loss": "perceptron", "batch_size": 1, "num_epochs": 5,
                  "eval_batch_size": 100, "checkpoint_every_steps": 0, "log_every_steps": 100})
  c.optim.name, c.optim.lr = "sgd", 1.0
  r = train(c, str(tmp_path / "p"), log=lambda *_: None)
  assert r.value("test_accuracy") == 1.0 and r.loss == "perceptron"


def test_data_classes_selects_and_relabels(tmp_path):
  c = base_config("perceptron")
  c.data.name = "synthetic"
  c.data.options = {"shape": (4, 4, 1), "num_classes": 5, "num_train": 100, "num_test": 50}
  c.data.classes = (4, 1)
  c.train.update({"loss": "perceptron", "batch_size": 5, "num_epochs": 1,
                  "checkpoint_every_steps": 0})
  c.optim.name = "sgd"
  r = train(c, str(tmp_path / "p"), log=lambda *_: None)
  full = load_dataset("synthetic", shape=(4, 4, 1), num_classes=5, num_train=100, num_test=50)
  assert r.value("test_loss") >= 0
  expected = int(np.isin(full.test.labels, (4, 1)).sum())
  from cnnlab.train.metrics import read_metrics
  assert [m for m in read_metrics(str(tmp_path / "p")) if m["split"] == "test"][-1]["count"] \
      == expected
  c.data.classes = (1, 9)
  with pytest.raises(ConfigError, match=r"\[9\] out of range"):
    train(c, str(tmp_path / "q"), log=lambda *_: None)


def test_data_train_size_trains_on_the_first_examples(tmp_path):
  c = base_config("perceptron")
  c.data.name = "synthetic"
  c.data.options = {"shape": (4, 4, 1), "num_classes": 2, "num_train": 100, "num_test": 20}
  c.data.train_size = 30
  c.train.update({"loss": "perceptron", "batch_size": 10, "num_epochs": 2,
                  "checkpoint_every_steps": 0})
  c.optim.name = "sgd"
  r = train(c, str(tmp_path / "p"), log=lambda *_: None)
  assert r.total_steps == 6  # 30 examples / 10 per batch × 2 epochs
  c.data.train_size, c.train.eval_train_set = 20, True
  r = train(c, str(tmp_path / "e"), log=lambda *_: None)
  from cnnlab.train.metrics import read_metrics
  assert [m["count"] for m in read_metrics(str(tmp_path / "e")) if m["split"] == "train_set"] \
      == [20, 20]  # the training set evaluated after each epoch
  assert 0 <= r.value("train_set_accuracy") <= 1
  c.data.train_size = 101
  with pytest.raises(ConfigError, match="101 is more than the 100 training examples"):
    train(c, str(tmp_path / "q"), log=lambda *_: None)


# -- multi-label and regression, end to end --------------------------------------


def test_multilabel_and_regression_data_are_deterministic_with_the_right_targets():
  a = load_dataset("synthetic_multilabel", num_train=50, num_test=10)
  b = load_dataset("synthetic_multilabel", num_train=50, num_test=10)
  np.testing.assert_array_equal(a.train.images, b.train.images)
  assert a.info.target == "multilabel" and a.train.labels.shape == (50, 4)
  assert set(np.unique(a.train.labels)) <= {0, 1}
  r = load_dataset("synthetic_regression", num_train=50, num_test=10, shape=(12, 12, 1))
  assert r.info.target == "regression" and r.train.labels.shape == (50, 3)
  assert r.train.labels.dtype == np.float32 and (r.train.labels > 0).all()
  # The target says where the square is: its centre pixel is bright.
  img, (cr, cc, _) = r.train.images[0, ..., 0], r.train.labels[0]
  assert img[int(cr * 12 - 0.5), int(cc * 12 - 0.5)] > 150


@pytest.mark.parametrize("data,metric,replicas", [
    ("synthetic_multilabel", "map", 0), ("synthetic_multilabel", "map", 2),
    ("synthetic_regression", "rmse", 0)])
def test_multilabel_and_regression_train_end_to_end(tmp_path, data, metric, replicas):
  c = base_config("fashionnet")
  c.model.width = 0.25
  c.data.name = data
  c.data.options = {"shape": (12, 12, 1), "num_train": 64, "num_test": 20}
  c.train.update({"batch_size": 16, "num_epochs": 2, "eval_batch_size": 16,
                  "num_replicas": replicas, "checkpoint_every_steps": 0})
  if replicas:  # side by side: each run's own metrics (mAP ranks each one's outputs)
    from cnnlab.train import train_together
    from cnnlab.train.together import runs_of
    runs = train_together(runs_of(c), [str(tmp_path / f"run{i}") for i in range(replicas)],
                          log=lambda *_: None)
  else:
    runs = [train(c, str(tmp_path / "run"), log=lambda *_: None)]
  for r in runs:
    assert r.primary_metric == metric and r.best["test"].metric == metric
    assert np.isfinite(r.value(f"final.test.{metric}"))
  assert len({r.value(f"final.test.{metric}") for r in runs}) == len(runs)
