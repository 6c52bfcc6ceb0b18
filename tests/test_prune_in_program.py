"""Pruning inside one compiled program (``--prune_in_program``): at a rung a worker holds
its program for the search's decision; runs raised train on in it, pruned ones are masked
(their state stays; nothing compiles again) — and the search ends as one whose rungs each
ended their programs (trained apart, resumed from checkpoints)."""

import dataclasses
import json
import os
import signal
import threading

import pytest

from cnnlab.config import apply_overrides, load
from cnnlab.search import driver
from cnnlab.sweep import runner
from cnnlab.sweep.index import Index
from cnnlab.train import run as run_module
from cnnlab.train import train_together
from test_search import (HOPELESS, POINTS, PRUNED_CONFIG, _enqueue, _pruned_search,
                         assert_trials_ended_where_told)

# one worker for the module: the reference search (``apart``) is computed once
pytestmark = [pytest.mark.timeout(600), pytest.mark.xdist_group("prune_in_program")]


def _runs(tmp_path, *lrs):
  path = tmp_path / "pruned.py"
  path.write_text(PRUNED_CONFIG)
  base = load(str(path))
  return [apply_overrides(base, {"optim.lr": lr}, text=False) for lr in lrs]


def test_a_run_stopped_inside_its_program_keeps_its_state_and_the_others_train_on(
    tmp_path, monkeypatch):
  good, hopeless = _runs(tmp_path, 0.01, 1e-9)
  at6 = lambda c: apply_overrides(c, {"train.stop_after_steps": 6}, text=False)  # noqa: E731
  programs = []
  init = run_module.Compiled.__init__
  monkeypatch.setattr(run_module.Compiled, "__init__",
                      lambda self, fn: (init(self, fn), programs.append(self))[0])
  asked = []

  def at_stop(step, results, stop):  # the hopeless run ends at step 6, the good one goes on
    asked.append((step, [(r.status, r.step) for r in results]))
    return [12, None] if step == 6 else [0, None]
  g, h = str(tmp_path / "good"), str(tmp_path / "hopeless")
  together = train_together([at6(good), at6(hopeless)], [g, h], at_stop=at_stop)
  assert asked == [(6, [("preempted", 6), ("preempted", 6)]),
                   (12, [("preempted", 12), ("preempted", 6)])]
  assert [(r.status, r.step) for r in together] == [("done", 24), ("preempted", 6)]
  assert len(programs[0].cache) == 1  # one training program, never compiled again
  # the stopped run: its result, curve and checkpoints end at its stop
  assert json.load(open(os.path.join(h, "result.json")))["step"] == 6
  assert os.listdir(os.path.join(h, "checkpoints")) == ["6"]
  assert max(json.loads(line)["step"] for line in open(os.path.join(h, "metrics.jsonl"))) == 6
  # the run that went on computes what it computes beside a run that goes on too (the
  # same program; equal to the run alone as a user compiles: the search test below)
  both = train_together([at6(good), at6(hopeless)], [str(tmp_path / "g2"), str(tmp_path / "h2")],
                        at_stop=lambda step, results, stop: [12, 12] if step == 6 else [0, 0])
  assert together[0].final == both[0].final and together[0].best == both[0].best
  assert both[1].step == 24
  # a run already finished is shown to at_stop as it is, and left be
  seen = []
  again = train_together([at6(good), at6(hopeless)], [g, str(tmp_path / "new")],
                         at_stop=lambda step, results, stop: seen.append(
                             [(r.status, r.step) for r in results]) or [None, None])
  assert seen == [[("done", 24), ("preempted", 6)]] and again[0].final == together[0].final
  # the program's time is shared among the runs while they train: the stopped one's ends
  wall = [json.load(open(os.path.join(w, "result.json")))["wall_time_s"] for w in (g, h)]
  assert wall[1] < wall[0]


def _held(search):
  return dataclasses.replace(search, pack=("seed", "optim.lr"), prune_in_program="on")


def _strip(out):
  return [(t["point"], t["state"], list(t.get("rungs", {}))) for t in out["trials"]]


@pytest.fixture(scope="module")
def apart(tmp_path_factory):
  """The reference: the search with every rung ending its programs, trained apart (its
  workers, and the tests' below, compile as a user's do: see xla_default_emitters)."""
  tmp = tmp_path_factory.mktemp("apart")
  search = dataclasses.replace(_pruned_search(tmp), prune_in_program="off")
  _enqueue(search, str(tmp / "s"), POINTS)
  with pytest.MonkeyPatch.context() as m:
    m.setenv("XLA_FLAGS", " ".join(f for f in os.environ.get("XLA_FLAGS", "").split()
                                   if not f.startswith("--xla_cpu_use_fusion_emitters")))
    return driver.run(search, str(tmp / "s"), workers=4)


@pytest.mark.usefixtures("xla_default_emitters")
def test_a_search_prunes_trials_packed_in_one_program_inside_it(tmp_path, apart):
  search = _held(_pruned_search(tmp_path))
  sweep = str(tmp_path / "held")
  _enqueue(search, sweep, POINTS)
  out = driver.run(search, sweep, workers=4)
  assert _strip(out) == _strip(apart)
  assert {t["state"] for t in out["trials"]} == {"complete", "pruned"}
  for t, ref in zip(out["trials"], apart["trials"]):
    assert t["rungs"] == pytest.approx(ref["rungs"], rel=1e-4)
    assert (t["value"] is None) == (ref["value"] is None)
    if t["value"] is not None:
      assert t["value"] == pytest.approx(ref["value"], rel=1e-4)
  # the four trials' runs trained as one program, started once, held at each rung
  logs = "".join(open(os.path.join(sweep, "logs", f)).read()
                 for f in os.listdir(os.path.join(sweep, "logs")))
  assert logs.count("] start") == 1 and "+3 side by side" in logs
  assert "held" in logs and "let go" not in logs
  assert_trials_ended_where_told(sweep, out)
  assert all(t["point"]["optim.lr"] in HOPELESS for t in out["trials"]
             if t["state"] == "pruned" and list(t["rungs"]) == [6])


@pytest.mark.usefixtures("xla_default_emitters")
@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(),
                    reason="signal handlers need the main thread")
def test_a_search_stopped_while_its_worker_holds_a_rung_ends_as_an_uninterrupted_one(
    tmp_path, apart):
  search = _held(_pruned_search(tmp_path))
  sweep = str(tmp_path / "held")
  _enqueue(search, sweep, POINTS)
  fired = []

  def stopped_at_the_first_hold(*args, on_poll=None, **kwargs):
    def poll():
      index = Index(os.path.join(sweep, "index.sqlite"), readonly=True)
      held = [r for r in index.rows() if r["status"] == "paused" and r["pid"] is not None]
      index.close()
      if held and not fired:
        fired.append(len(held))
        os.kill(os.getpid(), signal.SIGTERM)  # the driver is stopped: so are its workers
        return
      on_poll()
    return runner.launch(*args, on_poll=poll, **kwargs)
  first = driver.run(search, sweep, workers=4, launch=stopped_at_the_first_hold)
  assert fired == [4] and all(t["state"] == "running" for t in first["trials"])
  index = Index(os.path.join(sweep, "index.sqlite"), readonly=True)
  assert {(r["status"], r["pid"]) for r in index.rows()} == {("paused", None)}  # let go
  index.close()
  again = driver.run(search, sweep, workers=4)
  assert _strip(again) == _strip(apart)
