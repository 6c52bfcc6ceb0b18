"""Looking inside trained nets: receptive fields computed = measured for every zoo model
and every windowed pooling op, integrated gradients complete, CKA unbiased, the backward
rules of deconvnet / guided backprop, and load_run / evaluate / export / inspect on a
trained run and on a sweep's runs."""

import json
import os
import shutil
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from browser import CHROMIUM, dump_dom, screenshot
from cnnlab.check.models import NUM_CLASSES, built
from cnnlab.inspect import attribution, receptive, similarity
from cnnlab.inspect.evaluate import evaluate, export, load_exported
from cnnlab.inspect.load import example_arrays, load_run
from cnnlab.models.registry import MODELS, create_model
from cnnlab.ops.activations import ACTIVATIONS
from cnnlab.ops.pooling import POOLS
from cnnlab.train import checkpoint
from cnnlab.config import base_config
from cnnlab.train.loop import train, train_together
from cnnlab.train.together import run_names, runs_of

pytestmark = pytest.mark.timeout(600)


def _tiny(name, structural=False):
  """A registry model's tiny variant, initialised: the one the registry battery builds
  (``cnnlab.check.models.built``; the zoo test shares its xdist group, so a worker
  initialises each model once). ``structural``: every connection non-zero (a
  zero-initialised residual branch would hide its part of the receptive field), with the
  kernels scaled down so that deep nets stay finite in eval mode."""
  spec = MODELS.get(name)
  shape = tuple(spec.test_input_shape or spec.input_shape)
  zero_init = structural and spec.test_kwargs.get("zero_init_residual")
  if not zero_init:
    model, _, _, variables = built(name)
    return model, variables, shape
  kwargs = {**spec.test_kwargs, "zero_init_residual": False}
  model = create_model(name, shape, num_classes=NUM_CLASSES, **kwargs)
  variables = jax.jit(lambda k: model.init(k, jnp.zeros((1,) + shape), train=False))(
      jax.random.PRNGKey(0))
  variables = {**variables, "params": jax.tree_util.tree_map_with_path(
      lambda p, a: a * 0.3 if getattr(p[-1], "key", "") == "kernel" else a,
      variables["params"])}
  return model, variables, shape


# -- receptive fields ------------------------------------------------------------------------


def _assert_fields_agree(rows):
  bad = [r for r in rows if r.agrees is False]
  assert not bad, receptive.format_rows(rows)


def test_every_zoo_model_fields_attributions_and_similarity(model_name):
  """For each registry model (one init, its three properties):

  * receptive fields: every layer's field from the declared geometry equals the extent
    of the input gradient at the first, middle and last positions (both axes of a map);
  * integrated gradients: Σ attributions = f(x) − f(0) within 1% at 64 steps;
  * layer similarity: CKA of every layer (up to 12, spread over deep nets) with itself
    is 1 (NaN for a constant layer, e.g. a zero-initialised head), the matrix symmetric.
  """
  model, variables, shape = _tiny(model_name, structural=True)
  assert model.geometry() is not None, f"{model_name} declares no geometry()"
  rows = receptive.receptive_field_rows(model, variables, shape)
  _assert_fields_agree(rows)
  if rows:
    assert any(r.measured is not None for r in rows), "no layer was measured"

  x = np.asarray(jax.random.normal(jax.random.PRNGKey(2), (1,) + shape))
  logits = lambda z: np.asarray(attribution.eval_outputs(model, variables, z))  # noqa: E731
  target = logits(x).argmax(-1)
  attr, err = attribution.integrated_gradients(model, variables, x, target, steps=64)
  delta = logits(x)[0, target[0]] - logits(np.zeros_like(x))[0, target[0]]
  assert attr.shape == x.shape
  np.testing.assert_allclose(attr.sum() - err[0], delta, rtol=1e-4, atol=1e-5)
  assert abs(err[0]) <= 0.01 * abs(delta) + 1e-5, (err, delta)

  # CKA is O(layers²): at most 12 layers spread over the net (ResNet-1202 has ~600)
  names = [r.geometry.name for r in rows]
  layers = [names[i] for i in sorted({round(j * (len(names) - 1) / 11)
                                      for j in range(12)})] if len(names) > 12 else names
  layers = layers + ["head"]
  xs = np.asarray(jax.random.normal(jax.random.PRNGKey(3), (32,) + shape))
  feats = similarity.layer_features(model, variables, xs, layers, batch_size=16)
  assert "head" in feats
  m = similarity.cka_matrix(feats, feats)
  varies = np.array([np.concatenate(v).std(axis=0).max() > 0 for v in feats.values()])
  np.testing.assert_allclose(np.diag(m)[varies], 1.0, atol=1e-4)
  assert np.isnan(np.diag(m)[~varies]).all()
  np.testing.assert_allclose(m, m.T, atol=1e-5)


WINDOW_POOLS = [n for n, s in POOLS.items() if s.kind == "window"]


@pytest.mark.parametrize("pool", WINDOW_POOLS)
def test_receptive_fields_of_every_windowed_pooling(pool):
  """A 3-layer net with 3×3/2 pools of each kind (subsampling reads one element a
  window: its field is smaller), computed = measured. Sigmoid: positive (stochastic
  pooling), and no unit is off (a min over ReLU outputs is mostly a zero, gradient 0)."""
  act = "sigmoid"
  model = create_model("zeiler_fergus", (20, 20, 1), pool=pool, act=act, width=0.125)
  variables = jax.jit(lambda k: model.init(k, jnp.zeros((1, 20, 20, 1)), train=False))(
      jax.random.PRNGKey(1))
  rows = receptive.receptive_field_rows(model, variables, (20, 20, 1))
  _assert_fields_agree(rows)
  assert all(r.measured is not None for r in rows)
  if pool == "subsample":
    assert rows[1].geometry.receptive_field == rows[0].geometry.receptive_field


def test_a_wrong_geometry_is_caught():
  """The measurement is not a rubber stamp: a conv declared 3 wide but 5 wide differs."""
  model, variables, shape = _tiny("fashionnet")

  class Wrong(type(model)):
    def geometry(self):
      return [("conv1", 3, 1, 2), *super().geometry()[1:]]

  wrong = Wrong(**{f: getattr(model, f)
                   for f in ("features", "width", "pool", "act", "norm", "num_classes")})
  rows = receptive.receptive_field_rows(wrong, variables, shape)
  assert rows[0].agrees is False


# -- attributions ----------------------------------------------------------------------------


def test_unbiased_cka_is_zero_for_independent_features_and_invariant():
  rng = np.random.default_rng(0)
  x, y = rng.standard_normal((256, 64)), rng.standard_normal((256, 32))
  assert abs(similarity.cka(x, y)) <= 0.02
  # linear CKA is invariant to orthogonal transforms and isotropic scaling
  q, _ = np.linalg.qr(rng.standard_normal((64, 64)))
  assert similarity.cka(x, 3.0 * x @ q) == pytest.approx(1.0, abs=1e-4)
  # the biased estimator (centred Gram matrices) is far from 0 on the same data
  xc, yc = x - x.mean(0), y - y.mean(0)
  biased = np.linalg.norm(xc.T @ yc) ** 2 / (np.linalg.norm(xc.T @ xc) * np.linalg.norm(yc.T @ yc))
  assert biased > 0.1


def test_hsic1_matches_its_definition_by_loops():
  """Song et al. (2012) eq. 5, term by term in NumPy."""
  rng = np.random.default_rng(1)
  x, y = rng.standard_normal((9, 4)), rng.standard_normal((9, 3))
  k, m = x @ x.T, y @ y.T
  np.fill_diagonal(k, 0)
  np.fill_diagonal(m, 0)
  n, one = 9, np.ones(9)
  want = (np.trace(k @ m) + (one @ k @ one) * (one @ m @ one) / ((n - 1) * (n - 2))
          - 2 / (n - 2) * one @ k @ m @ one) / (n * (n - 3))
  got = similarity.hsic1(x @ x.T, y @ y.T)
  assert got == pytest.approx(want, rel=1e-4)


@pytest.mark.parametrize("act", ACTIVATIONS.names())
def test_backward_rules_of_every_activation(act):
  """Same forward; guided = φ'(z)·max(g, 0); deconvnet = max(g, 0) for a non-negative
  range, g otherwise; gradient unchanged."""
  spec = ACTIVATIONS.get(act)
  z = jnp.linspace(-3, 3, 13)
  g = jnp.linspace(-1, 1.2, 13)
  plain = jax.vjp(spec, z)[1]
  for rule in attribution.RULES:
    f = attribution.backward_rule(act, rule)
    y, vjp = jax.vjp(f, z)
    np.testing.assert_allclose(y, spec(z), rtol=1e-6)
    got = vjp(g)[0]
    if rule == "gradient":
      want = plain(g)[0]
    elif rule == "guided":
      want = plain(jnp.maximum(g, 0))[0]
    else:
      want = jnp.maximum(g, 0) if spec.nonnegative else g
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)


def test_saliency_smoothgrad_and_occlusion_by_hand():
  """A linear model: the saliency is its weight; SmoothGrad of a linear model is the
  same; occluding a patch removes exactly that patch's share of the score."""
  model, variables, shape = _tiny("logistic1d")
  w = np.asarray(variables["params"]["head"]["dense"]["kernel"])  # (40, K)
  x = np.asarray(jax.random.normal(jax.random.PRNGKey(4), (3,) + shape))
  t = np.array([0, 1, 2])
  sal = attribution.saliency(model, variables, x, t)
  np.testing.assert_allclose(sal[..., 0], w[:, t].T, rtol=1e-5)
  np.testing.assert_allclose(attribution.smoothgrad(model, variables, x, t, samples=3), sal,
                             rtol=1e-4, atol=1e-6)
  occ = attribution.occlusion(model, variables, x, t, patch=8, stride=8)
  assert occ.shape == (3, 5)
  logits = np.asarray(model.apply(variables, x, train=False))
  for i in range(3):
    for j in range(5):
      z = logits[i] - x[i, 8 * j:8 * j + 8, 0] @ w[8 * j:8 * j + 8]
      p = np.exp(z - z.max())
      assert occ[i, j] == pytest.approx(p[t[i]] / p.sum(), rel=1e-4)


def test_top_activations_and_projection_by_brute_force():
  model, variables, shape = _tiny("fashionnet")
  x = np.asarray(jax.random.normal(jax.random.PRNGKey(5), (50,) + shape))
  idx, val = attribution.top_activations(model, variables, x, "pool1", k=4, batch_size=16)
  fmap = np.asarray(receptive.module_outputs(model, variables, jnp.asarray(x), ["pool1"])["pool1"])
  peak = fmap.reshape(50, -1, fmap.shape[-1]).max(1)
  for c in range(fmap.shape[-1]):
    np.testing.assert_array_equal(idx[c], np.argsort(-peak[:, c], kind="stable")[:4])
  for rule in attribution.RULES:  # the rules change the backward pass only
    np.testing.assert_allclose(attribution.apply_with_rule(model, variables, x[:3], rule),
                               model.apply(variables, x[:3], train=False), rtol=1e-6)
  proj, top, where = attribution.projection(model, variables, x[:3], "pool1", 0, "gradient")
  np.testing.assert_allclose(top, peak[:3, 0], rtol=1e-6)
  # the gradient rule is the plain gradient of that one activation
  for i in range(3):
    p = tuple(where[i])
    f = lambda z: receptive.module_outputs(model, variables, z, ["pool1"])["pool1"][(0,) + p + (0,)]
    g = jax.grad(f)(jnp.asarray(x[i:i + 1]))
    np.testing.assert_allclose(proj[i], np.asarray(g)[0] * top[i], rtol=1e-4, atol=1e-6)


# -- a trained run, two runs trained side by side, and a sweep ---------------------------------


def _config(**train_fields):
  c = base_config("zeiler_fergus")
  c.model.width = 0.125
  c.data.name = "synthetic"
  c.data.options = {"shape": (16, 16, 1), "num_train": 64, "num_test": 40}
  c.train.update(batch_size=16, num_steps=6, eval_every_steps=2, log_every_steps=2,
                 checkpoint_every_steps=2, keep_checkpoints=10)
  c.train.update(train_fields)
  return c


RUNS = pytest.mark.xdist_group("inspect-runs")  # one worker trains the runs, once


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
  root = tmp_path_factory.mktemp("inspect")
  os.environ["CNNLAB_DATA_DIR"] = str(root / "data")
  out = {}
  out["single"] = train(_config(), str(root / "single"), log=lambda *_: None), str(root / "single")
  two = _config(num_replicas=2)
  dirs = [str(root / "two" / name) for name in run_names(two)]
  out["two"] = list(zip(train_together(runs_of(two), dirs, log=lambda *_: None), dirs))
  return out


def _old_directory_of_two(runs, path):
  """A run directory as cnnlab wrote two side-by-side seeds before 2026-12-05: one config
  (``train.num_replicas=2``) and one checkpoint of the stacked state."""
  (_, a), (_, b) = runs["two"]
  os.makedirs(path)
  config = json.load(open(os.path.join(a, "config.json")))
  config["train"]["num_replicas"] = 2
  json.dump(config, open(os.path.join(path, "config.json"), "w"))
  states = [checkpoint.load_raw(os.path.join(d, "checkpoints"), 6) for d in (a, b)]
  stacked = jax.tree_util.tree_map(lambda *xs: np.stack(xs), *states)
  with checkpoint.Checkpointer(os.path.join(path, "checkpoints"), async_save=False) as ck:
    ck.save(6, stacked, {})
  return states


@RUNS
def test_load_run_gives_the_checkpoint_and_the_run_s_metrics(runs):
  result, wd = runs["single"]
  run = load_run(wd)
  assert run.step == 6 and run.config.model.name == "zeiler_fergus"
  raw = checkpoint.load_raw(os.path.join(wd, "checkpoints"), 6)
  for a, b in zip(jax.tree_util.tree_leaves(raw["params"]),
                  jax.tree_util.tree_leaves(run.variables["params"])):
    np.testing.assert_array_equal(a, b)
  # evaluated through load_run, the test split gives the run's own final numbers
  got = evaluate(run, "test")
  assert got["count"] == 40 and np.sum(got["confusion"]) == 40
  assert got["accuracy"] == pytest.approx(result.value("final.test.accuracy"), abs=1e-6)
  assert got["loss"] == pytest.approx(result.value("final.test.loss"), rel=1e-4)
  best = result.best["test"].point.step
  assert load_run(wd, step="best").step == best and load_run(wd, step=4).step == 4
  with pytest.raises(FileNotFoundError, match="kept: 2, 4, 6"):
    load_run(wd, step=3)


@RUNS
def test_runs_trained_side_by_side_load_as_runs_of_their_own(tmp_path, runs):
  for result, wd in runs["two"]:
    run = load_run(wd)
    assert run.name == f"seed-{result.seed}@6" and run.config.seed == result.seed
    assert evaluate(run)["accuracy"] == pytest.approx(result.value("final.test.accuracy"),
                                                      abs=1e-6)
  # a directory of two from before 2026-12-05: its first run, and its second by id
  states = _old_directory_of_two(runs, str(tmp_path / "sweep" / "runs" / "old"))
  first, second = load_run(str(tmp_path / "sweep"), "old"), load_run(str(tmp_path / "sweep"),
                                                                      "old/r1")
  for run, state in ((first, states[0]), (second, states[1])):
    for a, b in zip(jax.tree_util.tree_leaves(state["params"]),
                    jax.tree_util.tree_leaves(run.variables["params"])):
      np.testing.assert_array_equal(a, b)
  assert second.name == "old/r1@6" and second.config.seed == first.config.seed + 1
  assert evaluate(second)["accuracy"] == pytest.approx(
      runs["two"][1][0].value("final.test.accuracy"), abs=1e-6)
  with pytest.raises(ValueError, match="holds 2 runs: no run 2"):
    load_run(str(tmp_path / "sweep"), "old/r2")


@RUNS
def test_load_run_of_a_sweep_names_its_runs(tmp_path, runs):
  sweep = tmp_path / "sweep"
  os.makedirs(sweep / "runs")
  shutil.copytree(runs["single"][1], sweep / "runs" / "0000")
  shutil.copytree(runs["two"][0][1], sweep / "runs" / "0001")
  assert load_run(str(sweep), "0001").config.seed == 0
  with pytest.raises(ValueError, match="is one run"):
    load_run(str(sweep), "0001/r1")
  with pytest.raises(ValueError, match="0000, 0001"):
    load_run(str(sweep))
  with pytest.raises(FileNotFoundError, match="no run '0002'.*0000, 0001"):
    load_run(str(sweep), "0002")


@RUNS
@pytest.mark.parametrize("fmt", ["msgpack", "orbax"])
def test_export_round_trips(tmp_path, runs, fmt):
  run = load_run(runs["single"][1])
  export(run, str(tmp_path / fmt), fmt)
  model, variables, config = load_exported(str(tmp_path / fmt))
  x = np.asarray(jax.random.normal(jax.random.PRNGKey(6), (3, 16, 16, 1)))
  np.testing.assert_allclose(model.apply(variables, x, train=False),
                             run.model.apply(run.variables, x, train=False), rtol=1e-6)
  assert config.model.name == "zeiler_fergus"


@RUNS
def test_the_evaluate_export_and_inspect_commands(tmp_path, runs):
  from cnnlab import evaluate as evaluate_cli, export as export_cli
  from cnnlab.inspect import __main__ as inspect_cli
  from cnnlab.inspect.cli import run_cli
  wd = runs["single"][1]
  out = tmp_path / "eval"
  assert run_cli("evaluate", evaluate_cli._define, evaluate_cli._body,
                 ["x", f"--workdir={wd}", f"--out={out}"]) == 0
  saved = json.loads((out / "evaluate_test.json").read_text())
  assert saved["count"] == 40 and (out / "confusion_test.png").stat().st_size > 1000
  assert run_cli("export", export_cli._define, export_cli._body,
                 ["x", f"--workdir={wd}", f"--out={tmp_path / 'exp'}", "--format=orbax"]) == 0
  assert (tmp_path / "exp" / "config.json").exists()
  # a missing run or checkpoint: one line, exit 2
  assert run_cli("evaluate", evaluate_cli._define, evaluate_cli._body,
                 ["x", f"--workdir={tmp_path / 'nope'}"]) == 2
  assert run_cli("evaluate", evaluate_cli._define, evaluate_cli._body,
                 ["x", f"--workdir={wd}", "--step=5"]) == 2
  assert run_cli("evaluate", evaluate_cli._define, evaluate_cli._body,  # 8×8 digits
                 ["x", f"--workdir={wd}", "--data=digits"]) == 2
  page = tmp_path / "page"
  assert run_cli("inspect", inspect_cli._define, inspect_cli._body,
                 ["x", f"--workdir={runs['two'][0][1]}", f"--out={page}", "--examples=2",
                  f"--compare={runs['two'][1][1]}",
                  "--pool_size=32", "--cka_examples=32", "--top_k=3", "--features=2",
                  "--ig_steps=16"]) == 0
  for bad in ("--top_k=0", "--cka_examples=2", "--rule=deconv", "--project=pool9"):
    assert run_cli("inspect", inspect_cli._define, inspect_cli._body,  # refused, one line,
                   ["x", f"--workdir={wd}", f"--out={tmp_path / 'bad'}", bad]) == 2
  assert not (tmp_path / "bad").exists()  # before anything is written
  with pytest.raises(ValueError, match="cka_examples must be >= 4"):
    from cnnlab.inspect.page import Options
    Options(cka_examples=2)
  summary = json.loads((page / "summary.json").read_text())
  assert summary["compared_with"] == ["seed-1@6"]  # the other seed
  arrays = np.load(page / "inspect.npz")
  assert arrays["projections/conv1"].shape[:2] == (2, 3)
  assert "cka/seed-1@6" in arrays.files
  html = (page / "index.html").read_text()
  for name in ("features_conv1.png", "projections_pool1.png", "attributions.png",
               "cka_within.png", "filters_conv1.png"):
    assert f'src="{name}"' in html and (page / name).exists()
  assert "seed-0@6 · conv1 · filters" in html


@RUNS
def test_runs_scored_as_one_ensemble_by_the_evaluate_command(tmp_path, runs):
  """The vote of nets (Nielsen's five) is an evaluation of its own, of any runs of a
  sweep: checked against NumPy over the runs' own outputs."""
  from cnnlab import evaluate as evaluate_cli
  from cnnlab.inspect.cli import run_cli
  sweep = tmp_path / "sweep"
  for i, (_, wd) in enumerate(runs["two"]):
    shutil.copytree(wd, sweep / "runs" / f"s{i}")
  assert run_cli("evaluate", evaluate_cli._define, evaluate_cli._body,
                 ["x", f"--sweep_dir={sweep}", "--ensemble=all"]) == 0
  got = json.loads((sweep / "ensemble_test.json").read_text())
  loaded = [load_run(str(sweep), f"s{i}") for i in range(2)]
  images, labels = example_arrays(loaded[0], "test")
  outs = np.stack([np.asarray(r.apply(images)) for r in loaded])  # (2, N, K)
  probs = np.exp(outs - outs.max(-1, keepdims=True))
  probs = (probs / probs.sum(-1, keepdims=True)).mean(0)
  votes = np.zeros_like(probs)
  for o in outs:
    votes[np.arange(len(labels)), o.argmax(-1)] += 1
  vote = np.where(votes == votes.max(-1, keepdims=True), probs, -1).argmax(-1)
  assert got["ensemble_vote_accuracy"] == pytest.approx(np.mean(vote == labels))
  assert got["ensemble_softmax_accuracy"] == pytest.approx(np.mean(probs.argmax(-1) == labels))
  own = [r.value("final.test.accuracy") for r, _ in runs["two"]]
  assert got["mean_accuracy"] == pytest.approx(np.mean(own), abs=1e-6)
  assert got["runs"] == ["s0@6", "s1@6"] and got["count"] == 40
  assert run_cli("evaluate", evaluate_cli._define, evaluate_cli._body,  # one run: refused
                 ["x", f"--sweep_dir={sweep}", "--ensemble=s0"]) == 2


def test_the_inspect_page_of_a_sequence_model(tmp_path):
  """1-D inputs (MNIST-1D's shape): every section is drawn, the fields measured."""
  from cnnlab.inspect.page import Options, inspect_run
  c = base_config("conv1d_pool")
  c.model.width = 0.5
  c.data.name = "synthetic"
  c.data.options = {"shape": (40, 1), "num_train": 64, "num_test": 40}
  c.train.update(batch_size=16, num_steps=2, eval_every_steps=2, log_every_steps=2,
                 checkpoint_every_steps=2)
  os.environ["CNNLAB_DATA_DIR"] = str(tmp_path / "data")
  train(c, str(tmp_path / "run"), log=lambda *_: None)
  run = load_run(str(tmp_path / "run"))
  path = inspect_run(run, str(tmp_path / "page"), Options(examples=2, top_k=3, features=2,
                                                          ig_steps=16))
  html = open(path).read()
  assert html.count("<img") >= 8 and "differs" not in html
  arrays = np.load(tmp_path / "page" / "inspect.npz")
  assert arrays["features/conv1"].shape == (2, 40, 10)
  assert arrays["projections/conv1"].shape == (2, 3, 3, 1)  # cropped to the 3-wide field


@RUNS
@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")
def test_the_inspect_page_renders_in_headless_chromium(tmp_path, runs):
  from cnnlab.inspect.page import Options, inspect_run
  run = load_run(runs["single"][1])
  path = inspect_run(run, str(tmp_path / "page"), Options(examples=2, pool_size=32,
                                                          cka_examples=32, top_k=3,
                                                          features=2, ig_steps=16))
  dom = dump_dom(path, tmp_path)
  assert "Receptive fields" in dom and "single@6 · pool1 · feature maps" in dom
  rgb = screenshot(path, tmp_path, "1280,2000")
  assert ((rgb.max(-1) - rgb.min(-1)) > 0.3).sum() > 2000  # the figures' colour maps show


def test_a_sweep_s_runs_load_evaluate_and_export(tmp_path, monkeypatch):
  """A sweep made by ``cnnlab.sweep``: its runs by id, through the API and the commands."""
  from test_cli import SWEEP
  from cnnlab import evaluate as evaluate_cli, export as export_cli
  from cnnlab.inspect.cli import run_cli
  from cnnlab.sweep import __main__ as sweep_cli
  monkeypatch.setenv("CNNLAB_DATA_DIR", str(tmp_path / "data"))
  (tmp_path / "sweep.py").write_text(SWEEP % "model.pool")
  sweep_dir = tmp_path / "sweep"
  assert sweep_cli.main([f"--config={tmp_path / 'sweep.py'}", f"--sweep_dir={sweep_dir}",
                         "--workers=1"]) == 0
  run = load_run(str(sweep_dir), "pool-avg_seed-0")
  assert run.config.model.pool == "avg" and run.step == 4
  got = evaluate(run)
  result = json.loads((Path(run.workdir) / "result.json").read_text())
  assert got["accuracy"] == pytest.approx(result["final"]["test"]["accuracy"], abs=1e-6)
  flags = [f"--sweep_dir={sweep_dir}", "--run_id=pool-max_seed-0"]
  assert run_cli("evaluate", evaluate_cli._define, evaluate_cli._body,
                 ["x", *flags, f"--out={tmp_path / 'eval'}"]) == 0
  assert json.loads((tmp_path / "eval" / "evaluate_test.json").read_text())["count"] == 30
  assert run_cli("export", export_cli._define, export_cli._body,
                 ["x", *flags, f"--out={tmp_path / 'exp'}"]) == 0
  model, variables, config = load_exported(str(tmp_path / "exp"))
  assert config.model.pool == "max"
  assert run_cli("evaluate", evaluate_cli._define, evaluate_cli._body,  # no run id: one line
                 ["x", f"--sweep_dir={sweep_dir}"]) == 2
