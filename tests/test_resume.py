"""Kill anywhere, rerun, report the same: result.json and metrics.jsonl after a SIGKILL.

Each case trains a tiny run in a child process that SIGKILLs itself at a chosen point
(after a metric row, in the middle of an evaluation, right after an asynchronous
checkpoint save started, just before ``result.json``), reruns it in this process, and
compares with the same run uninterrupted: the result must be equal except for times
and ``resumed_from``, and ``metrics.jsonl`` must hold the same rows, none twice.
"""

import json
import os
import shutil
import subprocess
import sys

import pytest

from cnnlab.train import base_config, train, train_together
from cnnlab.train.together import run_names, runs_of
from cnnlab.train.metrics import read_metrics

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TESTS = os.path.dirname(os.path.abspath(__file__))
# One xdist worker runs the module: the uninterrupted references (≈ 19 s) are made once.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(300), pytest.mark.xdist_group("resume")]


def resume_config(case: str, target_value: float = 0.0):
  """A tiny run: 4 steps an epoch, evaluated every epoch, checkpointed every 6 steps
  (mid-epoch), validation carved out; ``case`` adds a target, or makes it two runs
  trained side by side ("together")."""
  c = base_config()
  c.model.name = "fashionnet"
  c.model.width = 0.25
  c.model.pool = "stochastic"  # per-step keys: a resumed run must draw the same ones
  c.data.name = "synthetic"
  c.data.options = {"shape": (8, 8, 1), "num_train": 96, "num_test": 30}
  c.data.validation_size = 32
  c.data.augment = ("translate",)
  c.data.max_shift = 1
  c.train.update(batch_size=16, num_epochs=6, eval_batch_size=64, log_every_steps=3,
                 checkpoint_every_steps=6, keep_checkpoints=3)
  if case == "together":
    c.train.update(num_replicas=2, ema_decay=0.5)
  if case == "target":
    c.train.update(target_metric="test.accuracy", target_value=target_value)
  return c


def run_case(case: str, workdir: str, target: float = 0.0):
  """``[(result, its directory)]``: one run, or the two runs trained together."""
  c = resume_config(case, target)
  if c.train.num_replicas > 1:
    dirs = [os.path.join(workdir, name) for name in run_names(c)]
    return list(zip(train_together(runs_of(c), dirs, log=lambda *_: None), dirs))
  return [(train(c, workdir, log=lambda *_: None), workdir)]


_CHILD = r"""
import os, signal, sys
sys.path.insert(0, sys.argv[1])
from test_resume import run_case
from cnnlab.train import checkpoint, evaluator, loop, metrics, result
case, target, workdir, kind, arg = sys.argv[2:7]
target = float(target)
die = lambda: os.kill(os.getpid(), signal.SIGKILL)
if kind in ("write", "evaluate"):  # checkpoints committed before going on: a kill after one
  save = checkpoint.Checkpointer.save
  def synchronous(self, step, state, record):
    save(self, step, state, record)
    self.wait()
  checkpoint.Checkpointer.save = synchronous
if kind == "write":            # right after the row of split `s` at step `k`
  s, k = arg.split(":")
  write = metrics.MetricWriter.write
  def patched(self, split, m):
    write(self, split, m)
    if split == s and m.step == int(k):
      die()
  metrics.MetricWriter.write = patched
elif kind == "evaluate":       # in the evaluation at step k, after its first split
  split_fn, seen = evaluator.Evaluator.split, []
  def patched(self, loop_, feed, state, step):
    if step == int(arg):
      seen.append(step)
      if len(seen) == 2:
        die()
    return split_fn(self, loop_, feed, state, step)
  evaluator.Evaluator.split = patched
elif kind == "save":           # right after the asynchronous save of step k started
  save = checkpoint.Checkpointer.save
  def patched(self, step, state, record):
    save(self, step, state, record)
    if step == int(arg):
      die()
  checkpoint.Checkpointer.save = patched
elif kind == "result":         # after the last checkpoint, before result.json
  result.Result.write = lambda self, workdir: die()
run_case(case, workdir, target)
sys.exit(3)  # not killed: the kill point was never reached
"""


def _killed_then_rerun(tmp_path, case, kind, arg, target=0.0):
  workdir = str(tmp_path / f"killed_{kind}")
  script = tmp_path / "child.py"
  script.write_text(_CHILD)
  env = {**os.environ, "PYTHONPATH": REPO, "JAX_PLATFORMS": "cpu"}
  proc = subprocess.run([sys.executable, str(script), TESTS, case, str(target), workdir, kind,
                         arg], env=env, cwd=REPO, capture_output=True, text=True, timeout=240)
  assert proc.returncode == -9, proc.stderr[-3000:]
  runs = run_case(case, workdir, target)
  assert any(r.resumed_from is not None for r, _ in runs) or kind == "save"
  return runs


def _assert_same_runs(references, resumed):
  assert len(references) == len(resumed)
  for (reference, ref_dir), (result, workdir) in zip(references, resumed):
    _assert_same_run(reference, ref_dir, result, workdir)


def _assert_same_run(reference, ref_dir, resumed, workdir):
  assert resumed.comparable() == reference.comparable()
  untimed = lambda rows: [{k: v for k, v in r.items() if k != "time"} for r in rows]  # noqa
  rows = read_metrics(workdir)
  keys = [(r["split"], r["step"]) for r in rows]
  assert len(keys) == len(set(keys)), "a (split, step) row was logged twice"
  assert untimed(rows) == untimed(read_metrics(ref_dir))
  with open(os.path.join(workdir, "result.json")) as f:
    assert json.load(f) == resumed.to_json()


@pytest.fixture(scope="module")
def references(tmp_path_factory):
  out = {}
  for case in ("plain", "together"):
    out[case] = run_case(case, str(tmp_path_factory.mktemp(f"ref_{case}")))
  return out


@pytest.mark.parametrize("case,kind,arg", [
    ("plain", "write", "test:16"),          # between an evaluation and the next checkpoint
    ("plain", "evaluate", "20"),            # during an evaluation, mid-epoch checkpoint 18
    ("plain", "save", "12"),                # while the checkpoint is being written
    ("plain", "result", ""),                # after the final checkpoint
    ("together", "write", "validation_ema:16"),  # (the first run's row: the second's is not
    ("together", "evaluate", "8"),               # written; both resume from one step)
])
def test_a_run_killed_anywhere_reports_what_an_uninterrupted_run_reports(
    tmp_path, references, case, kind, arg):
  resumed = _killed_then_rerun(tmp_path, case, kind, arg)
  for (reference, _), (result, _) in zip(references[case], resumed):
    if kind in ("write", "evaluate"):  # (a save killed before its commit leaves the previous)
      assert result.resumed_from is not None and result.resumed_from < reference.step
    if kind == "result":
      assert result.resumed_from == reference.step
  _assert_same_runs(references[case], resumed)


def test_a_target_hit_survives_a_kill(tmp_path, references):
  """A target first met at a step after the first checkpoint; killed after that
  evaluation's row, and again after the final checkpoint."""
  ref_dir = str(tmp_path / "ref")
  rows = [r for r in read_metrics(references["plain"][0][1]) if r["split"] == "test"]
  record = max(r["accuracy"] for r in rows if r["step"] < 8)
  hit = next((r for r in rows if r["step"] >= 8 and r["accuracy"] > record), None)
  if hit is None:
    pytest.skip("this seed's test accuracy never improves after the first checkpoint")
  reference = train(resume_config("target", hit["accuracy"]), ref_dir, log=lambda *_: None)
  assert reference.target.reached_at_step == hit["step"] and reference.step == hit["step"]
  for kind, arg in (("write", f"test:{hit['step']}"), ("result", "")):
    resumed = _killed_then_rerun(tmp_path, "target", kind, arg, hit["accuracy"])
    _assert_same_runs([(reference, ref_dir)], resumed)
    shutil.rmtree(resumed[0][1])


def _truncate_files(directory):
  for root, _, files in os.walk(directory):
    for f in files:
      path = os.path.join(root, f)
      with open(path, "r+b") as fh:
        fh.truncate(min(10, os.path.getsize(path)))


def test_an_unreadable_latest_checkpoint_falls_back_to_the_previous_one(tmp_path, references):
  reference, ref_dir = references["plain"][0]
  wd = str(tmp_path / "run")
  c = resume_config("plain")
  c.train.stop_after_steps = 14  # preempted at 14: checkpoints 6, 12 and 14
  assert train(c, wd, log=lambda *_: None).status == "preempted"
  _truncate_files(os.path.join(wd, "checkpoints", "14"))
  logs = []
  resumed = train(resume_config("plain"), wd, log=logs.append)
  warning = [m for m in logs if m.startswith("warning:")]
  assert len(warning) == 1 and "checkpoints/14 is unreadable" in warning[0]
  assert "falling back to the previous one" in warning[0] and "\n" not in warning[0]
  assert resumed.resumed_from == 12
  _assert_same_run(reference, ref_dir, resumed, wd)
  assert os.listdir(os.path.join(wd, "unreadable_checkpoints"))[0].startswith("14-")


def _config_file(tmp_path):
  cfg = tmp_path / "cfg.py"
  cfg.write_text(f"import sys\nsys.path.insert(0, {TESTS!r})\nfrom test_resume import "
                 f"resume_config\ndef get_config():\n  return resume_config('plain')\n")
  return cfg


def test_the_fallback_from_an_unreadable_checkpoint_prints_its_warning_and_nothing_else(
    tmp_path):
  wd = str(tmp_path / "run")
  c = resume_config("plain")
  c.train.stop_after_steps = 14  # checkpoints 6, 12 and 14
  train(c, wd, log=lambda *_: None)
  # The arrays' data files damaged, the metadata intact: the restore fails with reads of
  # other arrays still in flight (before the fix: 24 "Event loop is closed" tracebacks).
  data = os.path.join(wd, "checkpoints", "14", "state", "d")
  for f in os.listdir(data):
    with open(os.path.join(data, f), "w") as fh:
      fh.write("x")
  env = {**os.environ, "PYTHONPATH": REPO, "JAX_PLATFORMS": "cpu"}
  proc = subprocess.run([sys.executable, "-m", "cnnlab.main",
                         f"--config={_config_file(tmp_path)}",
                         f"--workdir={wd}", "--compilation_cache_dir="], env=env, cwd=REPO,
                        capture_output=True, text=True, timeout=240)
  out = proc.stdout + proc.stderr
  assert proc.returncode == 0, out[-3000:]
  assert "Traceback" not in out and "Event loop is closed" not in out, out[-3000:]
  warnings = [line for line in out.splitlines() if "warning" in line.lower()]
  assert len(warnings) == 1 and "checkpoints/14 is unreadable" in warnings[0], out[-3000:]


def test_no_readable_checkpoint_is_one_line_naming_the_directory(tmp_path):
  wd = str(tmp_path / "run")
  c = resume_config("plain")
  c.train.stop_after_steps = 7
  train(c, wd, log=lambda *_: None)
  for step in os.listdir(os.path.join(wd, "checkpoints")):
    _truncate_files(os.path.join(wd, "checkpoints", step))
  cfg = _config_file(tmp_path)
  env = {**os.environ, "PYTHONPATH": REPO, "JAX_PLATFORMS": "cpu"}
  proc = subprocess.run([sys.executable, "-m", "cnnlab.main", f"--config={cfg}",
                         f"--workdir={wd}"], env=env, cwd=REPO, capture_output=True, text=True,
                        timeout=240)
  assert proc.returncode == 2, proc.stderr[-2000:]
  err = [line for line in proc.stderr.splitlines() if line.strip()]
  assert "Traceback" not in proc.stderr
  assert err[-1].startswith("unreadable checkpoints: no checkpoint in ")
  assert f"{wd}/checkpoints can be read" in err[-1] and "remove that directory" in err[-1]
