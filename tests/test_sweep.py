"""Sweeps: spec expansion, the resumable runner, concurrent runners, the index, reports."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from cnnlab.report import render, tables
from cnnlab.sweep import expand, fixed, product, run_id, seeds, sweep, zip
from cnnlab.sweep import planning, runner
from cnnlab.sweep.definition import SweepSpec
from cnnlab.sweep.index import Index
from cnnlab.train import ConfigError, base_config
from cnnlab.train.checkpoint import latest_step

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
Spec = SweepSpec.from_args  # a sweep from its config file (and packed axes)

TINY = '''
from cnnlab.sweep import product, seeds, sweep
from cnnlab.config import base_config

def get_config():
  c = base_config("fashionnet")
  c.model.width = 0.25
  c.data.name = "synthetic"
  c.data.options = {{"shape": (8, 8, 1), "num_train": 64, "num_test": 16}}
  c.train.batch_size = 16
  c.train.num_epochs = {epochs}
  c.train.eval_batch_size = 16
  c.train.log_every_steps = 4
  c.train.checkpoint_every_steps = {checkpoint_every}
  return c

def get_sweep():
  return {sweep}
'''


def _config(tmp_path, sweep_expr, epochs=2, name="tiny.py", checkpoint_every=2):
  """A sweep of TINY runs (4 steps an epoch). Each checkpoint costs ~0.1 s (orbax): tests
  that train many epochs save every few epochs, not every 2 steps."""
  path = tmp_path / name
  path.write_text(TINY.format(sweep=sweep_expr, epochs=epochs,
                             checkpoint_every=checkpoint_every))
  return str(path)


def _env():
  return {**os.environ, "PYTHONPATH": REPO, "JAX_PLATFORMS": "cpu"}


def _runner(config, sweep_dir, *extra):
  return [sys.executable, "-m", "cnnlab.sweep", f"--config={config}", f"--sweep_dir={sweep_dir}",
          *extra]


def _statuses(sweep_dir):
  index = Index(os.path.join(sweep_dir, "index.sqlite"))
  out = {r["run_id"]: r["status"] for r in index.rows()}
  index.close()
  return out


def _starts(sweep_dir):
  """How many times each run was started, over all worker logs."""
  counts = {}
  logs = os.path.join(sweep_dir, "logs")
  for name in os.listdir(logs):
    with open(os.path.join(logs, name)) as f:
      for line in f:
        if line.rstrip().endswith("] start"):
          rid = line[1:line.index("]")]
          counts[rid] = counts.get(rid, 0) + 1
  return counts


# -- spec --------------------------------------------------------------------


def test_product_zip_seeds_and_fixed_expand_as_big_vision_does():
  grid = product(sweep("model.pool", ["max", "avg"]), sweep("model.act", ["relu", "tanh"]))
  assert grid == [{"model.pool": "max", "model.act": "relu"},
                  {"model.pool": "max", "model.act": "tanh"},
                  {"model.pool": "avg", "model.act": "relu"},
                  {"model.pool": "avg", "model.act": "tanh"}]
  paired = zip(sweep("optim.lr", [0.1, 0.01]), sweep("train.num_epochs", [5, 10]))
  assert paired == [{"optim.lr": 0.1, "train.num_epochs": 5},
                    {"optim.lr": 0.01, "train.num_epochs": 10}]
  assert seeds(3, start=2) == [{"seed": 2}, {"seed": 3}, {"seed": 4}]
  full = product(paired, fixed("model.pool", "avg"), seeds(2))
  assert len(full) == 4 and all(p["model.pool"] == "avg" for p in full)
  with pytest.raises(ValueError, match="different lengths"):
    zip(sweep("seed", [1, 2]), sweep("optim.lr", [0.1]))
  with pytest.raises(ValueError, match="sets 'seed' twice"):
    product(seeds(2), fixed("seed", 7))


def test_run_ids_are_readable_stable_and_unique():
  a = run_id({"model.pool": "l2_sum", "model.act": "relu", "seed": 0})
  assert a.startswith("pool-l2_sum_act-relu_seed-0-") and len(a.rsplit("-", 1)[1]) == 8
  assert a == run_id({"model.pool": "l2_sum", "model.act": "relu", "seed": 0})
  # Values that slug alike still get distinct ids (the hash covers the exact values).
  assert run_id({"optim.lr": 0.1}) != run_id({"optim.lr": "0.1"})
  runs = expand(base_config(), product(sweep("model.pool", ["max", "avg"]), seeds(2)))
  assert len({r.run_id for r in runs}) == 4
  assert runs[1].config.model.pool == "max" and runs[1].config.seed == 1
  with pytest.raises(ValueError, match="same point twice"):
    expand(base_config(), seeds(1) + seeds(1))


def test_sweeping_the_model_name_swaps_the_model_section():
  runs = expand(base_config("conv1d_base"),
                product(sweep("model.name", ["mlp1d", "conv1d_pool"]), fixed("model.act", "tanh")))
  assert runs[0].config.model.name == "mlp1d" and "hidden" in runs[0].config.model
  assert "channels" not in runs[0].config.model and runs[0].config.model.act == "tanh"
  assert runs[1].config.model.pool == "max"
  with pytest.raises(ConfigError, match="unknown model 'mlp2d'"):
    expand(base_config(), sweep("model.name", ["mlp2d"]))


def test_bad_sweep_points_fail_before_anything_runs():
  with pytest.raises(ConfigError, match="no field 'pooll'"):
    expand(base_config(), sweep("model.pooll", ["max"]))
  with pytest.raises(ConfigError, match="sweep point .*optim.lr: must be > 0"):
    expand(base_config(), sweep("optim.lr", [0.1, -1.0]))


# -- runner ------------------------------------------------------------------


def test_small_sweep_runs_once_records_results_and_a_rerun_does_nothing(tmp_path):
  config = _config(tmp_path, 'product(sweep("model.pool", ["max", "stochastic"]), '
                             'sweep("model.act", ["relu", "tanh"]), '
                             'sweep("optim.lr", [1e-3, 1e30]))',
                   epochs=1)
  out = str(tmp_path / "sweep")
  # stochastic pooling after tanh cannot run: refused before anything is launched, with
  # every such point named
  with pytest.raises(runner.InvalidPoints) as e:
    runner.launch(Spec(config), out, workers=2, log=lambda *_: None)
  assert len(e.value.lines) == 2 and not os.path.exists(out)
  assert all("pool-stochastic_act-tanh" in line and "needs non-negative inputs" in line
             for line in e.value.lines)
  # a run rejected only once its data is loaded (a batch larger than the training set) is
  # a result, as is divergence; the sweep goes on past both
  config = _config(tmp_path, 'product(sweep("model.pool", ["max", "stochastic"]), '
                             'sweep("train.batch_size", [16, 1000]), '
                             'sweep("optim.lr", [1e-3, 1e30]))',
                   epochs=1)
  counts = runner.launch(Spec(config), out, workers=2, log=lambda *_: None)
  assert counts == {"done": 2, "diverged": 2, "invalid": 4}
  stamps = {r: os.path.getmtime(os.path.join(out, "runs", r, "result.json"))
            for r, s in _statuses(out).items() if s != "invalid"}
  again = runner.launch(Spec(config), out, workers=2, log=lambda *_: None)
  assert again == counts
  assert stamps == {r: os.path.getmtime(os.path.join(out, "runs", r, "result.json"))
                    for r in stamps}
  assert set(_starts(out).values()) == {1}
  index = Index(os.path.join(out, "index.sqlite"))
  invalid = index.rows(status="invalid")
  assert {r["config"]["train"]["batch_size"] for r in invalid} == {1000}
  assert "exceeds the 64 training examples" in invalid[0]["error"]
  assert len(index.rows(**{"model.pool": "max", "optim.lr": 1e-3})) == 2  # query by field
  index.close()
  # The report counts diverged and invalid runs in their cells, the reasons as notes.
  t = tables.build(tables.collect(out), "model.pool", "optim.lr", "test_accuracy")
  assert t.text("max", 1e30) == "diverged (1), invalid (1) [2]"
  assert t.text("stochastic", 1e-3).endswith(" (1, n too small) [1 invalid] [3]")
  assert len(t.notes) == 4 and "exceeds the 64 training examples" in t.notes[0]


def test_worker_cpus_gives_each_local_worker_its_share_of_the_cores():
  assert runner.worker_cpus(2, 0, "share", cpus=[0, 1]) == [[0], [1]]
  assert runner.worker_cpus(2, 0, "share", cpus=[0, 1, 2, 3, 4]) == [[0, 1], [2, 3, 4]]
  assert runner.worker_cpus(1, 0, "share", cpus=[0, 1]) == [None]  # one worker: the machine
  assert runner.worker_cpus(3, 0, "share", cpus=[0, 1]) == [[0], [1], [0]]
  assert runner.worker_cpus(2, 1, "share", cpus=[0, 1]) == [None, None]  # an accelerator
  assert runner.worker_cpus(2, 0, "off", cpus=[0, 1]) == [None, None]
  assert runner.worker_cpus(2, 0) == [None, None]  # off by default
  with pytest.raises(ConfigError, match="valid: off, share"):
    runner.worker_cpus(2, 0, "yes")


MNIST1D_100_STEPS = '''
from cnnlab.sweep import seeds
from cnnlab.config import base_config

def get_config():
  c = base_config("conv1d_pool")
  c.data.name = "mnist1d"
  c.data.options = {"num_train": 1000, "num_test": 500}
  c.optim.lr = 1e-2
  c.train.num_epochs, c.train.num_steps, c.train.eval_every_steps = 0, 100, 50
  return c

def get_sweep():
  return seeds(2)
'''


def _alone(tmp_path, config, run_id, cores, name):
  """``run_id`` of the sweep ``config`` trained in a fresh process restricted to ``cores``."""
  script = (f"from cnnlab.sweep.definition import SweepSpec\n"
            f"from cnnlab.train import train\n"
            f"run = next(r for r in SweepSpec.from_args({config!r}).runs() "
            f"if r.run_id == {run_id!r})\n"
            f"train(run.config, {str(tmp_path / name)!r}, log=lambda *_: None)\n")
  # taskset, not a preexec_fn: forking this multithreaded (JAX) process can deadlock
  subprocess.run(["taskset", "-c", ",".join(map(str, cores)), sys.executable, "-c", script],
                 env=_env(), cwd=REPO, check=True)
  with open(tmp_path / name / "result.json") as f:
    return json.load(f)


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2 or not shutil.which("taskset"),
                    reason="needs 2 cores and taskset")
@pytest.mark.parametrize("pin", ["off", "share"])
def test_workers_compute_what_a_run_on_their_cores_computes(tmp_path, pin, monkeypatch):
  """Unpinned workers compute what an unpinned run computes; ``share``-pinned workers size
  XLA's thread pool to their core and compute what the same run computes in a process
  restricted to that core (``taskset -c k``), bit for bit."""
  # MNIST-1D's ConvPooling rounds differently on 1 and 2 threads within 100 steps (the tiny
  # synthetic nets do not; nor does the suite's optimisation level 0, so the workers get a
  # user's environment), so a worker with the wrong pool would fail the equalities.
  monkeypatch.delenv("XLA_FLAGS", raising=False)
  config = str(tmp_path / "mnist1d.py")
  with open(config, "w") as f:
    f.write(MNIST1D_100_STEPS)
  out = str(tmp_path / "sweep")
  assert runner.launch(Spec(config), out, workers=2, pin=pin, log=lambda *_: None) == {"done": 2}
  index = Index(os.path.join(out, "index.sqlite"))
  rows = index.rows()
  index.close()
  cores = sorted(os.sched_getaffinity(0))
  for r in rows:
    assert r["result"]["runtime"]["cpu_threads"] == (len(cores) if pin == "off" else 1)
    assert len(r["result"]["runtime"]["cpu_affinity"]) == r["result"]["runtime"]["cpu_threads"]
  alone = _alone(tmp_path, config, rows[0]["run_id"],
                 rows[0]["result"]["runtime"]["cpu_affinity"], pin)
  assert alone["runtime"]["cpu_threads"] == rows[0]["result"]["runtime"]["cpu_threads"]
  assert alone["final"] == rows[0]["result"]["final"]
  assert alone["best"] == rows[0]["result"]["best"]


def test_interrupted_sweep_resumes_and_completes_exactly_the_missing_runs(tmp_path):
  config = _config(tmp_path, 'product(sweep("model.pool", ["max", "avg"]), seeds(2))', epochs=12,
                   checkpoint_every=6)
  out = str(tmp_path / "sweep")
  proc = subprocess.Popen(_runner(config, out, "--workers=1"), env=_env(), cwd=REPO,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                          start_new_session=True)
  deadline = time.time() + 240
  while time.time() < deadline:
    time.sleep(0.05)
    if os.path.exists(os.path.join(out, "index.sqlite")) and \
        list(_statuses(out).values()).count("done") >= 1 and \
        any(latest_step(os.path.join(out, "runs", r, "checkpoints"))
            for r, s in _statuses(out).items() if s == "running"):
      break
  # Runner and worker die without any cleanup. (Workers run in their own sessions, so a
  # runner killed alone leaves them finishing their runs, which the index then records.)
  _kill_all_with(out, signal.SIGKILL)
  proc.wait()
  before = _statuses(out)
  finished = {r for r, s in before.items() if s == "done"}
  killed = {r for r, s in before.items() if s == "running"}
  assert finished and killed, before
  stamps = {r: os.path.getmtime(os.path.join(out, "runs", r, "result.json")) for r in finished}
  counts = runner.launch(Spec(config), out, workers=1, log=lambda *_: None)
  assert counts == {"done": 4}
  assert stamps == {r: os.path.getmtime(os.path.join(out, "runs", r, "result.json"))
                    for r in finished}  # finished runs were not run again
  starts = _starts(out)
  assert all(starts[r] == 1 for r in finished)
  for r in killed:  # the killed run resumed from its checkpoint rather than restarting
    with open(os.path.join(out, "runs", r, "result.json")) as f:
      assert json.load(f)["resumed_from"] is not None


def test_sigterm_stops_the_sweep_cleanly_and_a_relaunch_finishes_it(tmp_path):
  config = _config(tmp_path, 'seeds(3)', epochs=30, checkpoint_every=6)
  out = str(tmp_path / "sweep")
  proc = subprocess.Popen(_runner(config, out, "--workers=1"), env=_env(), cwd=REPO,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
  deadline = time.time() + 240
  while time.time() < deadline and not any(  # a run mid-way: running, with a checkpoint
      latest_step(os.path.join(out, "runs", r, "checkpoints"))
      for r, s in _statuses_or_empty(out).items() if s == "running"):
    time.sleep(0.05)
  proc.send_signal(signal.SIGTERM)
  text, _ = proc.communicate(timeout=120)
  assert proc.returncode == 1, text  # unfinished runs remain
  assert "preempted" in _statuses(out).values(), text
  assert runner.launch(Spec(config), out, workers=1, log=lambda *_: None) == {"done": 3}


def _kill_all_with(text, sig):
  """Signals every process whose command line mentions ``text`` (the sweep directory)."""
  for pid in os.listdir("/proc"):
    if not pid.isdigit():
      continue
    try:
      with open(f"/proc/{pid}/cmdline", "rb") as f:
        if text.encode() in f.read():
          os.kill(int(pid), sig)
    except OSError:
      pass


def _statuses_or_empty(out):
  return _statuses(out) if os.path.exists(os.path.join(out, "index.sqlite")) else {}


def test_two_concurrent_runners_share_a_sweep_without_losing_or_repeating_runs(tmp_path):
  config = _config(tmp_path, 'product(sweep("model.pool", ["max", "avg", "l2_sum"]), seeds(2))',
                   epochs=1)
  out = str(tmp_path / "sweep")
  procs = [subprocess.Popen(_runner(config, out, "--workers=1"), env=_env(), cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
           for _ in range(2)]
  for p in procs:
    text, _ = p.communicate(timeout=600)
    assert p.returncode == 0, text
  assert list(_statuses(out).values()) == ["done"] * 6
  starts = _starts(out)
  assert sorted(starts) == sorted(_statuses(out)) and set(starts.values()) == {1}


def test_a_runner_waits_for_a_run_held_elsewhere_and_takes_it_over_when_its_holder_dies(tmp_path):
  config = _config(tmp_path, 'sweep("model.pool", ["max", "avg"])', epochs=1)
  out = str(tmp_path / "sweep")
  index = runner.prepare(Spec(config), out)
  holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(4)"])
  held = index.claim(pid=holder.pid)  # another runner's worker, alive for a few seconds
  assert index.outstanding() == {"runnable": 1, "held": 1, "orphaned": 0}
  lines = []
  counts = runner.launch(Spec(config), out, workers=1, poll_s=0.2, log=lines.append)
  holder.wait()
  assert counts == {"done": 2}, lines
  assert _starts(out)[held] == 1  # ours ran it only once its holder was gone
  index.close()


def test_dry_run_lists_the_points(tmp_path):
  config = _config(tmp_path, 'product(sweep("model.pool", ["max", "avg"]), seeds(3))')
  proc = subprocess.run(_runner(config, str(tmp_path / "s"), "--dry_run"), env=_env(), cwd=REPO,
                        capture_output=True, text=True)
  last = proc.stdout.strip().splitlines()[-1]
  assert proc.returncode == 0 and last.startswith("6 runs; no time estimate"), proc.stdout
  assert "pool-avg_seed-2-" in proc.stdout and not os.path.exists(tmp_path / "s")


# -- reports -----------------------------------------------------------------


def _fake_run(root, run_id, pool, act, seed, status, acc=None):
  wd = os.path.join(root, "runs", run_id)
  os.makedirs(wd)
  with open(os.path.join(wd, "config.json"), "w") as f:
    json.dump({"seed": seed, "model": {"pool": pool, "act": act}}, f)
  result = {"status": status}
  if acc is not None:
    result["final"] = {"test_accuracy": acc}
    result["best"] = {"test": {"accuracy": acc + 0.01}}
  with open(os.path.join(wd, "result.json"), "w") as f:
    json.dump(result, f)


def test_a_finished_run_without_the_metric_has_no_value_and_is_not_unfinished(tmp_path):
  root = str(tmp_path)
  _fake_run(root, "a0", "max", "relu", 0, "done", 0.90)
  _fake_run(root, "a1", "max", "relu", 1, "done")  # finished, never measured it
  _fake_run(root, "a2", "max", "relu", 2, "preempted")
  t = tables.build(tables.collect(root), "model.pool", "model.act", "test_accuracy")
  assert t.text("max", "relu") == "90.0 (1, n too small) [1 unfinished, 1 no value]"


def test_report_of_fixed_result_files(tmp_path):
  root = str(tmp_path)
  _fake_run(root, "a0", "max", "relu", 0, "done", 0.90)
  _fake_run(root, "a1", "max", "relu", 1, "done", 0.92)
  _fake_run(root, "b0", "avg", "relu", 0, "done", 0.95)
  _fake_run(root, "b1", "avg", "relu", 1, "diverged")
  _fake_run(root, "c0", "max", "tanh", 0, "done", 0.80)
  _fake_run(root, "d0", "avg", "tanh", 0, "diverged")
  records = tables.collect(root)
  t = tables.build(records, "model.pool", "model.act", "test_accuracy",
                   published={"max": {"relu": 91.5}})
  assert render.markdown(t) == (
      "test_accuracy (%): mean [95% CI] over seeds (n) — Student t interval; none below 3 "
      "seeds; best per column in bold\n\n"
      "| model.pool \\ model.act | relu | tanh |\n"
      "|---|---|---|\n"
      "| max | 91.0 (2, n too small) · paper 91.5 | **80.0 (1, n too small)** |\n"
      "| avg | **95.0 (1, n too small) [1 diverged]** | diverged (1) |\n")
  tex = render.latex(t)
  assert "\\textbf{95.0 (1, n too small) [1 diverged]}" in tex and "model.pool / model.act" in tex
  rows = render.csv_text(t).splitlines()
  assert rows[0].startswith("model.pool,model.act,estimator,estimate,ci_low,ci_high,interval,n,"
                            "mean,std,diverged")
  assert rows[1] == "max,relu,mean,91,,,n too small,2,91,1.41421,0,0,0,0,91.5,n too small,92," \
      + "," * 9
  with_best = tables.build(records, "model.pool", "model.act", "test_accuracy", best_of_seeds=True)
  assert "| max | 91.0 (2, n too small), best 92.0 | **80.0 (1, n too small), best 80.0** |" in \
      render.markdown(with_best)
  as_error = tables.build(records, "model.pool", "model.act", "test_accuracy", as_error=True,
                          best_of_seeds=True)
  assert as_error.text("max", "relu") == "9.0 (2, n too small), best 8.0"  # the lowest error
  best = tables.build(records, "model.pool", "model.act", "best.test.accuracy")
  assert best.cells[("max", "relu")].mean == pytest.approx(0.92)


def test_report_reads_the_last_logged_value_of_a_split_of_an_old_multi_seed_run(tmp_path):
  root = str(tmp_path)
  _fake_run(root, "a0", "max", "relu", 0, "done", 0.90)
  _fake_run(root, "b0", "avg", "relu", 0, "done", 0.80)
  rows = {"a0": [{"step": 1, "split": "train_epoch", "accuracy": 0.5},
                 {"step": 1, "split": "test", "accuracy": 0.9},
                 {"step": 2, "split": "train_epoch", "accuracy": 0.75}],
          "b0": [{"step": 2, "split": "train_epoch", "accuracy": 0.6, "accuracy_r0": 0.6,
                  "accuracy_r1": 0.7}]}
  for rid, lines in rows.items():
    with open(os.path.join(root, "runs", rid, "metrics.jsonl"), "w") as f:
      f.writelines(json.dumps(line) + "\n" for line in lines)
  with open(os.path.join(root, "runs", "b0", "config.json"), "w") as f:  # (2 seeds in one
    # directory, as cnnlab wrote runs trained side by side before 2026-12-05)
    json.dump({"seed": 0, "model": {"pool": "avg", "act": "relu"},
               "train": {"num_replicas": 2}}, f)
  t = tables.build(tables.collect(root), "model.pool", "model.act", "last.train_epoch.accuracy")
  assert t.cells[("max", "relu")].values == [0.75]
  assert t.cells[("avg", "relu")].values == [0.6, 0.7]
  with pytest.raises(tables.ReportError, match="last.<split>.<metric>"):
    tables.build(tables.collect(root), "model.pool", "model.act", "last.validation.accuracy")


def test_report_counts_an_old_multi_seed_runs_ensemble_once(tmp_path):
  root = str(tmp_path)
  _fake_run(root, "p0", "max", "relu", 0, "done", 0.90)
  with open(os.path.join(root, "runs", "p0", "config.json"), "w") as f:  # 3 seeds, one dir
    json.dump({"seed": 0, "model": {"pool": "max", "act": "relu"},
               "train": {"num_replicas": 3}}, f)
  per = [{"seed": i, "test_accuracy": a} for i, a in enumerate((0.8, 0.81, 0.82))]
  with open(os.path.join(root, "runs", "p0", "result.json"), "w") as f:
    json.dump({"status": "done", "final": {"test_accuracy": 0.81, "per_replica": per,
                                           "test_ensemble_vote_accuracy": 0.85}}, f)
  with open(os.path.join(root, "runs", "p0", "metrics.jsonl"), "w") as f:
    f.write(json.dumps({"step": 9, "split": "test", "accuracy_r0": 0.8,
                        "ensemble_vote_accuracy": 0.85}) + "\n")
  records = tables.collect(root)
  assert len(records) == 3
  t = tables.build(records, "model.pool", "metric", "test_accuracy,"
                   "final.test_ensemble_vote_accuracy,last.test.ensemble_vote_accuracy")
  assert t.cells[("max", "test_accuracy")].values == [0.8, 0.81, 0.82]
  for metric in ("final.test_ensemble_vote_accuracy", "last.test.ensemble_vote_accuracy"):
    cell = t.cells[("max", metric)]
    assert cell.values == [0.85] and not cell.problems()


def test_report_command_writes_tables_and_plots(tmp_path):
  config = _config(tmp_path, 'product(sweep("model.width", [0.25, 0.5]), '
                             'sweep("model.pool", ["max", "avg"]))', epochs=1)
  out = str(tmp_path / "sweep")
  assert runner.launch(Spec(config), out, workers=1, log=lambda *_: None) == {"done": 4}
  proc = subprocess.run([sys.executable, "-m", "cnnlab.report", f"--sweep_dir={out}",
                         "--rows=model.width", "--cols=model.pool", "--plots"],
                        env=_env(), cwd=REPO, capture_output=True, text=True)
  assert proc.returncode == 0, proc.stderr
  assert "| model.width \\ model.pool | max | avg |" in proc.stdout
  for name in ("table.md", "table.tex", "table.csv", "heatmap.png", "curves.png",
               "metric_vs_width.png", "filters.png"):
    path = os.path.join(out, "report", name)
    assert os.path.getsize(path) > 0, name
  with open(os.path.join(out, "report", "heatmap.png"), "rb") as f:
    assert f.read(8) == b"\x89PNG\r\n\x1a\n"
  for name in ("heatmap", "curves", "metric_vs_width", "filters"):  # each for print too
    with open(os.path.join(out, "report", f"{name}.pdf"), "rb") as f:
      assert f.read(5) == b"%PDF-", name
  # the numeric axis as columns: the line plot is still against it, a line per row
  proc = subprocess.run([sys.executable, "-m", "cnnlab.report", f"--sweep_dir={out}",
                         "--rows=model.pool", "--cols=model.width", "--plots",
                         f"--out_dir={tmp_path / 'transposed'}"],
                        env=_env(), cwd=REPO, capture_output=True, text=True)
  assert proc.returncode == 0, proc.stderr
  assert os.path.getsize(tmp_path / "transposed" / "metric_vs_width.png") > 0


@pytest.mark.xdist_group("ray")  # one Ray instance at a time (tests/test_ray_cluster.py)
def test_ray_launcher_on_a_local_ray_instance_survives_a_killed_worker(tmp_path, monkeypatch):
  ray = pytest.importorskip("ray")
  import tempfile
  import threading
  from cnnlab.sweep import ray_launcher
  config = _config(tmp_path, 'product(sweep("model.pool", ["max", "avg"]), seeds(2))', epochs=10,
                   checkpoint_every=4)
  out = str(tmp_path / "sweep")
  monkeypatch.setenv("RAY_AUTH_MODE", "disabled")  # no token file under the home directory
  temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # Ray's files, removed below
  os.makedirs(os.path.join(temp, "ray"))
  monkeypatch.setenv("RAY_TMPDIR", temp)
  ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
           runtime_env={"env_vars": {"JAX_PLATFORMS": "cpu", "PYTHONPATH": REPO}})
  try:
    outcome = {}
    t = threading.Thread(target=lambda: outcome.update(
        ray_launcher.launch(Spec(config), out, num_cpus=1, log=lambda *_: None)))
    t.start()
    killed = None
    deadline = time.time() + 300
    while killed is None and time.time() < deadline and t.is_alive():
      time.sleep(0.05)
      for row in (Index(os.path.join(out, "index.sqlite")).rows(status="running")
                  if os.path.exists(os.path.join(out, "index.sqlite")) else []):
        if latest_step(os.path.join(out, "runs", row["run_id"], "checkpoints")):
          os.kill(row["pid"], signal.SIGKILL)  # the Ray worker process running this run
          killed = row["run_id"]
          break
    t.join(timeout=600)
    assert killed is not None, "no run was caught mid-way"
    assert outcome == {"done": 4}
    with open(os.path.join(out, "runs", killed, "result.json")) as f:
      assert json.load(f)["resumed_from"] is not None  # Ray's retry resumed the run
    # Relaunching a finished sweep submits nothing.
    assert ray_launcher.launch(Spec(config), out, log=lambda *_: None) == {"done": 4}
  finally:
    ray.shutdown()
    import shutil
    shutil.rmtree(temp, ignore_errors=True)


@pytest.mark.usefixtures("xla_default_emitters")
def test_seeds_trained_side_by_side_are_ordinary_runs_of_the_sweep(tmp_path):
  """--pack=seed trains each point's seeds as one program; the sweep's runs, their ids,
  configs, directories and reports are those of the sweep trained apart."""
  config = _config(tmp_path, 'product(sweep("model.pool", ["max", "avg"]), seeds(3))', epochs=1)
  spec = Spec(config, pack=("seed",))
  runs = spec.runs()
  groups = planning.pack(runs, ("seed",))
  assert [[next(r for r in runs if r.run_id == i).overrides for i in g] for g in groups] == [
      [{"model.pool": p, "seed": s} for s in (0, 1, 2)] for p in ("max", "avg")]
  assert planning.pack(runs, ()) == [[r.run_id] for r in runs]
  assert runner.describe(spec)[-1] == \
      "trained side by side by seed: 2 program(s) of 3 run(s)"
  packed, single = str(tmp_path / "packed"), str(tmp_path / "single")
  assert runner.launch(spec, packed, log=lambda *_: None) == {"done": 6}
  assert runner.launch(Spec(config), single, log=lambda *_: None) == {"done": 6}
  a, b = tables.collect(packed), tables.collect(single)
  assert sorted(r["run_id"] for r in a) == sorted(r["run_id"] for r in b)
  assert {r["result"].trained_with for r in a} == {3} and {r["result"].trained_with
                                                           for r in b} == {1}
  for r in a:
    assert json.load(open(os.path.join(r["workdir"], "config.json")))["seed"] == \
        r["config"]["seed"] == r["result"].seed
  ta = tables.build(a, "model.pool", "seed", "test_loss")
  tb = tables.build(b, "model.pool", "seed", "test_loss")
  assert ta.rows == tb.rows == ["max", "avg"] and ta.cols == tb.cols == [0, 1, 2]
  for key, cell in tb.cells.items():  # each run reports what its separate run does
    assert ta.cells[key].values == pytest.approx(cell.values, rel=1e-4)
  logs = []  # packing changes no run: relaunching without it is the same sweep
  assert runner.launch(Spec(config), packed, log=logs.append) == {"done": 6}
  assert any("no run changes" in m for m in logs)


@pytest.mark.usefixtures("xla_default_emitters")
def test_learning_rates_trained_side_by_side_are_runs_of_their_own(tmp_path):
  """2 learning rates × 2 seeds trained as one program: four ordinary runs, each with its
  lr and seed, equal to the sweep trained apart."""
  config = _config(tmp_path, 'product(sweep("optim.lr", [1e-3, 3e-3]), seeds(2))', epochs=1)
  packed, single = str(tmp_path / "packed"), str(tmp_path / "single")
  spec = SweepSpec.from_args(config, pack=("seed", "optim.lr"))
  assert len(spec.groups(spec.runs())) == 1
  assert runner.launch(spec, packed, log=lambda *_: None) == {"done": 4}
  assert runner.launch(Spec(config), single, log=lambda *_: None) == {"done": 4}
  index = Index(os.path.join(packed, "index.sqlite"))
  rows = index.rows(**{"optim.lr": 3e-3})
  assert sorted(r["config"]["seed"] for r in rows) == [0, 1] and len(index.rows()) == 4
  assert {r["result"]["trained_with"] for r in index.rows()} == {4}
  index.close()
  a = tables.build(tables.collect(packed), "optim.lr", "seed", "test_loss")
  b = tables.build(tables.collect(single), "optim.lr", "seed", "test_loss")
  assert a.rows == b.rows == [1e-3, 3e-3] and a.cols == b.cols == [0, 1]
  for key, cell in b.cells.items():
    assert a.cells[key].values == pytest.approx(cell.values, rel=1e-4)
  with pytest.raises(ConfigError, match="'model.pool' cannot be packed"):
    SweepSpec.from_args(config, pack=("model.pool",)).runs()


CRASHY = '''
import flax.linen as nn
from cnnlab.models.registry import MODELS, register_model
from cnnlab.sweep import seeds

class Crashy(nn.Module):
  num_classes: int = 10

  @nn.compact
  def __call__(self, x, train=False):
    raise RuntimeError("a bug in the model")

if "crashy" not in MODELS:
  register_model("crashy", Crashy, input_shape=(8, 8, 1), dataset="synthetic")

def get_config():
  from cnnlab.config import base_config
  c = base_config("fashionnet")
  c.model.name = "{model}"
  if "{model}" == "crashy":
    c.model = {{"name": "crashy", "num_classes": None}}
  c.data.name = "synthetic"
  c.data.options = {{"shape": (8, 8, 1), "num_train": 32, "num_test": 8}}
  c.train.batch_size = 16
  c.train.num_epochs = 1
  return c

def get_sweep():
  return seeds(2)
'''


@pytest.fixture
def _no_leftover_models():
  """Models a test's config file registers in this process are removed after it."""
  from cnnlab.models.registry import MODELS
  before = set(MODELS.names())
  yield
  for name in set(MODELS.names()) - before:
    MODELS.remove(name)


@pytest.mark.usefixtures("_no_leftover_models")
def test_a_crashing_run_is_retried_up_to_the_limit_and_then_left_failed(tmp_path):
  path = tmp_path / "crashy.py"
  path.write_text(CRASHY.format(model="crashy"))
  out = str(tmp_path / "sweep")
  assert runner.launch(Spec(str(path)), out, workers=1, max_attempts=2,
                       log=lambda *_: None) == {"failed": 2}
  assert set(_starts(out).values()) == {2}  # each run tried twice
  index = Index(os.path.join(out, "index.sqlite"))
  rows = index.rows()
  assert [r["failures"] for r in rows] == [2, 2]
  assert "RuntimeError: a bug in the model" in rows[0]["error"]
  index.close()
  # A relaunch with the same limit tries nothing more; a higher limit tries once more.
  assert runner.launch(Spec(str(path)), out, workers=1, max_attempts=2,
                       log=lambda *_: None) == {"failed": 2}
  assert set(_starts(out).values()) == {2}
  assert runner.launch(Spec(str(path)), out, workers=1, max_attempts=3,
                       log=lambda *_: None) == {"failed": 2}
  assert set(_starts(out).values()) == {3}


def test_report_axes_may_combine_config_fields(tmp_path):
  root = str(tmp_path)
  _fake_run(root, "a", "none", "relu", 0, "done", 0.5)
  _fake_run(root, "b", "none", "tanh", 0, "done", 0.7)
  t = tables.build(tables.collect(root), "seed", "model.pool,model.act", "test_accuracy")
  assert t.cols == ["none/relu", "none/tanh"] and t.text(0, "none/tanh") == "70.0 (1, n too small)"


def test_report_columns_may_be_metrics_and_accuracies_may_read_as_errors(tmp_path):
  root = str(tmp_path)
  _fake_run(root, "a0", "max", "relu", 0, "done", 0.90)
  _fake_run(root, "a1", "max", "relu", 1, "done", 0.80)
  _fake_run(root, "b0", "avg", "relu", 0, "done", 0.95)
  t = tables.build(tables.collect(root), "model.pool", "metric",
                   "test_accuracy,best.test.accuracy", as_error=True)
  assert t.cols == ["test_accuracy", "best.test.accuracy"] and t.lower_is_better
  assert t.text("max", "test_accuracy") == "15.0 (2, n too small)"  # errors 10 and 20
  assert t.cells[("max", "test_accuracy")].std == pytest.approx(0.0707, abs=1e-4)
  assert t.text("max", "best.test.accuracy") == "14.0 (2, n too small)"
  assert t.best() == {"test_accuracy": "avg", "best.test.accuracy": "avg"}
  assert render.markdown(t).startswith("error = 1 − (test_accuracy,best.test.accuracy) (%)")
  with pytest.raises(tables.ReportError, match="'train_accuracy' is in no finished run"):
    tables.build(tables.collect(root), "model.pool", "metric", "test_accuracy,train_accuracy")


def test_report_and_sweep_reject_what_the_runs_do_not_have(tmp_path):
  root = str(tmp_path)
  _fake_run(root, "a", "max", "relu", 0, "done", 0.5)
  records = tables.collect(root)
  with pytest.raises(tables.ReportError, match="axis 'model.pol' is not a config field of any "
                                               "run. Did you mean 'pool'.* Under 'model': "
                                               "act, pool"):
    tables.build(records, "model.pol", "model.act", "test_accuracy")
  with pytest.raises(tables.ReportError, match="metric 'test_acc' is in no finished run's "
                                               "result.json or metrics.jsonl. Did you mean "
                                               "'test_accuracy'.*final.test.accuracy"):
    tables.build(records, "model.pool", "model.act", "test_acc")
  proc = subprocess.run([sys.executable, "-m", "cnnlab.report", f"--sweep_dir={root}",
                         "--rows=model.pol", "--cols=model.act"], env=_env(), cwd=REPO,
                        capture_output=True, text=True)
  assert proc.returncode == 2 and "invalid report: axis 'model.pol'" in proc.stderr
  proc = subprocess.run(_runner(_config(tmp_path, "seeds(2)"), str(tmp_path / "s"),
                                "--workers=0"), env=_env(), cwd=REPO, capture_output=True,
                        text=True)
  assert proc.returncode == 2 and "flag --workers=0: 0 is not a positive integer" in proc.stderr


def test_command_line_overrides_apply_to_every_point_and_stay_with_the_sweep(tmp_path, capsys):
  from cnnlab.sweep import __main__ as sweep_cli
  config = _config(tmp_path, 'product(sweep("model.pool", ["max", "avg"]))', epochs=1)
  out = str(tmp_path / "sweep")
  argv = [f"--config={config}", f"--sweep_dir={out}", "--config.train.num_epochs=2",
          "--config.model.width=0.5"]
  assert sweep_cli.main(argv) == 0
  for row in Index(os.path.join(out, "index.sqlite")).rows():
    assert row["config"]["train"]["num_epochs"] == 2 and row["config"]["model"]["width"] == 0.5
    assert row["result"]["epochs"] == 2.0
  capsys.readouterr()
  assert sweep_cli.main(argv[:2] + ["--config.train.num_epochs=3"]) == 2
  err = capsys.readouterr().err
  assert "overrides: --config.train.num_epochs=2 --config.model.width=0.5 there, " \
         "--config.train.num_epochs=3 now" in err
  assert sweep_cli.main(argv + ["--dry_run"]) == 0  # the same again: 0 to run, an estimate
  assert "2 runs; 0 to run; about 0.0 min" in capsys.readouterr().out
  assert sweep_cli.main(argv[:2] + ["--config.model.pool=avg"]) == 2
  assert "sets a path the sweep varies" in capsys.readouterr().err


def test_a_users_file_of_ops_is_imported_by_the_sweep_workers(tmp_path):
  ops = tmp_path / "ops.py"
  ops.write_text("from cnnlab.ops.pooling import register_pool, avg_pool\n"
                 "register_pool('toy_half_avg', lambda x, window, strides=None, "
                 "padding='VALID': 0.5 * avg_pool(x, window, strides, padding))\n")
  config = _config(tmp_path, 'sweep("model.pool", ["toy_half_avg"])', epochs=1)
  out = str(tmp_path / "sweep")
  proc = subprocess.run(_runner(config, out, f"--imports={ops}"), env=_env(), cwd=REPO,
                        capture_output=True, text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert set(_statuses(out).values()) == {"done"}


def test_learning_curves_past_twelve_get_a_panel_per_column_in_table_order(tmp_path):
  from cnnlab.report import plots
  records = []
  for pool in ("max", "avg", "min", "lp"):
    for n in (1000, 2000, 5000, 10000):
      workdir = tmp_path / f"{pool}_{n}"
      workdir.mkdir()
      with open(workdir / "metrics.jsonl", "w") as f:
        for step in (10, 20):
          f.write(json.dumps({"step": step, "split": "test", "accuracy": step / n}) + "\n")
      records.append({"workdir": str(workdir), "status": "done",
                      "config": {"model": {"pool": pool}, "data": {"num_train": n}}})
  seen = {}
  real_subplots = plots._plt().subplots

  def spy(*args, **kwargs):
    fig, axes = real_subplots(*args, **kwargs)
    seen["axes"] = axes
    return fig, axes
  import matplotlib.pyplot as plt
  orig, plt.subplots = plt.subplots, spy
  try:
    path = plots.learning_curves(records, "model.pool", "data.num_train",
                                 str(tmp_path / "curves.png"),
                                 order=(["min", "max", "avg", "lp"], [1000, 2000, 5000, 10000]))
  finally:
    plt.subplots = orig
  assert path and open(path, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
  axes = seen["axes"]
  assert axes.shape == (2, 3) and not axes.flat[-1].get_visible()  # 16 curves: 4 panels
  assert [ax.get_title() for ax in axes.flat[:4]] == [  # (no label: the path's last part)
      f"num train = {n}" for n in (1000, 2000, 5000, 10000)]
  assert [line.get_label() for line in axes.flat[0].get_lines()] == ["min", "max", "avg", "lp"]


def test_a_row_missing_from_the_first_panel_is_still_in_the_legend(tmp_path):
  from cnnlab.report import plots
  import matplotlib.pyplot as plt
  records = []
  for pool in ("max", "avg", "min", "lp"):
    for n in (1000, 2000, 5000, 10000):
      if pool == "lp" and n == 1000:
        continue  # lp has no curve in the first panel
      workdir = tmp_path / f"{pool}_{n}"
      workdir.mkdir()
      with open(workdir / "metrics.jsonl", "w") as f:
        f.write(json.dumps({"step": 10, "split": "test", "accuracy": 0.5}) + "\n")
      records.append({"workdir": str(workdir), "status": "done",
                      "config": {"model": {"pool": pool}, "data": {"num_train": n}}})
  seen = {}
  real_legend = plt.Figure.legend

  def spy(fig, handles, labels, **kwargs):
    seen["labels"] = list(labels)
    return real_legend(fig, handles, labels, **kwargs)
  plt.Figure.legend = spy
  try:
    plots.learning_curves(records, "model.pool", "data.num_train", str(tmp_path / "c.png"),
                          order=(["max", "avg", "min", "lp"], [1000, 2000, 5000, 10000]))
  finally:
    plt.Figure.legend = real_legend
  assert seen["labels"] == ["max", "avg", "min", "lp"]
