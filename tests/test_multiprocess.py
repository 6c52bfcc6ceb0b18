"""Two real JAX processes on 127.0.0.1 (CPU collectives): one run over both.

The job started by ``python -m cnnlab.launch --num_processes=2`` must compute what one
process with two host devices computes (parameters and ``result.json``), with only
process 0 writing; killing both processes and relaunching must end equal to the
uninterrupted job; and a two-process checkpoint relaunched as one process resumes.
"""

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from cnnlab.train import checkpoint
from cnnlab.train.metrics import read_metrics
from cnnlab.train.result import load_result

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# One xdist worker runs the module: its jobs fixture (two multi-process jobs, ≈ 75 s) is
# made once, not once per worker that draws one of its tests.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600), pytest.mark.xdist_group("multiprocess")]

CONFIG = """
from cnnlab.config import base_config
def get_config():
  c = base_config("fashionnet")
  c.model.width = 0.25
  c.model.pool = "max"      # deterministic layers: the two forms must agree
  c.data.name = "synthetic"
  c.data.options = {"shape": (8, 8, 1), "num_train": 96, "num_test": 30}
  c.train.update(batch_size=16, num_steps=STEPS, eval_every_steps=24, log_every_steps=12,
                 checkpoint_every_steps=12, keep_checkpoints=3)
  return c
"""


def _env(*xla_flags):
  """The suite's environment (its fast-compile flags too) with one host device per
  process unless ``xla_flags`` ask for more."""
  flags = [f for f in os.environ.get("XLA_FLAGS", "").split() if "device_count" not in f]
  return {**os.environ, "PYTHONPATH": REPO, "JAX_PLATFORMS": "cpu",
          "XLA_FLAGS": " ".join(flags + list(xla_flags))}


def _cfg(tmp, steps):
  path = tmp / f"cfg{steps}.py"
  path.write_text(CONFIG.replace("STEPS", str(steps)))
  return str(path)


def _launch(cfg, workdir, processes=2, **popen):
  cmd = [sys.executable, "-m", "cnnlab.launch", f"--num_processes={processes}", "--",
         f"--config={cfg}", f"--workdir={workdir}", "--compilation_cache_dir="]
  return subprocess.Popen(cmd, env=_env(), cwd=REPO, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, **popen)


def _params(workdir):
  import jax
  return jax.tree_util.tree_leaves(checkpoint.load_raw(os.path.join(workdir, "checkpoints")))


def _same_run(a, b, rtol=0.0):
  ra, rb = load_result(a).comparable(), load_result(b).comparable()
  for r in (ra, rb):
    r.pop("runtime")  # process and device counts differ by design
    r.pop("git_dirty", None)  # (a commit made while the tests run is not the run's doing)
    r.pop("git_commit", None)
  assert ra == rb
  for x, y in zip(_params(a), _params(b)):
    np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=0.0)


@pytest.fixture(scope="module")
def jobs(tmp_path_factory):
  """The two-process job and the one-process two-device run of the same config."""
  tmp = tmp_path_factory.mktemp("mp")
  cfg = _cfg(tmp, 144)  # 12 epochs: long enough for a kill after 12 steps and a resume
  out = _launch(cfg, tmp / "two").communicate(timeout=400)[0]
  assert load_result(tmp / "two") is not None, _why(out)
  single = subprocess.run(
      [sys.executable, "-m", "cnnlab.main", f"--config={cfg}", f"--workdir={tmp / 'one'}",
       "--compilation_cache_dir="], cwd=REPO, capture_output=True, text=True, timeout=300,
      env=_env("--xla_force_host_platform_device_count=2"))
  assert single.returncode == 0, single.stderr[-3000:]
  return tmp, cfg


def test_two_processes_compute_what_one_process_with_two_devices_does(jobs):
  tmp, _ = jobs
  two = load_result(tmp / "two")
  assert two.num_devices == 2 and two.runtime["process_count"] == 2
  assert load_result(tmp / "one").runtime["process_count"] == 1
  _same_run(tmp / "two", tmp / "one")


def test_only_process_0_writes_the_run_files(jobs):
  tmp, _ = jobs
  rows = read_metrics(tmp / "two")
  keys = [(r["split"], r["step"]) for r in rows]
  assert len(keys) == len(set(keys)) and len(keys) == len(read_metrics(tmp / "one"))
  assert len(os.listdir(tmp / "two" / "tensorboard")) == 1
  with open(tmp / "two" / "config.json") as f:
    json.load(f)


def _why(out: str) -> str:
  """The launcher's output without the stack traces of a failed shutdown barrier (seen once
  under load, 2026-12-03: process 0 did not reach it within 300 s), so that what process 0
  printed before it fits in the assertion message."""
  lines = [x for x in out.splitlines() if not x.lstrip().startswith("@ ")]
  return "\n".join(lines)[-8000:]


def _kill_after_checkpoint(proc, workdir, step):
  deadline = time.time() + 300
  while time.time() < deadline and (checkpoint.latest_step(os.path.join(workdir, "checkpoints"))
                                    or 0) < step:
    time.sleep(0.05)
  # Both processes (and the launcher) die at once, as when a node is lost.
  subprocess.run(["pkill", "-9", "-f", "--", f"workdir={workdir}"], check=True)
  proc.kill()
  proc.communicate()


def test_both_processes_killed_then_relaunched_end_as_the_uninterrupted_job(jobs):
  tmp, cfg = jobs
  wd = tmp / "killed"
  _kill_after_checkpoint(_launch(cfg, wd), wd, 12)
  assert load_result(wd) is None
  out = _launch(cfg, wd).communicate(timeout=400)[0]
  assert load_result(wd) is not None, _why(out)
  assert load_result(wd).resumed_from is not None
  _same_run(wd, tmp / "two")


def test_a_two_process_checkpoint_resumes_as_one_process(jobs):
  tmp, cfg = jobs
  wd = tmp / "shrunk"
  _kill_after_checkpoint(_launch(cfg, wd), wd, 12)
  proc = subprocess.run([sys.executable, "-m", "cnnlab.main", f"--config={cfg}",
                         f"--workdir={wd}", "--compilation_cache_dir="], cwd=REPO,
                        capture_output=True, text=True, timeout=300, env=_env())
  assert proc.returncode == 0, proc.stderr[-3000:]
  r = load_result(wd)
  assert r.status == "done" and r.num_devices == 1 and r.resumed_from >= 12
  assert "checkpointed by 2 devices, resumed with 1" in proc.stdout + proc.stderr
  # The same maths on one device from there (rounding differs, and over hundreds of
  # steps trajectories drift apart as two machines' would): a finished, finite run.
  assert all(np.all(np.isfinite(np.asarray(x))) for x in _params(wd))
  assert np.isfinite(r.value("final.test.loss"))
