"""The trainer: end to end, exact resume (also after SIGKILL), divergence, bad configs."""

import json
import os
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from cnnlab.train import ConfigError, Diverged, base_config, train, validate
from cnnlab.train import checkpoint
from cnnlab.train.metrics import read_metrics
from cnnlab.train.optim import l2_penalty, make_optimizer

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(autouse=True)
def _data_dir(tmp_path, monkeypatch):
  monkeypatch.setenv("CNNLAB_DATA_DIR", str(tmp_path / "data"))


def tiny_config(**train):
  c = base_config()
  c.model.name = "fashionnet"
  c.model.width = 0.25
  c.model.pool = "stochastic"  # exercises the per-step "pool" keys on resume
  c.data.name = "synthetic"
  c.data.options = {"shape": (8, 8, 1), "num_train": 96, "num_test": 30}
  c.data.augment = ("translate",)
  c.data.max_shift = 1
  c.train.batch_size = 16
  c.train.num_epochs = 3
  c.train.eval_batch_size = 64
  c.train.log_every_steps = 5
  c.train.checkpoint_every_steps = 4
  c.train.update(train)
  return c


def _params(workdir):
  from flax import serialization
  step = checkpoint.latest_step(os.path.join(workdir, "checkpoints"))
  with open(os.path.join(workdir, "checkpoints", f"ckpt_{step:09d}.msgpack"), "rb") as f:
    return step, serialization.msgpack_restore(f.read())


def _assert_same_state(a, b):
  leaves_a, leaves_b = jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)
  assert len(leaves_a) == len(leaves_b)
  for x, y in zip(leaves_a, leaves_b):
    np.testing.assert_array_equal(x, y)


def test_end_to_end_writes_run_directory(tmp_path):
  wd = str(tmp_path / "run")
  logs = []
  result = train(tiny_config(), wd, log=logs.append)
  assert result["status"] == "done" and result["step"] == 18 and result["epochs"] == 3
  for f in ("config.json", "metrics.jsonl", "result.json"):
    assert os.path.exists(os.path.join(wd, f)), f
  import importlib.util
  if importlib.util.find_spec("tensorboardX"):
    assert os.listdir(os.path.join(wd, "tensorboard"))
  rows = read_metrics(wd)
  assert {r["split"] for r in rows} == {"train", "test"}
  test_rows = [r for r in rows if r["split"] == "test"]
  assert [r["step"] for r in test_rows] == [6, 12, 18] and test_rows[-1]["count"] == 30
  with open(os.path.join(wd, "result.json")) as f:
    saved = json.load(f)
  for key in ("wall_time_s", "compile_time_s", "train_images_per_s", "params", "device",
              "jax", "best", "final"):
    assert key in saved, key
  assert saved["final"]["test_accuracy"] == test_rows[-1]["accuracy"]
  # Rerunning a finished run does no new steps.
  again = train(tiny_config(), wd, log=logs.append)
  assert again["step"] == 18 and again["resumed_from"] == 18


def test_resume_is_bit_exact(tmp_path):
  full = str(tmp_path / "full")
  train(tiny_config(), full, log=lambda *_: None)
  part = str(tmp_path / "part")
  r = train(tiny_config(stop_after_steps=7), part, log=lambda *_: None)  # mid-epoch
  assert r["status"] == "preempted" and r["step"] == 7
  r = train(tiny_config(), part, log=lambda *_: None)
  assert r["status"] == "done" and r["resumed_from"] == 7
  step_a, a = _params(full)
  step_b, b = _params(part)
  assert step_a == step_b == 18
  _assert_same_state(a, b)


def _write_config_file(path, **train_fields):
  fields = "\n".join(f"  c.train.{k} = {v!r}" for k, v in train_fields.items())
  with open(path, "w") as f:
    f.write(f"""
from cnnlab.train.config import base_config
def get_config():
  c = base_config()
  c.model.name = "fashionnet"
  c.model.width = 0.25
  c.data.name = "synthetic"
  c.data.options = {{"shape": (8, 8, 1), "num_train": 96, "num_test": 30}}
  c.train.batch_size = 8
  c.train.eval_batch_size = 64
  c.train.log_every_steps = 1000
{fields}
  return c
""")


def _main(config, workdir, env, *extra):
  return [sys.executable, "-m", "cnnlab.main", f"--config={config}", f"--workdir={workdir}",
          *extra]


def test_sigkill_mid_epoch_then_rerun_gives_identical_parameters(tmp_path):
  cfg = str(tmp_path / "cfg.py")
  _write_config_file(cfg, num_epochs=40, checkpoint_every_steps=7)
  env = {**os.environ, "PYTHONPATH": REPO, "JAX_PLATFORMS": "cpu"}
  full, killed = str(tmp_path / "full"), str(tmp_path / "killed")
  subprocess.run(_main(cfg, full, env, "--config.model.pool=avg"), env=env, check=True,
                 capture_output=True, cwd=REPO)
  proc = subprocess.Popen(_main(cfg, killed, env, "--config.model.pool=avg"), env=env,
                          cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  ckdir = os.path.join(killed, "checkpoints")
  deadline = time.time() + 120
  while time.time() < deadline and (checkpoint.latest_step(ckdir) or 0) < 100:
    time.sleep(0.05)
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  killed_at = checkpoint.latest_step(ckdir)
  assert killed_at is not None and killed_at < 480, "the run must be killed mid-way"
  subprocess.run(_main(cfg, killed, env, "--config.model.pool=avg"), env=env, check=True,
                 capture_output=True, cwd=REPO)
  with open(os.path.join(killed, "result.json")) as f:
    result = json.load(f)
  assert result["status"] == "done" and result["resumed_from"] == killed_at
  assert result["resumed_from"] < result["step"] == 480
  with open(os.path.join(killed, "config.json")) as f:
    assert json.load(f)["model"]["pool"] == "avg"  # the CLI override was applied
  _assert_same_state(_params(full)[1], _params(killed)[1])


def test_sigterm_checkpoints_and_stops_cleanly(tmp_path):
  cfg = str(tmp_path / "cfg.py")
  _write_config_file(cfg, num_epochs=1000, checkpoint_every_steps=0)
  env = {**os.environ, "PYTHONPATH": REPO, "JAX_PLATFORMS": "cpu"}
  wd = str(tmp_path / "run")
  proc = subprocess.Popen(_main(cfg, wd, env), env=env, cwd=REPO,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
  deadline = time.time() + 120
  while time.time() < deadline and not os.path.exists(os.path.join(wd, "metrics.jsonl")):
    time.sleep(0.05)  # first evaluation written: the loop is running
  proc.send_signal(signal.SIGTERM)
  out, _ = proc.communicate(timeout=60)
  assert proc.returncode == 0, out
  with open(os.path.join(wd, "result.json")) as f:
    result = json.load(f)
  assert result["status"] == "preempted" and result["stopped_by"] == "SIGTERM"
  assert checkpoint.latest_step(os.path.join(wd, "checkpoints")) == result["step"]


def test_divergence_is_recorded(tmp_path):
  c = tiny_config()
  c.optim.name = "sgd"
  c.optim.lr = 1e30
  wd = str(tmp_path / "div")
  with pytest.raises(Diverged, match="diverged"):
    train(c, wd, log=lambda *_: None)
  with open(os.path.join(wd, "result.json")) as f:
    r = json.load(f)
  assert r["status"] == "diverged" and r["diverged_at_step"] >= 1


def _set(c, path, value):
  *parents, leaf = path.split(".")
  node = c
  for p in parents:
    node = node[p]
  with node.ignore_type():
    node[leaf] = value
  return c


BAD_CONFIGS = [
    ("seed", -1, "config.seed"),
    ("model.name", "resnet21", "unknown model 'resnet21'; valid: .*resnet20"),
    ("model.depthh", 3, "config.model.depthh: model 'fashionnet' has no field"),
    ("data.name", "imagenet", "unknown data set 'imagenet'; valid: fashion_mnist"),
    ("data.validation_size", -5, "config.data.validation_size"),
    ("data.validation_from", "start", "config.data.validation_from: must be 'end' or 'random'"),
    ("data.augment", ("rotate",), "unknown augmentation 'rotate'; valid: crop"),
    ("optim.name", "lbfgs", "unknown optimizer 'lbfgs'; valid: sgd"),
    ("optim.schedule", "linear", "unknown schedule 'linear'; valid: constant"),
    ("optim.lr", 0.0, "config.optim.lr: must be > 0"),
    ("optim.lr", "fast", "config.optim.lr: must be > 0"),
    ("optim.momentum", 1.5, "config.optim.momentum"),
    ("optim.weight_decay", -1.0, "config.optim.weight_decay"),
    ("optim.clip_norm", -1.0, "config.optim.clip_norm"),
    ("optim.l2", -0.1, "config.optim.l2"),
    ("optim.l2_form", "torch", "config.optim.l2_form: must be 'plain' or 'nielsen'"),
    ("train.batch_size", 0, "config.train.batch_size"),
    ("train.batch_size", 10.5, "config.train.batch_size"),
    ("train.eval_batch_size", 0, "config.train.eval_batch_size"),
    ("train.num_epochs", -1, "config.train.num_epochs"),
    ("train.label_smoothing", 1.0, "config.train.label_smoothing"),
    ("train.dtype", "float16", "config.train.dtype: must be 'float32' or 'bfloat16'"),
    ("train.log_every_steps", -1, "config.train.log_every_steps"),
    ("train.checkpoint_every_steps", 2.5, "config.train.checkpoint_every_steps"),
    ("train.num_replicas", -2, "config.train.num_replicas"),
]


@pytest.mark.parametrize("path,value,message", BAD_CONFIGS)
def test_bad_configs_are_rejected_with_the_field_named(path, value, message):
  c = _set(base_config(), path, value)
  with pytest.raises(ConfigError, match=message):
    validate(c)


def test_zero_epochs_and_steps_rejected():
  c = base_config()
  c.train.num_epochs = 0
  with pytest.raises(ConfigError, match="num_epochs or train.num_steps"):
    validate(c)


def test_model_and_shape_errors_come_before_training(tmp_path):
  c = tiny_config()
  c.model.pool = "stochastic"
  c.model.act = "tanh"
  with pytest.raises(ValueError, match="non-negative"):
    train(c, str(tmp_path / "a"), log=lambda *_: None)
  assert not os.path.exists(os.path.join(tmp_path, "a", "checkpoints"))
  c = tiny_config()
  c.data.options = {"shape": (3, 3, 1), "num_train": 96, "num_test": 30}
  with pytest.raises(ValueError, match="layer 'pool2'"):
    train(c, str(tmp_path / "b"), log=lambda *_: None)


def test_rejected_config_leaves_the_workdir_usable(tmp_path):
  wd = str(tmp_path / "run")
  bad = tiny_config()
  bad.model.pool = "maxx"
  with pytest.raises(KeyError, match="unknown pooling 'maxx'.*Valid names"):
    train(bad, wd, log=lambda *_: None)
  assert train(tiny_config(num_epochs=1), wd, log=lambda *_: None)["status"] == "done"
  cfg = str(tmp_path / "cfg.py")
  _write_config_file(cfg, num_epochs=1)
  env = {**os.environ, "PYTHONPATH": REPO, "JAX_PLATFORMS": "cpu"}
  proc = subprocess.run(_main(cfg, str(tmp_path / "cli"), env, "--config.model.pool=maxx"),
                        env=env, cwd=REPO, capture_output=True, text=True)
  assert proc.returncode == 2
  assert "invalid config: unknown pooling 'maxx'. Did you mean 'max'?" in proc.stderr
  assert "Traceback" not in proc.stderr


def test_workdir_with_other_config_is_refused(tmp_path):
  wd = str(tmp_path / "run")
  train(tiny_config(num_epochs=1), wd, log=lambda *_: None)
  with pytest.raises(ConfigError, match="different config"):
    train(tiny_config(num_epochs=2, batch_size=8), wd, log=lambda *_: None)


def test_l2_penalty_forms():
  params = {"conv": {"kernel": np.full((2, 2), 2.0), "bias": np.ones(2)}}
  assert float(l2_penalty(params, 0.1)) == pytest.approx(0.5 * 0.1 * 16)
  assert float(l2_penalty(params, 0.1, num_batches=4, form="nielsen")) == pytest.approx(0.2)


@pytest.mark.parametrize("name", ["sgd", "momentum", "nesterov", "adam", "adamw", "rmsprop"])
@pytest.mark.parametrize("schedule", ["constant", "step", "cosine", "onecycle"])
def test_optimizers_and_schedules_build_and_step(name, schedule):
  c = base_config().optim
  c.name, c.schedule, c.warmup_steps, c.clip_norm, c.weight_decay = name, schedule, 2, 1.0, 1e-4
  tx = make_optimizer(c, 10)
  p = {"w": np.ones(3, np.float32)}
  updates, _ = tx.update({"w": np.ones(3, np.float32)}, tx.init(p), p)
  assert np.all(np.isfinite(updates["w"]))


def test_replicas_equal_separate_runs(tmp_path):
  """num_replicas=2 with seed 3 trains seeds 3 and 4 side by side (one vmapped step)."""
  rep = tiny_config(num_replicas=2)
  rep.seed = 3
  r = train(rep, str(tmp_path / "rep"), log=lambda *_: None)
  assert r["seeds"] == [3, 4] and len(r["final"]["per_replica"]) == 2
  _, stacked = _params(str(tmp_path / "rep"))
  for i, seed in enumerate((3, 4)):
    one = tiny_config()
    one.seed = seed
    single = train(one, str(tmp_path / f"seed{seed}"), log=lambda *_: None)
    _, params = _params(str(tmp_path / f"seed{seed}"))
    for a, b in zip(jax.tree_util.tree_leaves(params["params"]),
                    jax.tree_util.tree_leaves(stacked["params"])):
      np.testing.assert_allclose(b[i], a, rtol=2e-4, atol=2e-5)
    mine = r["final"]["per_replica"][i]
    assert mine["seed"] == seed
    assert mine["test_loss"] == pytest.approx(single["final"]["test_loss"], rel=1e-4)
  rows = [x for x in read_metrics(str(tmp_path / "rep")) if x["split"] == "test"]
  assert {"accuracy_r0", "accuracy_r1", "loss_r1"} <= set(rows[-1])
  # Resume works the same way with replicas.
  part = tiny_config(num_replicas=2, stop_after_steps=5)
  part.seed = 3
  assert train(part, str(tmp_path / "rep_part"), log=lambda *_: None)["status"] == "preempted"
  part.train.stop_after_steps = 0
  train(part, str(tmp_path / "rep_part"), log=lambda *_: None)
  _assert_same_state(stacked, _params(str(tmp_path / "rep_part"))[1])
