"""The search driver (cnnlab/search): Optuna asks, the lab's runner trains each trial's
seeds as ordinary runs, the driver tells; a search killed mid-round and relaunched ends
with the trials of an uninterrupted one; a trial that cannot run fails at once."""

import dataclasses
import json
import os

import pytest

from cnnlab.config import ConfigError, load
from cnnlab.search import __main__ as search_cli
from cnnlab.search import driver
from cnnlab.search import space as S
from cnnlab.sweep import runner
from cnnlab.sweep.index import Index
from test_cli import CONFIG

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def cfg(tmp_path_factory):
  path = tmp_path_factory.mktemp("search") / "cfg.py"
  path.write_text(CONFIG)
  return str(path)


def _search(cfg, sampler="tpe", **kw):
  base = load(cfg)
  space = dict([S.parse("optim.lr=log:1e-3:1e-1", base),
                S.parse("model.pool=choice:max,avg", base)])
  return driver.Search(cfg, space, sampler=sampler, trials=4, seeds=1, **kw)


@pytest.mark.parametrize("sampler", ["tpe", "sobol"])
def test_a_search_killed_mid_round_ends_with_the_trials_of_an_uninterrupted_one(
    cfg, tmp_path, sampler):
  whole = driver.run(_search(cfg, sampler), str(tmp_path / "whole"), workers=2, log=print)
  calls = []

  def killed_on_the_second_round(*args, **kwargs):
    calls.append(1)
    if len(calls) == 2:  # the second round's trials are asked, then the process dies
      raise KeyboardInterrupt
    return runner.launch(*args, **kwargs)
  part = str(tmp_path / "part")
  with pytest.raises(KeyboardInterrupt):
    driver.run(_search(cfg, sampler), part, workers=2, launch=killed_on_the_second_round)
  first = {r: os.path.getmtime(os.path.join(part, "runs", r, "result.json"))
           for r in os.listdir(os.path.join(part, "runs"))}
  again = driver.run(_search(cfg, sampler), part, workers=2)
  assert [(t["point"], t["value"], t["state"]) for t in again["trials"]] == \
      [(t["point"], t["value"], t["state"]) for t in whole["trials"]]
  assert all(t["state"] == "complete" for t in whole["trials"]) and len(whole["trials"]) == 4
  assert {r: os.path.getmtime(os.path.join(part, "runs", r, "result.json"))
          for r in first} == first  # no trial's run trained twice
  index = Index(os.path.join(part, "index.sqlite"), readonly=True)
  assert index.count() == 4 and index.count("done") == 4
  index.close()
  with pytest.raises(ConfigError, match="another sampler"):
    driver.run(_search(cfg, "random"), part)


def test_a_trial_that_cannot_run_fails_at_once_and_the_others_train(cfg, tmp_path, capsys):
  base = load(cfg)
  space = dict([S.parse("model.act=choice:tanh,relu", base),
                S.parse("optim.lr=log:1e-3:1e-1", base)])
  search = driver.Search(cfg, space, sampler="random", trials=4, seeds=2,
                         overrides=(("model.pool", "stochastic"),))
  out = driver.run(search, str(tmp_path / "s"), workers=2)
  assert {t["state"] for t in out["trials"]} <= {"complete", "fail"}
  for t in out["trials"]:  # stochastic pooling after tanh cannot run
    assert (t["state"] == "fail") == (t["point"]["model.act"] == "tanh"), t
  assert "needs non-negative inputs" in capsys.readouterr().out


def test_the_command_line_and_its_errors(cfg, tmp_path, capsys):
  out = str(tmp_path / "cli")
  argv = [f"--config={cfg}", "--space=optim.lr=log:1e-3:1e-1", "--sampler=random",
          "--trials=2", f"--sweep_dir={out}", "--config.train.num_steps=2"]
  assert search_cli.main(argv) == 0
  assert "best: trial" in capsys.readouterr().out
  assert os.path.exists(os.path.join(out, "search.json"))
  # a compute budget: once the runs have taken it, no new trial is asked
  spent = str(tmp_path / "budget")
  assert search_cli.main([*argv[:3], "--trials=5", f"--sweep_dir={spent}", argv[-1],
                          "--budget_s=0.001"]) == 0
  with open(os.path.join(spent, "search.json")) as f:
    assert len(json.load(f)["trials"]) == 1  # the first round (one worker), then spent
  bad_metric = [*argv[:3], f"--sweep_dir={tmp_path / 'metric'}", argv[-1],
                "--metric=best.test.acuracy"]
  assert search_cli.main(bad_metric) == 2  # after its first round: no trial told a failure
  assert "metric 'best.test.acuracy' is in no finished run" in capsys.readouterr().err
  for bad, says in ((["--space=optim.lr=logg:1:2"], "unknown kind 'logg'"),
                    (["--sampler=tpee"], "flag --sampler=tpee"), ([], "give the space")):
    assert search_cli.main([f"--config={cfg}", f"--sweep_dir={out}x", *bad]) == 2
    assert says in capsys.readouterr().err


PRUNED_CONFIG = CONFIG.replace("num_steps=4, eval_every_steps=4, log_every_steps=4,\n"
                               "                 checkpoint_every_steps=4",
                               "num_steps=24, eval_every_steps=6, log_every_steps=6,\n"
                               "                 checkpoint_every_steps=0")
HOPELESS = (1e-8, 1e-9)  # learning rates that leave the net where it started: at step 6
# the test loss is 2.57 there, 2.43 and 2.34 with 0.01 and 0.03 (Adam, the same init)


def _pruned_search(cfg_dir, trials=4, pruner="sha"):
  path = cfg_dir / "pruned.py"
  path.write_text(PRUNED_CONFIG)
  base = load(str(path))
  space = dict([S.parse("optim.lr=choice:0.01,0.03,1e-08,1e-09", base)])
  return driver.Search(str(path), space, sampler="random", trials=trials, seeds=1,
                       metric="final.test.loss", pruner=pruner, min_steps=6, reduction=2,
                       max_steps=24)


def assert_trials_ended_where_told(sweep, out):
  """A pruned trial's run stopped at its last rung (its result, partial curve and last
  checkpoint there; ``pruned at step k`` in the index); the others ran to the end."""
  index = Index(os.path.join(sweep, "index.sqlite"), readonly=True)
  rows = {r["run_id"]: r for r in index.rows()}
  index.close()
  for t in out["trials"]:
    (run_id,) = t["runs"]
    workdir = os.path.join(sweep, "runs", run_id)
    result = json.load(open(os.path.join(workdir, "result.json")))
    steps = [r["step"] for r in map(json.loads, open(os.path.join(workdir, "metrics.jsonl")))]
    saved = max(map(int, os.listdir(os.path.join(workdir, "checkpoints"))))
    if t["state"] == "pruned":  # stopped at its rung, its partial curve kept
      k = max(t["rungs"])
      assert rows[run_id]["status"] == "pruned" and rows[run_id]["error"] == f"pruned at step {k}"
      assert result["step"] == k == max(steps) == saved and result["status"] == "preempted"
    else:  # it went through every rung
      assert rows[run_id]["status"] == "done" and result["step"] == 24 == max(steps) == saved
      assert list(t["rungs"]) == [6, 12] and t["value"] == result["final"]["test"]["loss"]


def _enqueue(search, sweep_dir, points):
  """The trials the sampler will give, in this order (Optuna's queue)."""
  study = driver._study(search, sweep_dir, "minimize")
  for p in points:
    study.enqueue_trial(p)


POINTS = [{"optim.lr": 0.01}, {"optim.lr": 1e-9}, {"optim.lr": 1e-8}, {"optim.lr": 0.03}]


def test_successive_halving_stops_the_trials_that_cannot_win_at_their_rung(tmp_path):
  search = _pruned_search(tmp_path)
  sweep = str(tmp_path / "s")
  _enqueue(search, sweep, POINTS)
  logs = []
  out = driver.run(search, sweep, workers=4, log=logs.append)
  # Optuna's SHA (η = 2) at the first rung: the first trial there goes on; each later one
  # goes on if it is in the top half of the trials there so far. The two hopeless ones
  # are not; the last good one is (second of four); at step 12 it meets the first again.
  first, hopeless1, hopeless2, good = out["trials"]
  assert first["state"] == "complete" and list(first["rungs"]) == [6, 12]
  for t in (hopeless1, hopeless2):
    assert t["point"]["optim.lr"] in HOPELESS and t["state"] == "pruned"
    assert list(t["rungs"]) == [6], t
  assert list(good["rungs"]) == [6, 12] and good["state"] in ("complete", "pruned")

  assert_trials_ended_where_told(sweep, out)
  assert any("pruned at step 6" in m for m in logs) and any("on to step 12" in m for m in logs)
  from cnnlab.report import tables  # the report counts a pruned run as pruned, not unfinished
  t = tables.build(tables.collect(sweep), "optim.lr", "seed", "final.test.loss")
  assert t.cells[(1e-9, 0)].problems() == [("pruned", 1)] and t.cells[(0.01, 0)].values
  # a run trained through the rungs computes what it computes uninterrupted
  alone = str(tmp_path / "alone")
  _enqueue(dataclasses.replace(search, pruner="none", trials=1), alone, POINTS[:1])
  ref = driver.run(dataclasses.replace(search, pruner="none", trials=1), alone, workers=1)
  assert ref["trials"][0]["value"] == out["trials"][0]["value"]


def test_a_pruned_search_killed_at_a_rung_ends_with_the_trials_of_an_uninterrupted_one(
    tmp_path):
  search = _pruned_search(tmp_path)
  whole_dir, part = str(tmp_path / "whole"), str(tmp_path / "part")
  _enqueue(search, whole_dir, POINTS)
  whole = driver.run(search, whole_dir, workers=2)
  calls = []

  def killed_twice(*args, **kwargs):
    calls.append(1)
    if len(calls) == 3:  # the relaunch's second rung: the driver dies
      raise KeyboardInterrupt
    counts = runner.launch(*args, **kwargs)
    if len(calls) == 1:  # the workers killed after the first rung's checkpoints, before
      index = Index(os.path.join(part, "index.sqlite"))  # their results and records
      for row in index.rows(status="paused"):
        index.finish(row["run_id"], "preempted")
        os.remove(os.path.join(part, "runs", row["run_id"], "result.json"))
      index.close()
    return counts
  _enqueue(search, part, POINTS)
  stopped = driver.run(search, part, workers=2, launch=killed_twice)
  assert {t["state"] for t in stopped["trials"]} == {"running"}
  # claimed again, the runs resume at their rung and stop there (they trained on to the
  # end before, and their trials skipped the rung's decision)
  with pytest.raises(KeyboardInterrupt):
    driver.run(search, part, workers=2, launch=killed_twice)
  again = driver.run(search, part, workers=2)
  strip = lambda out: [(t["point"], t["state"], t["value"], t.get("rungs"))  # noqa: E731
                       for t in out["trials"]]
  assert strip(again) == strip(whole)
  assert {t["state"] for t in whole["trials"]} == {"complete", "pruned"}


def test_rungs_must_be_evaluation_steps(tmp_path, capsys):
  path = tmp_path / "pruned.py"
  path.write_text(PRUNED_CONFIG)
  argv = [f"--config={path}", "--space=optim.lr=log:1e-3:1e-1", "--pruner=sha",
          "--min_steps=3", f"--sweep_dir={tmp_path / 'x'}"]
  assert search_cli.main(argv) == 2
  assert "a multiple of config.train.eval_every_steps (6)" in capsys.readouterr().err
  assert search_cli.main(argv[:-2] + ["--min_steps=0", f"--sweep_dir={tmp_path / 'x'}"]) == 2
  assert search_cli.main(argv[:-2] + ["--min_steps=24", f"--sweep_dir={tmp_path / 'x'}"]) == 2
  assert "at or past the runs' end (config.train.num_steps=24)" in capsys.readouterr().err
  assert search_cli.main([f"--config={path}", "--space=optim.lr=log:1e-3:1e-1",
                          "--min_steps=6", f"--sweep_dir={tmp_path / 'x'}"]) == 2
  assert "give --pruner=sha or --pruner=hyperband" in capsys.readouterr().err
  assert not os.path.exists(tmp_path / "x")
  with pytest.raises(ConfigError, match="--prune_in_program: unknown 'yes'; valid: auto, on"):
    driver.run(dataclasses.replace(_pruned_search(tmp_path), prune_in_program="yes"),
               str(tmp_path / "x"))
  assert not os.path.exists(tmp_path / "x")


def test_a_pruned_search_through_ray_tasks(tmp_path, monkeypatch):
  """--launcher=ray: the trials' runs are Ray tasks on a (local) cluster; the rungs, the
  pausing and the pruning are the same as with local workers."""
  ray = pytest.importorskip("ray")
  import shutil
  import tempfile
  monkeypatch.setenv("RAY_AUTH_MODE", "disabled")  # no token file under the home directory
  temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")
  os.makedirs(os.path.join(temp, "ray"))
  monkeypatch.setenv("RAY_TMPDIR", temp)
  repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
           runtime_env={"env_vars": {"JAX_PLATFORMS": "cpu", "PYTHONPATH": repo}})
  try:
    search = _pruned_search(tmp_path, trials=2)
    sweep = str(tmp_path / "ray")
    _enqueue(search, sweep, POINTS[:2])
    out = driver.run(search, sweep, workers=2, launch=driver.ray_launch())
  finally:
    ray.shutdown()
    shutil.rmtree(temp, ignore_errors=True)
  assert [(t["state"], list(t["rungs"])) for t in out["trials"]] == [
      ("complete", [6, 12]), ("pruned", [6])]
  local = str(tmp_path / "local")
  _enqueue(search, local, POINTS[:2])
  assert [t["value"] for t in driver.run(search, local, workers=2)["trials"]] == \
      [t["value"] for t in out["trials"]]


def test_hyperband_prunes_within_its_brackets(tmp_path):
  """Optuna's Hyperband (brackets by trial number): what it prunes stops at a rung, with
  its result there; what it keeps trains to the end."""
  search = _pruned_search(tmp_path, pruner="hyperband")
  sweep = str(tmp_path / "hb")
  _enqueue(search, sweep, POINTS)
  out = driver.run(search, sweep, workers=4)
  states = {t["state"] for t in out["trials"]}
  assert states == {"complete", "pruned"}
  for t in out["trials"]:
    (run_id,) = t["runs"]
    step = json.load(open(os.path.join(sweep, "runs", run_id, "result.json")))["step"]
    assert step == (24 if t["state"] == "complete" else max(t["rungs"])), t
  best = min(out["trials"], key=lambda t: t["value"] if t["state"] == "complete" else 9)
  assert best["point"]["optim.lr"] not in HOPELESS


def test_a_point_drawn_again_is_told_the_earlier_trials_outcome_without_training(tmp_path):
  """Samplers draw a point again (a small categorical space): that trial is told the first
  one's outcome — its value, or pruned at its rungs — and no run trains twice (it was
  refused before: "sweep has the same point twice")."""
  search = _pruned_search(tmp_path)
  sweep = str(tmp_path / "again")
  _enqueue(search, sweep, [POINTS[0], POINTS[0], POINTS[1], POINTS[1]])
  logs = []
  out = driver.run(search, sweep, workers=2, log=logs.append)
  first, again, hopeless, hopeless_again = out["trials"]
  assert first["state"] == again["state"] == "complete" and first["value"] == again["value"]
  assert hopeless["state"] == hopeless_again["state"] == "pruned"
  assert again["rungs"] == first["rungs"] and hopeless_again["rungs"] == hopeless["rungs"]
  assert any("the point of trial 0: complete" in m for m in logs)
  index = Index(os.path.join(sweep, "index.sqlite"), readonly=True)
  assert index.count() == 2  # two points, two runs
  index.close()
