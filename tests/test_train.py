"""The trainer: end to end, exact resume (also after SIGKILL), divergence, bad configs."""

import copy
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from cnnlab.train import ConfigError, Diverged, base_config, train, train_together, validate
from cnnlab.train import checkpoint
from cnnlab.train.metrics import read_metrics
from cnnlab.train.result import load_result
from cnnlab.train.together import run_names, runs_of
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
  # the final state only: each orbax save costs ~0.1 s; a stop (stop_after_steps,
  # SIGTERM) saves its own, and the tests of periodic saves ask for them
  c.train.checkpoint_every_steps = 0
  c.train.update(train)
  return c


def train_side_by_side(c, root):
  """``[(result, its directory)]`` of the runs a packing config requests, trained as one
  program into ``root/<run>``."""
  dirs = [os.path.join(root, name) for name in run_names(c)]
  return list(zip(train_together(runs_of(c), dirs, log=lambda *_: None), dirs))


def _params(workdir):
  ckdir = os.path.join(workdir, "checkpoints")
  step = checkpoint.latest_step(ckdir)
  return step, checkpoint.load_raw(ckdir, step)


def _assert_same_state(a, b):
  leaves_a, leaves_b = jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)
  assert len(leaves_a) == len(leaves_b)
  for x, y in zip(leaves_a, leaves_b):
    np.testing.assert_array_equal(x, y)


def test_end_to_end_writes_run_directory(tmp_path):
  wd = str(tmp_path / "run")
  logs = []
  result = train(tiny_config(), wd, log=logs.append)
  assert result.status == "done" and result.step == 18 and result.epochs == 3
  for f in ("config.json", "metrics.jsonl", "result.json"):
    assert os.path.exists(os.path.join(wd, f)), f
  import importlib.util
  if importlib.util.find_spec("tensorboardX"):
    assert os.listdir(os.path.join(wd, "tensorboard"))
  rows = read_metrics(wd)
  assert {r["split"] for r in rows} == {"train", "test", "train_epoch"}
  test_rows = [r for r in rows if r["split"] == "test"]
  assert [r["step"] for r in test_rows] == [6, 12, 18] and test_rows[-1]["count"] == 30
  with open(os.path.join(wd, "result.json")) as f:
    saved = json.load(f)
  for key in ("wall_time_s", "compile_time_s", "train_images_per_s", "params", "device",
              "jax", "flax", "best", "final", "epochs", "git_commit", "git_dirty", "loop",
              "runtime", "schema"):
    assert key in saved, key
  assert saved["compile_time_s"] > 0 and saved["train_images_per_s"] > 0
  assert saved["loop"] == "step"  # "auto" on CPU
  assert saved["flops_per_example"] > 0 and saved["params"] > 0
  assert saved["deterministic"] == {"requested": False, "xla_flags_applied": False}
  assert saved["final"]["test"]["accuracy"] == test_rows[-1]["accuracy"]
  assert result.value("test_accuracy") == result.value("final.test.accuracy")
  # each metric's direction, as the loss declares it, for the reports
  assert saved["schema"] == 4 and saved["directions"] == {"accuracy": "higher", "loss": "lower"}
  assert result.direction("last.train_epoch.loss") == "lower" == result.direction("test_loss")
  # Rerunning a finished run does no new steps and leaves its results as they are.
  before = open(os.path.join(wd, "result.json")).read()
  again = train(tiny_config(), wd, log=logs.append)
  assert again.step == 18 and again.resumed_from is None
  assert again.to_json() == result.to_json()
  assert open(os.path.join(wd, "result.json")).read() == before
  assert any(m.startswith("already finished at step 18: best test accuracy") for m in logs)
  assert len(read_metrics(wd)) == len(rows)  # nothing evaluated or logged again


def test_resume_is_bit_exact(tmp_path):
  full = str(tmp_path / "full")
  train(tiny_config(), full, log=lambda *_: None)
  part = str(tmp_path / "part")
  # Periodic saves: the save at the stop cannot hold its own time in the record it writes,
  # so a resumed run's breakdown lacks it; the later saves outweigh it (one alone may not).
  every4 = {"checkpoint_every_steps": 4}
  r = train(tiny_config(stop_after_steps=7, **every4), part, log=lambda *_: None)  # mid-epoch
  assert r.status == "preempted" and r.step == 7
  first = r.time_breakdown_s
  r = train(tiny_config(**every4), part, log=lambda *_: None)
  assert r.status == "done" and r.resumed_from == 7
  # Where the wall time went, summed over both processes: parts that add up to it.
  parts = r.time_breakdown_s
  assert set(parts) == {"data", "setup", "compile", "train", "eval", "checkpoint", "other"}
  assert min(parts.values()) >= 0 and parts["train"] > 0 and parts["checkpoint"] > 0
  assert sum(parts.values()) == pytest.approx(r.wall_time_s, abs=1e-3)
  assert all(parts[k] >= first[k] for k in ("setup", "train", "eval", "checkpoint"))
  assert parts["setup"] > first["setup"]  # the second process's set-up is counted too
  step_a, a = _params(full)
  step_b, b = _params(part)
  assert step_a == step_b == 18
  _assert_same_state(a, b)


def _write_config_file(path, **train_fields):
  fields = "\n".join(f"  c.train.{k} = {v!r}" for k, v in train_fields.items())
  with open(path, "w") as f:
    f.write(f"""
from cnnlab.config import base_config
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
  # every 31 steps: mid-epoch (12 a epoch), and few saves (each ~0.1 s of orbax)
  _write_config_file(cfg, num_epochs=40, checkpoint_every_steps=31)
  env = {**os.environ, "PYTHONPATH": REPO, "JAX_PLATFORMS": "cpu"}
  full, killed = str(tmp_path / "full"), str(tmp_path / "killed")
  # the uninterrupted run saves only its final state
  subprocess.run(_main(cfg, full, env, "--config.model.pool=avg",
                       "--config.train.checkpoint_every_steps=0"),
                 env=env, check=True, capture_output=True, cwd=REPO)
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
    ("model.name", "resnet21", "unknown model 'resnet21'.* Valid: .*resnet20"),
    ("model.depthh", 3, "config.model.depthh: model 'fashionnet' has no field"),
    ("data.name", "imagenet", "unknown data set 'imagenet'.* Valid: fashion_mnist"),
    ("data.validation_size", -5, "config.data.validation_size"),
    ("data.validation_from", "start", "config.data.validation_from: must be 'end' or 'random'"),
    ("data.augment", ("rotate",), "unknown augmentation 'rotate'.* Valid: crop"),
    ("optim.name", "lbfgs", "unknown optimizer 'lbfgs'.* Valid: sgd"),
    ("optim.schedule", "linear", "unknown schedule 'linear'.* Valid: constant"),
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
    ("train.ema_decay", 1.0, r"config.train.ema_decay: must be in \[0, 1\)"),
    ("train.keep_checkpoints", 0, "config.train.keep_checkpoints"),
    ("train.loop", "fast", "unknown loop form 'fast'.* Valid: auto, step, scan"),
    ("train.scan_chunk_steps", -1, "config.train.scan_chunk_steps"),
    ("train.pad_train_to", -1, "config.train.pad_train_to: must be an int >= 0"),
    ("train.data_parallel", "yes", "config.train.data_parallel: must be True or False"),
    ("deterministic", 1, "config.deterministic: must be True or False"),
    ("optim.boundaries", (0.5, 1.5), "config.optim.boundaries: must be fractions"),
    ("data.expand", "rotate", "config.data.expand: must be '' or 'nielsen_shift'"),
    ("data.pad_to", (32, 0), "config.data.pad_to: must be positive ints"),
    ("train.eval_train_set", 1, "config.train.eval_train_set: must be True or False"),
    ("train.target_metric", "train_set.accuracy",
     r"split one of test, train_epoch \(train_epoch: "),
    ("train.target_metric", "test", "config.train.target_metric: must be '<split>.<metric>'"),
    ("data.train_size", -5, "config.data.train_size: must be an int >= 0"),
    ("train.cpu_devices", -1, "config.train.cpu_devices: must be an int >= 0"),
    ("train.cpu_devices", 1.5, "config.train.cpu_devices: must be an int >= 0"),
]


def test_host_devices_without_data_parallelism_are_refused():
  c = base_config()
  c.train.cpu_devices, c.train.data_parallel = 0, False
  with pytest.raises(ConfigError, match="config.train.cpu_devices: 0 host devices need "
                                        "train.data_parallel=True"):
    validate(c)


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
  assert train(tiny_config(num_epochs=1), wd, log=lambda *_: None).status == "done"
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
  with pytest.raises(ConfigError, match="another config .*train.batch_size: 16 there, 8 now; "
                                        "train.num_epochs: 1 there, 2 now"):
    train(tiny_config(num_epochs=2, batch_size=8), wd, log=lambda *_: None)


def test_a_killed_writers_temporary_files_are_removed_by_the_next_run(tmp_path):
  """A kill between writing ``<name>.tmp<pid>`` and its rename leaves the temporary; the
  next run in the directory removes those of dead processes and keeps a live one's."""
  wd = tmp_path / "run"
  wd.mkdir()
  dead = subprocess.Popen([sys.executable, "-c", "pass"])
  dead.wait()  # (reaped: its pid is free)
  stale = [wd / f"{name}.tmp{dead.pid}" for name in ("config.json", "result.json",
                                                      "metrics.jsonl")]
  live = wd / f"result.json.tmp{os.getppid()}"  # (a live process other than this one)
  for path in stale + [live, wd / "notes.tmp1"]:
    path.write_text("{")
  assert train(tiny_config(num_epochs=1), str(wd), log=lambda *_: None).status == "done"
  assert not any(p.exists() for p in stale)
  assert live.exists() and (wd / "notes.tmp1").exists()  # not a run file's temporary


def test_piecewise_schedule_drops_at_the_published_milestones():
  c = base_config().optim
  c.name, c.lr, c.schedule, c.boundaries = "sgd", 0.1, "piecewise", (0.5, 0.75)
  from cnnlab.train.optim import make_schedule
  sched = make_schedule(c, 64000)
  assert [float(sched(s)) for s in (0, 31999, 32000, 47999, 48000, 63999)] == pytest.approx(
      [0.1, 0.1, 0.01, 0.01, 0.001, 0.001])


def test_a_warmup_past_the_first_drop_or_the_run_is_refused_naming_the_field():
  from cnnlab.train.optim import make_schedule
  c = base_config().optim
  c.name, c.lr, c.schedule, c.boundaries, c.warmup_steps = "sgd", 0.1, "piecewise", (0.5, 0.75), 78
  sched = make_schedule(c, 390)  # He et al.'s CPU budget: drops at steps 195 and 292
  assert [float(sched(s)) for s in (0, 39, 78, 194, 195, 292)] == pytest.approx(
      [0.0, 0.05, 0.1, 0.1, 0.01, 0.001])
  c.warmup_steps = 195
  with pytest.raises(ConfigError, match="optim.warmup_steps: 195 .* first piecewise drop at "
                                        "step 195"):
    make_schedule(c, 390)
  c.schedule, c.warmup_steps = "cosine", 390
  with pytest.raises(ConfigError, match="optim.warmup_steps: 390 .* the run's 390 steps"):
    make_schedule(c, 390)


def test_l2_penalty_forms():
  params = {"conv": {"kernel": np.full((2, 2), 2.0), "bias": np.ones(2)}}
  assert float(l2_penalty(params, 0.1)) == pytest.approx(0.5 * 0.1 * 16)
  assert float(l2_penalty(params, 0.1, num_batches=4, form="nielsen")) == pytest.approx(0.2)


@pytest.mark.parametrize("name", ["sgd", "momentum", "nesterov", "adam", "adamw", "rmsprop"])
@pytest.mark.parametrize("schedule", ["constant", "step", "piecewise", "cosine", "onecycle"])
def test_optimizers_and_schedules_build_and_step(name, schedule):
  c = base_config().optim
  c.name, c.schedule, c.warmup_steps, c.clip_norm, c.weight_decay = name, schedule, 2, 1.0, 1e-4
  tx = make_optimizer(c, 10)
  p = {"w": np.ones(3, np.float32)}
  updates, _ = tx.update({"w": np.ones(3, np.float32)}, tx.init(p), p)
  assert np.all(np.isfinite(updates["w"]))


def test_runs_trained_side_by_side_equal_separate_runs_and_write_ordinary_directories(
    tmp_path):
  """num_replicas=2 with seed 3 trains seeds 3 and 4 side by side (one vmapped step), each
  into a run directory of its own, as the separate runs would write it."""
  rep = tiny_config(num_replicas=2)
  rep.seed = 3
  runs = train_side_by_side(rep, str(tmp_path / "rep"))
  assert [os.path.basename(d) for _, d in runs] == ["seed-3", "seed-4"]
  for (r, wd), seed in zip(runs, (3, 4)):
    assert r.seed == seed and r.trained_with == 2 and load_result(wd).to_json() == r.to_json()
    assert json.load(open(os.path.join(wd, "config.json")))["seed"] == seed
    one = tiny_config()
    one.seed = seed
    single = train(one, str(tmp_path / f"seed{seed}"), log=lambda *_: None)
    _, params = _params(str(tmp_path / f"seed{seed}"))
    _, own = _params(wd)  # the run's own checkpoint: its slice of the program's state
    for a, b in zip(jax.tree_util.tree_leaves(params["params"]),
                    jax.tree_util.tree_leaves(own["params"])):
      np.testing.assert_allclose(b, a, rtol=2e-4, atol=2e-5)
    assert r.value("final.test.loss") == pytest.approx(single.value("final.test.loss"),
                                                       rel=1e-4)
    rows = read_metrics(wd)
    assert [x["split"] for x in rows] == [x["split"] for x in read_metrics(
        str(tmp_path / f"seed{seed}"))]
    assert all("per_replica" not in x for x in rows)
    assert set(r.to_json()) == set(single.to_json())  # the same schema, nothing more
  # Resume works the same way side by side.
  part = tiny_config(num_replicas=2, stop_after_steps=5)
  part.seed = 3
  assert [r.status for r, _ in train_side_by_side(part, str(tmp_path / "rep_part"))] == [
      "preempted"] * 2
  part.train.stop_after_steps = 0
  for (_, wd), (_, ref) in zip(train_side_by_side(part, str(tmp_path / "rep_part")), runs):
    _assert_same_state(_params(ref)[1], _params(wd)[1])


def _leaves(tree):
  return jax.tree_util.tree_leaves(tree)


def test_scan_loop_equals_per_step_loop(tmp_path):
  """The accelerator form (lax.scan over the steps between events) computes the same run."""
  step = train(tiny_config(loop="step"), str(tmp_path / "step"), log=lambda *_: None)
  scan = train(tiny_config(loop="scan"), str(tmp_path / "scan"), log=lambda *_: None)
  assert scan.loop == "scan" and scan.step == step.step == 18
  assert scan.value("test_loss") == pytest.approx(step.value("test_loss"), rel=1e-5)
  for a, b in zip(_leaves(_params(str(tmp_path / "step"))[1]),
                  _leaves(_params(str(tmp_path / "scan"))[1])):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
  # A scan run resumed from one of its checkpoints is bit-exact too: chunk boundaries
  # are a function of the step (the next log/eval/checkpoint/epoch end), so the resumed
  # run compiles the same chunks. (A stop between checkpoints adds a boundary, and a
  # differently chunked scan may round differently in the last bit.)
  part = str(tmp_path / "scan_part")
  assert train(tiny_config(loop="scan", stop_after_steps=8), part,
               log=lambda *_: None).step == 8
  train(tiny_config(loop="scan"), part, log=lambda *_: None)
  _assert_same_state(_params(str(tmp_path / "scan"))[1], _params(part)[1])


def test_scan_loop_records_divergence_at_the_right_step(tmp_path):
  c = tiny_config(loop="scan", checkpoint_every_steps=0, log_every_steps=6)
  c.optim.name, c.optim.lr = "sgd", 1e30
  with pytest.raises(Diverged):
    train(c, str(tmp_path / "div"), log=lambda *_: None)
  c.train.loop = "step"
  with pytest.raises(Diverged):
    train(c, str(tmp_path / "div_step"), log=lambda *_: None)
  steps = []
  for wd in ("div", "div_step"):
    with open(os.path.join(tmp_path, wd, "result.json")) as f:
      steps.append(json.load(f)["diverged_at_step"])
  assert steps[0] == steps[1]


def test_ema_follows_its_closed_form():
  import optax
  from cnnlab.models import create_model
  from cnnlab.train.steps import StepSpec, create_state, ema_view, make_steps
  model = create_model("conv1d_base", (40, 1), num_classes=10)
  tx = optax.sgd(0.1)
  d = 0.9
  step, evaluate = make_steps(model, tx, StepSpec((0.0,), (1.0,), num_classes=10,
                                                    ema_decay=d))
  state = create_state(model, tx, jax.random.PRNGKey(0), (40, 1), ema=True)
  rng = np.random.default_rng(0)
  history = [jax.device_get(state.params)]
  for _ in range(3):
    batch = {"image": rng.normal(size=(8, 40, 1)).astype(np.float32),
             "label": rng.integers(0, 10, 8)}
    state, _ = step(state, batch)
    history.append(jax.device_get(state.params))
  p0, p1, p2, p3 = (_leaves(h) for h in history)
  for e, a, b, c, z in zip(_leaves(state.ema_params), p0, p1, p2, p3):
    expected = d**3 * a + d**2 * (1 - d) * b + d * (1 - d) * c + (1 - d) * z
    np.testing.assert_allclose(e, expected, rtol=1e-5, atol=1e-7)
  batch["mask"] = np.ones(8, bool)
  ema_sums = evaluate(ema_view(state), batch)
  raw_sums = evaluate(state, batch)
  assert float(ema_sums["loss_sum"]) != float(raw_sums["loss_sum"])


def test_ema_is_evaluated_and_reported(tmp_path):
  r = train(tiny_config(ema_decay=0.5, num_epochs=1), str(tmp_path / "ema"),
            log=lambda *_: None)
  assert {"accuracy", "loss"} <= set(r.final["test_ema"].values) and "test" in r.final
  assert "test_ema" in r.best and r.value("test_ema_accuracy") is not None
  assert {"test", "test_ema"} <= {row["split"] for row in read_metrics(str(tmp_path / "ema"))}


def test_bfloat16_compute_keeps_float32_parameters(tmp_path):
  from cnnlab.models import create_model
  import jax.numpy as jnp
  r = train(tiny_config(dtype="bfloat16"), str(tmp_path / "bf16"), log=lambda *_: None)
  assert r.status == "done" and np.isfinite(r.value("test_loss"))
  _, saved = _params(str(tmp_path / "bf16"))
  assert {leaf.dtype for leaf in _leaves(saved["params"])} == {np.dtype(np.float32)}
  model = create_model("fashionnet", (8, 8, 1), num_classes=10, width=0.25, dtype=jnp.bfloat16)
  variables = model.init(jax.random.PRNGKey(0), jnp.zeros((2, 8, 8, 1)))
  logits, seen = model.apply(variables, jnp.zeros((2, 8, 8, 1)), capture_intermediates=True)
  assert logits.dtype == jnp.float32  # the head casts the logits back for the loss
  seen = seen["intermediates"]
  for layer in (seen["conv1"]["conv"], seen["conv2"]["norm"], seen["pool2"],
                seen["head"]["dense"]):
    assert layer["__call__"][0].dtype == jnp.bfloat16
  f32 = train(tiny_config(), str(tmp_path / "f32"), log=lambda *_: None)
  # Same run in two precisions: the losses agree to bf16's few significant digits.
  assert r.value("test_loss") == pytest.approx(f32.value("test_loss"), rel=0.05)


_DATA_PARALLEL_SCRIPT = r"""
import json, sys
import jax, numpy as np
assert jax.device_count() == 2, jax.devices()
sys.path.insert(0, sys.argv[2])
from test_train import tiny_config, _params, _leaves
from cnnlab.train import ConfigError, train
out = sys.argv[1]
def cfg(**kw):
  c = tiny_config(**kw)
  c.model.pool = "max"      # deterministic layers, BN included: the runs must agree
  c.data.augment = ()
  return c
results = {}
for name, kw in {"dp": {}, "single": {"data_parallel": False},
                 "dp_scan": {"loop": "scan"}}.items():
  results[name] = train(cfg(**kw), f"{out}/{name}", log=lambda *_: None).to_json()
  results[name]["params_leaves"] = [np.asarray(a).tolist() for a in
                                    _leaves(_params(f"{out}/{name}")[1]["params"])]
try:
  train(cfg(batch_size=15), f"{out}/odd", log=lambda *_: None)
  results["odd_error"] = None
except ConfigError as e:
  results["odd_error"] = str(e)
json.dump({k: v for k, v in results.items()}, open(f"{out}/summary.json", "w"), default=str)
"""


@pytest.mark.usefixtures("xla_default_emitters")
def test_data_parallel_equals_single_device(tmp_path):
  """Two host devices: the sharded run (BN over the global batch) matches one device."""
  env = {**os.environ, "PYTHONPATH": REPO, "JAX_PLATFORMS": "cpu",
         "XLA_FLAGS": os.environ.get("XLA_FLAGS", "") +
         " --xla_force_host_platform_device_count=2"}
  script = tmp_path / "dp.py"
  script.write_text(_DATA_PARALLEL_SCRIPT)
  proc = subprocess.run([sys.executable, str(script), str(tmp_path),
                         os.path.join(REPO, "tests")], env=env, capture_output=True, text=True,
                        cwd=REPO, timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:]
  with open(tmp_path / "summary.json") as f:
    r = json.load(f)
  assert r["dp"]["num_devices"] == 2 and r["single"]["num_devices"] == 1
  assert r["dp_scan"]["num_devices"] == 2 and r["dp_scan"]["loop"] == "scan"
  for other in ("dp", "dp_scan"):
    assert r[other]["final"]["test"]["loss"] == pytest.approx(
        r["single"]["final"]["test"]["loss"], rel=1e-4)
    for a, b in zip(r[other]["params_leaves"], r["single"]["params_leaves"]):
      np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-5)
  assert "not divisible by the 2 devices" in r["odd_error"]


def test_cpu_devices_zero_means_one_per_core_dividing_the_batch():
  from cnnlab.train.runtime import choose_cpu_devices
  assert choose_cpu_devices(0, 100, cores=4) == (4, "one per core (4)")
  assert choose_cpu_devices(0, 98, cores=4)[0] == 2
  assert choose_cpu_devices(0, 7, cores=4)[0] == 1
  assert choose_cpu_devices(0, 2, cores=16)[0] == 2
  assert choose_cpu_devices(3, 100, cores=4) == (3, "requested")


TWO_CORES = sorted(os.sched_getaffinity(0))[:2]
needs_two_cores = pytest.mark.skipif(len(TWO_CORES) < 2 or not shutil.which("taskset"),
                                     reason="needs 2 cores and taskset")


def _main_on_cores(cfg, wd, cores, *extra):
  """``python -m cnnlab.main`` in a fresh process restricted to ``cores``."""
  env = {**os.environ, "PYTHONPATH": REPO, "JAX_PLATFORMS": "cpu"}
  # taskset, not a preexec_fn: forking this multithreaded (JAX) process can deadlock
  return subprocess.run(["taskset", "-c", ",".join(map(str, cores)), *_main(cfg, wd, env, *extra)],
                        env=env, cwd=REPO, capture_output=True, text=True)


@needs_two_cores
def test_main_splits_the_batch_over_host_devices_with_cpu_devices_0(tmp_path):
  cfg = str(tmp_path / "cfg.py")
  _write_config_file(cfg, num_epochs=1, cpu_devices=0)
  wd = str(tmp_path / "run")
  proc = _main_on_cores(cfg, wd, TWO_CORES)
  assert proc.returncode == 0, proc.stderr[-2000:]
  with open(os.path.join(wd, "result.json")) as f:
    r = json.load(f)
  assert r["num_devices"] == 2 and r["runtime"]["cpu_affinity"] == TWO_CORES
  assert r["runtime"]["cpu_devices"] == {"requested": 0, "chosen": 2, "why": "one per core (2)"}
  # A process whose JAX already started cannot apply it: the run says so, and what it uses.
  c = tiny_config(num_epochs=1)
  c.train.cpu_devices = 0
  logs = []
  r = train(c, str(tmp_path / "inproc"), log=logs.append)
  assert any("train.cpu_devices=0 is applied by cnnlab.main" in m for m in logs)
  assert r.num_devices == jax.local_device_count()


@needs_two_cores
def test_resuming_with_another_cpu_thread_count_says_the_rounding_changes(tmp_path):
  cfg = str(tmp_path / "cfg.py")
  _write_config_file(cfg, num_epochs=1, checkpoint_every_steps=4)
  wd = str(tmp_path / "run")
  assert _main_on_cores(cfg, wd, TWO_CORES, "--config.train.stop_after_steps=4").returncode == 0
  proc = _main_on_cores(cfg, wd, TWO_CORES[:1])
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert "checkpointed by 2 CPU threads, resumed with 1" in proc.stdout + proc.stderr


def test_main_applies_deterministic_flags_and_compilation_cache(tmp_path):
  cfg = str(tmp_path / "cfg.py")
  _write_config_file(cfg, num_epochs=1)
  env = {**os.environ, "PYTHONPATH": REPO, "JAX_PLATFORMS": "cpu"}
  cache = str(tmp_path / "xla_cache")
  wd = str(tmp_path / "run")
  proc = subprocess.run(_main(cfg, wd, env, "--config.deterministic=True",
                              f"--compilation_cache_dir={cache}"),
                        env=env, cwd=REPO, capture_output=True, text=True)
  assert proc.returncode == 0, proc.stderr[-2000:]
  with open(os.path.join(wd, "result.json")) as f:
    r = json.load(f)
  assert r["deterministic"] == {"requested": True, "xla_flags_applied": True}
  assert "--xla_gpu_deterministic_ops=true" in r["runtime"]["xla_flags"]
  assert r["runtime"]["compilation_cache_dir"] == cache and os.path.isdir(cache)
  # Plain log lines (no progress bar) when the output is not a terminal.
  assert "step 12/12" in proc.stdout and "\r" not in proc.stdout + proc.stderr
  # Without the flag, a run inside an already started process says it could not apply it.
  c = tiny_config(num_epochs=1)
  c.deterministic = True
  logs = []
  r = train(c, str(tmp_path / "inproc"), log=logs.append)
  flags_set = "--xla_gpu_deterministic_ops=true" in os.environ.get("XLA_FLAGS", "")
  assert r.deterministic["xla_flags_applied"] == flags_set
  assert flags_set or any("config.deterministic is set" in m for m in logs)


def test_progress_bar_draws_on_a_terminal_only():
  import io
  from cnnlab.train.progress import Progress

  class Tty(io.StringIO):
    def isatty(self):
      return True

  tty, plain = Tty(), io.StringIO()
  bar = Progress(100, start=20, stream=tty)
  logged = []
  log = bar.wrap(logged.append)
  bar.update(60, loss=0.5, images_per_s=1234.0)
  bar._bar.refresh()
  assert "60/100" in tty.getvalue() and "loss=0.5000" in tty.getvalue()
  assert "1,234" in tty.getvalue()
  log("evaluated")
  assert logged == ["evaluated"]
  bar.close()
  quiet = Progress(100, start=0, stream=plain)
  quiet.update(50)
  quiet.close()
  assert plain.getvalue() == ""  # no bar off a terminal: the log lines carry the ETA
  assert quiet.suffix().startswith("elapsed 00:00 ETA ")


def one_model_per_family():
  """One registered model per model family (module)."""
  from cnnlab.models import MODELS
  seen = {}
  for name in MODELS.names():
    seen.setdefault(MODELS.get(name).cls.__module__, name)
  return sorted(seen.values())


@pytest.mark.parametrize("name", one_model_per_family())
def test_every_model_family_trains_end_to_end_on_tiny_data(name, tmp_path):
  from cnnlab.models import MODELS
  from cnnlab.config import model_config
  spec = MODELS.get(name)
  shape = spec.test_input_shape or spec.input_shape
  c = base_config(name)
  c.model = model_config(name, **spec.test_kwargs)
  c.data.name = "synthetic"
  c.data.options = {"shape": shape, "num_train": 8, "num_test": 6, "num_classes": 3}
  c.train.update({"batch_size": 4, "num_epochs": 1, "eval_batch_size": 4,
                  "log_every_steps": 1, "checkpoint_every_steps": 0})
  r = train(c, str(tmp_path / name), log=lambda *_: None)
  assert r.status == "done" and r.step == 2
  assert np.isfinite(r.value("test_loss")) and r.value("test_accuracy") >= 0


def test_finetuning_starts_from_a_training_runs_checkpoint(tmp_path):
  import optax
  from cnnlab.models import create_model, finetune
  wd = str(tmp_path / "run")
  train(tiny_config(num_epochs=1, ema_decay=0.5), wd, log=lambda *_: None)
  variables = finetune.load_run_variables(wd)
  ema = finetune.load_run_variables(wd, use_ema=True)
  _, saved = _params(wd)
  np.testing.assert_array_equal(_leaves(variables["params"])[0], _leaves(saved["params"])[0])
  assert any((a != b).any() for a, b in zip(_leaves(ema["params"]), _leaves(variables["params"])))
  model = create_model("fashionnet", (8, 8, 1), num_classes=10, width=0.25, pool="stochastic")
  model, new = finetune.replace_head(model, variables, num_classes=3, input_shape=(8, 8, 1))
  assert new["params"]["head"]["dense"]["kernel"].shape[-1] == 3
  tx = finetune.finetune_optimizer(optax.adam(1e-3), new["params"], freeze_features=True)
  assert tx.init(new["params"]) is not None


def test_label_smoothing_loss_matches_its_closed_form():
  import optax
  from cnnlab.models import create_model
  from cnnlab.train.steps import StepSpec, create_state, make_steps
  model = create_model("conv1d_base", (40, 1), num_classes=10)
  tx = optax.sgd(0.0)
  step, _ = make_steps(model, tx, StepSpec((0.0,), (1.0,), num_classes=10,
                                           label_smoothing=0.2))
  state = create_state(model, tx, jax.random.PRNGKey(1), (40, 1))
  rng = np.random.default_rng(1)
  x = rng.normal(size=(6, 40, 1)).astype(np.float32)
  y = rng.integers(0, 10, 6)
  logits = np.asarray(model.apply({"params": state.params}, x, train=True), np.float64)
  logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
  targets = np.full((6, 10), 0.2 / 10)
  targets[np.arange(6), y] += 0.8
  expected = -(targets * logp).sum(-1).mean()
  _, metrics = step(state, {"image": x, "label": y})
  assert float(metrics["loss"]) == pytest.approx(expected, rel=1e-5)


def test_default_workdir_names_the_config_and_its_argument():
  from cnnlab.main import default_workdir
  assert default_workdir("configs/tasks.py:regression", base_config()) == "runs/tasks_regression"
  assert default_workdir("configs/fashionnet.py", base_config("fashionnet")) == "runs/fashionnet"
  assert default_workdir("configs/mnist1d.py", base_config("conv1d_base")) == \
      "runs/mnist1d_conv1d_base"


def test_a_target_metric_stops_the_run_where_it_is_reached_and_a_rerun_keeps_it(tmp_path):
  c = tiny_config(eval_train_set=True, target_metric="train_set.accuracy", target_value=0.0,
                  num_epochs=4)
  r = train(c, str(tmp_path / "a"), log=lambda *_: None)
  assert r.status == "done" and r.step == 6  # 96 / 16: met at the first evaluation
  assert r.target.reached_at_step == 6 and r.target.reached_at_epoch == 1.0
  assert 0 < r.target.train_time_s <= r.train_time_s
  again = train(c, str(tmp_path / "a"), log=lambda *_: None)
  assert again.step == 6 and again.target == r.target  # not trained further
  c.train.target_value = 1.01  # never met: the run goes to the end, unmet is recorded
  r = train(c, str(tmp_path / "b"), log=lambda *_: None)
  assert r.step == 24 and r.target.reached_at_step is None
  c.train.target_metric = "test.acc"
  with pytest.raises(ConfigError, match="'test.acc' is not evaluated; evaluated: .*test.accuracy"):
    train(c, str(tmp_path / "c"), log=lambda *_: None)


def test_runs_side_by_side_each_record_when_they_reach_the_target(tmp_path):
  c = tiny_config(num_replicas=2, target_metric="test.loss", target_value=1e9)
  runs = train_side_by_side(c, str(tmp_path / "a"))
  assert [(r.step, r.target.reached_at_step) for r, _ in runs] == [(6, 6), (6, 6)]


def test_train_epoch_metrics_average_the_epochs_batches_and_can_be_a_target(tmp_path):
  c = tiny_config(num_epochs=2, log_every_steps=1)
  train(c, str(tmp_path / "a"), log=lambda *_: None)
  rows = read_metrics(str(tmp_path / "a"))
  per_step = [m["accuracy"] for m in rows if m["split"] == "train"]
  epochs = [m for m in rows if m["split"] == "train_epoch"]
  assert [m["step"] for m in epochs] == [6, 12]
  np.testing.assert_allclose([m["accuracy"] for m in epochs],
                             [np.mean(per_step[:6]), np.mean(per_step[6:])], rtol=1e-6)
  c.train.update(target_metric="train_epoch.loss", target_value=1e9)
  r = train(c, str(tmp_path / "b"), log=lambda *_: None)
  assert r.step == 6 and r.target.reached_at_epoch == 1.0


@pytest.mark.parametrize("replicas", [0, 2])
def test_best_records_the_test_metric_at_the_best_validation_step(tmp_path, replicas):
  c = tiny_config(num_epochs=3, num_replicas=replicas)
  c.data.validation_size = 32
  runs = train_side_by_side(c, str(tmp_path / "a")) if replicas else \
      [(train(c, str(tmp_path / "a"), log=lambda *_: None), str(tmp_path / "a"))]
  for r, wd in runs:
    test_at = {m["step"]: m for m in read_metrics(wd) if m["split"] == "test"}
    at = r.best["test_at_best_validation"].point
    assert at.step == r.best["validation"].point.step
    assert at.value == test_at[at.step]["accuracy"]


@pytest.mark.parametrize("values,optimizer", [
    ({"seed": (0, 1, 0, 1), "optim": {"lr": (1e-3, 1e-3, 3e-3, 3e-3)}}, "adamw"),
    ({"seed": (2, 2), "train": {"label_smoothing": (0.0, 0.2), "ema_decay": (0.5, 0.9)},
      "optim": {"weight_decay": (0.0, 1e-2)}}, "adamw"),
    # SGD's weight decay is a term its optimizer adds: the first run's 0 must not leave it
    # out for the others (it did: their decay was silently dropped)
    ({"seed": (0, 0), "optim": {"weight_decay": (0.0, 1.0)}}, "sgd"),
], ids=["lr_x_seed", "smoothing_ema_decay", "sgd_weight_decay_after_none"])
def test_packed_hyperparameters_equal_separate_runs(tmp_path, values, optimizer):
  """Replicas with their own learning rate (or smoothing, EMA decay, weight decay) and seed
  compute what the separate runs compute (the tolerance used for packed seeds)."""
  from cnnlab.config.base import replica_values
  c = tiny_config(num_replicas=len(values["seed"]), num_epochs=1)
  c.optim.name = optimizer
  c.train.replica_values = values
  packed = train_side_by_side(c, str(tmp_path / "packed"))
  assert [r.seed for r, _ in packed] == list(values["seed"])
  flat = replica_values(c.train)
  for i in range(len(values["seed"])):
    one = tiny_config(num_epochs=1)
    one.optim.name = optimizer
    one.seed = flat["seed"][i]
    for path, v in flat.items():
      section, _, name = path.partition(".")
      if name:
        one[section][name] = v[i]
    single = train(one, str(tmp_path / f"single{i}"), log=lambda *_: None)
    _, params = _params(str(tmp_path / f"single{i}"))
    result, wd = packed[i]
    assert json.load(open(os.path.join(wd, "config.json"))) == json.load(
        open(os.path.join(tmp_path, f"single{i}", "config.json")))  # its own config
    for a, b in zip(_leaves(params["params"]), _leaves(_params(wd)[1]["params"])):
      np.testing.assert_allclose(b, a, rtol=2e-4, atol=2e-5)
    for split in single.final:
      assert result.value(f"final.{split}.loss") == pytest.approx(
          single.value(f"final.{split}.loss"), rel=1e-4), split
    # each run logs its own learning rate
    lrs = [(x["step"], x["lr"]) for x in read_metrics(wd) if x["split"] == "train"]
    assert lrs == [(x["step"], x["lr"]) for x in read_metrics(str(tmp_path / f"single{i}"))
                   if x["split"] == "train"]


def test_a_padded_training_split_trains_identically_and_shares_one_program(tmp_path):
  """train.pad_train_to: the same parameters and metrics as without padding (the padded
  rows are never drawn, the train-set evaluation counts the real examples only), and two
  training sizes padded alike lower to one program; unpadded, they differ."""
  from cnnlab.train.run import Run
  plain = tiny_config(eval_train_set=True, checkpoint_every_steps=0, shuffle=True)
  padded = tiny_config(eval_train_set=True, checkpoint_every_steps=0, shuffle=True,
                       pad_train_to=160)
  r1 = train(plain, str(tmp_path / "plain"), log=lambda *_: None)
  r2 = train(padded, str(tmp_path / "padded"), log=lambda *_: None)
  _assert_same_state(_params(str(tmp_path / "plain"))[1], _params(str(tmp_path / "padded"))[1])
  assert r1.value("final.train_set.accuracy") == r2.value("final.train_set.accuracy")
  assert r1.value("final.test.loss") == r2.value("final.test.loss")

  def program(config, n):
    run = Run.build(_sized(config, n), log=lambda *_: None)
    state = run.init_state()
    order, steps = run.epoch_order(next(iter(run.chunks(0))))
    split = run.feeds["train"].split
    return run.train_loop.fn.lower(state, split.images, split.labels, order, steps,
                                   length=1).as_text()

  assert program(padded, 96) == program(padded, 144)
  assert program(plain, 96) != program(plain, 144)
  with pytest.raises(ConfigError, match="pad_train_to: 160 is fewer rows than the training "
                                        "split's 200 examples"):
    train(_sized(tiny_config(pad_train_to=160), 200), str(tmp_path / "x"), log=lambda *_: None)


def _sized(config, n):
  config.data.options = {**config.data.options, "num_train": n}
  return config


def test_config_json_is_replaced_whole_never_left_half_written(tmp_path, monkeypatch):
  """A write of ``config.json`` that dies half-way (a kill; on a multi-host relaunch the
  other processes read it meanwhile) leaves the previous file, still valid JSON."""
  from cnnlab.train import workdir
  c = tiny_config()
  workdir.open_workdir(str(tmp_path), c, has_checkpoints=False)
  with open(tmp_path / "config.json") as f:
    before = json.load(f)

  def dies_half_way(obj, f, **kw):
    f.write(json.dumps(obj, **kw)[:20])
    raise KeyboardInterrupt
  monkeypatch.setattr(workdir.json, "dump", dies_half_way)
  with pytest.raises(KeyboardInterrupt):
    workdir.open_workdir(str(tmp_path), c, has_checkpoints=True)
  with open(tmp_path / "config.json") as f:
    assert json.load(f) == before


def test_a_run_that_diverges_beside_others_is_recorded_and_the_others_train_on(tmp_path):
  c = tiny_config(num_replicas=2, num_epochs=2)
  c.train.replica_values = {"seed": (0, 0), "optim": {"lr": (0.01, 1e30)}}
  logs = []
  names = run_names(c)
  results = train_together(runs_of(c), [str(tmp_path / n) for n in names], log=logs.append)
  (ok, bad) = results
  assert ok.status == "done" and ok.step == 12
  assert bad.status == "diverged" and 0 < bad.diverged_at_step <= 12
  assert load_result(str(tmp_path / names[1])).status == "diverged"
  assert any("the others train on" in m for m in logs)
  # the run that trained on equals the same run trained alone
  alone = tiny_config(num_epochs=2)
  alone.optim.lr = 0.01
  single = train(alone, str(tmp_path / "alone"), log=lambda *_: None)
  assert ok.value("final.test.loss") == pytest.approx(single.value("final.test.loss"), rel=1e-4)
  with pytest.raises(Diverged, match="recorded as diverged"):
    bad_alone = tiny_config(num_epochs=2)
    bad_alone.optim.lr = 1e30
    train(bad_alone, str(tmp_path / "bad_alone"), log=lambda *_: None)


def test_runs_packed_by_learning_rate_resume_alone_and_in_company(tmp_path):
  """A run's checkpoints hold its state as a run alone holds it (a packed learning rate
  and weight decay live in the program's optimizer state, not in them): stopped side by
  side and resumed alone, or stopped alone and resumed side by side, it ends where it
  ends uninterrupted (the tolerance of runs side by side against separate ones)."""
  c = tiny_config(num_replicas=2, num_epochs=1, stop_after_steps=3)
  c.optim.name = "adamw"
  c.train.replica_values = {"seed": (0, 0), "optim": {"lr": (1e-3, 3e-3),
                                                      "weight_decay": (0.0, 1e-2)}}
  runs = runs_of(c)
  side = [str(tmp_path / "side" / n) for n in ("a", "b")]
  assert [r.status for r in train_together(runs, side, log=lambda *_: None)] == \
      ["preempted"] * 2
  for r in runs:
    r.train.stop_after_steps = 0
  alone = train(runs[1], side[1], log=lambda *_: None)  # resumed alone
  assert alone.resumed_from == 3 and alone.status == "done"
  apart = [str(tmp_path / "apart" / n) for n in ("a", "b")]
  for r, d in zip(runs, apart):  # started alone, then resumed side by side
    stopped = copy.deepcopy(r)
    stopped.train.stop_after_steps = 3
    assert train(stopped, d, log=lambda *_: None).status == "preempted"
  together = train_together(runs, apart, log=lambda *_: None)
  assert [r.resumed_from for r in together] == [3, 3]
  for i, r in enumerate(runs):
    ref = str(tmp_path / "ref" / str(i))
    train(r, ref, log=lambda *_: None)
    for d in ([side[1]] if i else []) + [apart[i]]:
      for a, b in zip(_leaves(_params(ref)[1]["params"]), _leaves(_params(d)[1]["params"])):
        np.testing.assert_allclose(b, a, rtol=2e-4, atol=2e-5)
