"""The search driver (cnnlab/search): Optuna asks, the lab's runner trains each trial's
seeds as ordinary runs, the driver tells; a search killed mid-round and relaunched ends
with the trials of an uninterrupted one; a trial that cannot run fails at once."""

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
