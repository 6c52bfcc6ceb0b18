"""A report's conclusions through the entries users call: ``tables.build`` with a
baseline, the ``cnnlab.report`` command (several sweeps in one table, bad flags), and the
sweep command's ``--target_seeds``."""

import csv
import io
import json
import os
import random
import subprocess
import sys

import numpy as np
import pytest
import scipy.stats as st

from cnnlab.errors import ReportError
from cnnlab.report import render, tables
from cnnlab.report.conclusions import Options
from cnnlab.sweep import runner
from cnnlab.sweep.definition import SweepSpec
from cnnlab.sweep.planning import extra_seeds

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Per seed: its level (shared by the seed's runs: initialisation and data order) + the pool's
SEED_LEVEL = [0.70, 0.80, 0.75, 0.72]
POOL = {"max": 0.0, "avg": 0.010, "l2": -0.002}
NOISE = {"max": [0.001, -0.002, 0.0, 0.001], "avg": [0.0, 0.002, -0.001, 0.0],
         "l2": [0.004, -0.006, 0.005, -0.004]}


def _record(pool, seed, stride=1, sweep=None, value=None):
  config = {"seed": seed, "model": {"pool": pool, "conv_stride": stride},
            "optim": {"lr": 0.01}}
  if sweep is not None:
    config["sweep"] = sweep
  v = SEED_LEVEL[seed] + POOL[pool] + NOISE[pool][seed] if value is None else value
  return {"run_id": f"{pool}{stride}_s{seed}", "status": "done",
          "workdir": "", "config": config,
          "result": tables.Result.from_json({"status": "done", "final": {"test_accuracy": v},
                                             "best": {}})}


def _records(pools=POOL, seeds=range(4)):
  recs = [_record(p, s) for p in pools for s in seeds]
  random.Random(0).shuffle(recs)  # pairing is by seed, not by order
  return recs


def test_differences_are_paired_by_seed_and_corrected_over_the_table():
  t = tables.build(_records(), "model.pool", "model.conv_stride", "test_accuracy",
                   options=Options(baseline="model.pool=max"))
  c = t.conclusions
  avg = c.comparisons[("avg", 1)]
  x = [SEED_LEVEL[s] + POOL["avg"] + NOISE["avg"][s] for s in range(4)]
  y = [SEED_LEVEL[s] + NOISE["max"][s] for s in range(4)]
  assert avg.pairs == 4 and avg.p_value == pytest.approx(st.ttest_rel(x, y).pvalue)
  # unpaired, the seeds' spread (4 points) would hide the 1-point difference
  assert st.ttest_ind(x, y, equal_var=False).pvalue > 0.5 and avg.p_value < 0.01
  assert c.significant == {("avg", 1): True, ("l2", 1): False}
  assert c.baseline_of[("max", 1)] == ("max", 1) and ("max", 1) not in c.comparisons
  assert t.text("avg", 1).endswith(" †") and "†" not in t.text("l2", 1)
  md = render.markdown(t)
  assert "| avg | +1.0 [+0.6, +1.4] · P 0.62 † |" in md, md
  assert "| max | baseline |" in md and "Seeds needed for 80% power" in md
  csv_rows = render.csv_text(t).splitlines()
  avg_row = next(r for r in csv_rows if r.startswith("avg,"))
  assert ",max/1,1.025," in avg_row and ",4,paired t," in avg_row


def test_runs_that_do_not_pair_are_compared_unpaired():
  recs = [_record("max", s) for s in (0, 1, 2)] + [_record("avg", s) for s in (1, 2, 3)]
  t = tables.build(recs, "model.pool", "model.conv_stride", "test_accuracy",
                   options=Options(baseline="model.pool=max"))
  cmp = t.conclusions.comparisons[("avg", 1)]
  # seeds 1 and 2 pair: two pairs are enough for a paired test
  assert cmp.pairs == 2 and cmp.test == "paired t"
  recs = [_record("max", s) for s in (0, 1, 2)] + [_record("avg", 3, value=0.7)] * 1 + [
      dict(_record("avg", 3, value=v), run_id=f"x{v}") for v in (0.71, 0.72)]
  t = tables.build(recs, "model.pool", "model.conv_stride", "test_accuracy",
                   options=Options(baseline="model.pool=max"))
  cmp = t.conclusions.comparisons[("avg", 1)]
  assert cmp.pairs == 0 and cmp.test == "Welch t"  # three runs of seed 3: no pairing
  assert "unpaired" in render.diff_text(t, ("avg", 1))


def test_the_baseline_of_a_joined_axis_and_its_errors():
  recs = _records(pools=("max", "avg")) + [_record("l2", s, stride=2) for s in range(4)]
  t = tables.build(recs, "model.pool,model.conv_stride", "optim.lr", "test_accuracy",
                   options=Options(baseline="model.pool=max"))
  assert t.conclusions.baseline_of[("l2/2", 0.01)] == ("max/1", 0.01)  # the one max row
  for bad, words in (("model.pool=min", "no row has model.pool = min; there: avg, l2, max"),
                     ("seed=0", "neither on the rows"), ("model.pool", "not <config path>=")):
    with pytest.raises(ReportError, match=words):
      tables.build(recs, "model.pool,model.conv_stride", "optim.lr", "test_accuracy",
                   options=Options(baseline=bad))
  with pytest.raises(ReportError, match="--estimator='trimmed': one of mean, iqm, median"):
    Options(estimator="trimmed")


def test_published_values_get_computed_verdicts():
  t = tables.build(_records(), "model.pool", "model.conv_stride", "test_accuracy",
                   published={"max": {"1": 74.0}, "avg": {"1": 90.0}, "l2": {"1": 60.0}})
  assert t.text("max", 1).endswith("· paper 74 reproduced")
  assert t.text("avg", 1).endswith("· paper 90 lower")  # measured below the paper
  assert t.text("l2", 1).endswith("· paper 60 higher")
  e = t.estimate(("max", 1))
  assert e.low < 0.74 < e.high
  # numbers from another task are shown with its name, and judged by nothing
  other = tables.build(_records(), "model.pool", "model.conv_stride", "test_accuracy",
                       published={"_other_task": "CIFAR-10", "avg": {"1": 90.0}})
  assert other.text("avg", 1).endswith("· paper 90 on CIFAR-10")
  rows = list(csv.DictReader(io.StringIO(render.csv_text(other))))
  assert [(r["published"], r["verdict"]) for r in rows if r["model.pool"] == "avg"] == [
      ("90.0", "")]
  with pytest.raises(ReportError, match="'_other_tsak' holds 'CIFAR-10'.*Did you mean "
                     "'_other_task'"):  # a misspelled key is not read as a row
    tables.build(_records(), "model.pool", "model.conv_stride", "test_accuracy",
                 published={"_other_tsak": "CIFAR-10", "avg": {"1": 90.0}})


def _sweep_dir(root, label, shift):
  """A sweep directory of finished runs (config.json + result.json; no index)."""
  for pool in ("max", "avg"):
    for seed in range(3):
      wd = os.path.join(root, label, "runs", f"{pool}_{seed}")
      os.makedirs(wd)
      with open(os.path.join(wd, "config.json"), "w") as f:
        json.dump({"seed": seed, "model": {"pool": pool},
                   "optim": {"name": "adam" if label == "adam" else "sgd"}}, f)
      acc = SEED_LEVEL[seed] + POOL[pool] + shift + NOISE[pool][seed]
      with open(os.path.join(wd, "result.json"), "w") as f:
        json.dump({"status": "done", "final": {"test_accuracy": acc}}, f)
  return os.path.join(root, label)


def _report(*args):
  return subprocess.run([sys.executable, "-m", "cnnlab.report", *args], cwd=REPO,
                        capture_output=True, text=True,
                        env={**os.environ, "PYTHONPATH": REPO, "JAX_PLATFORMS": "cpu"})


def test_two_sweeps_compared_in_one_table(tmp_path):
  """SGD and Adam sweeps (the optimizer differs between them, the seeds within): one table
  with a sweep axis, Adam's cells paired by seed with SGD's."""
  sgd = _sweep_dir(str(tmp_path), "sgd", 0.0)
  adam = _sweep_dir(str(tmp_path), "adam", 0.02)
  out = tmp_path / "report"
  proc = _report(f"--sweep_dir={sgd}", f"--sweep_dir={adam}", "--label=SGD", "--label=Adam",
                 "--rows=model.pool", "--cols=sweep", "--baseline=sweep=SGD",
                 "--metric=test_accuracy", f"--out_dir={out}", "--html")
  assert proc.returncode == 0, proc.stderr
  md = (out / "table.md").read_text()
  assert "| model.pool \\ sweep | SGD | Adam |" in md
  assert "| max | baseline | +2.0 [" in md and "paired t" in md, md
  html = (out / "report.html").read_text()
  assert 'class="better"' in html and "sweep sgd + adam" not in html  # the labels name it
  # the header: each sweep by its label, what its runs recorded (no index: no overrides)
  assert "<h2>sweep SGD</h2>" in html and "<h2>sweep Adam</h2>" in html
  assert html.count("<th>runs</th><td>6 done</td>") == 2, html
  # made again from its runs.csv, whose sweep column keeps the two labels
  again = tmp_path / "again"
  proc = _report(f"--sweep_dir={out / 'runs.csv'}", "--rows=model.pool", "--cols=sweep",
                 "--baseline=sweep=SGD", "--metric=test_accuracy", f"--out_dir={again}")
  assert proc.returncode == 0, proc.stderr
  assert (again / "table.md").read_text() == md
  proc = _report(f"--sweep_dir={out / 'runs.csv'}", "--rows=model.pool", "--cols=sweep",
                 "--metric=test_acuracy", f"--out_dir={again}")  # a metric no row names
  assert proc.returncode == 2 and "metric 'test_acuracy' is in no row of the runs.csv. Did " \
      "you mean 'test_accuracy'? Its metrics: test_accuracy" in proc.stderr, proc.stderr
  assert (again / "table.md").read_text() == md  # nothing written over
  proc = _report(f"--sweep_dir={out / 'table.csv'}", "--rows=model.pool", "--cols=sweep",
                 "--metric=test_accuracy", f"--out_dir={again}")  # not a runs.csv
  assert proc.returncode == 2 and "is not a report's runs.csv: no column run_id" in proc.stderr
  assert len(proc.stderr.strip().splitlines()) == 1
  # several sweeps without a sweep axis would pool their runs: refused, one line
  proc = _report(f"--sweep_dir={sgd}", f"--sweep_dir={adam}", "--rows=model.pool",
                 "--cols=optim.name", "--metric=test_accuracy", f"--out_dir={out}")
  assert proc.returncode == 2 and "put 'sweep' on --rows or --cols" in proc.stderr
  assert len(proc.stderr.strip().splitlines()) == 1
  proc = _report(f"--sweep_dir={sgd}", "--rows=model.pool", "--cols=seed",
                 "--baseline=model.pool=min", "--metric=test_accuracy", f"--out_dir={out}")
  assert proc.returncode == 2 and "no row has model.pool = min" in proc.stderr


def test_target_seeds_adds_the_missing_seeds_as_new_runs(tmp_path):
  points = [{"model.pool": p, "seed": s} for p in ("max", "avg") for s in (0, 1, 2)]
  assert extra_seeds(points, 5) == [{"model.pool": "max", "seed": 3},
                                    {"model.pool": "max", "seed": 4},
                                    {"model.pool": "avg", "seed": 3},
                                    {"model.pool": "avg", "seed": 4}]
  assert extra_seeds(points, 3) == [] and extra_seeds([{"a": 1}], 2, base_seed=7) == [
      {"a": 1, "seed": 8}]
  config = tmp_path / "tiny.py"
  config.write_text(
      "from cnnlab.sweep import product, seeds, sweep\n"
      "from cnnlab.config import base_config\n"
      "def get_config():\n"
      "  c = base_config('fashionnet')\n"
      "  c.data.name = 'synthetic'\n"
      "  c.data.options = {'shape': (8, 8, 1), 'num_train': 32, 'num_test': 16}\n"
      "  c.train.batch_size = 16\n"
      "  return c\n"
      "def get_sweep():\n"
      "  return product(sweep('model.pool', ['max', 'avg']), seeds(2))\n")
  sweep_dir = str(tmp_path / "s")
  index = runner.prepare(SweepSpec.from_args(str(config)), sweep_dir, log=lambda *_: None)
  before = {r["run_id"]: r["config"] for r in index.rows()}
  index.finish(sorted(before)[0], "done", {"status": "done"})  # one run already ran
  index.close()
  index = runner.prepare(SweepSpec.from_args(str(config), target_seeds=3), sweep_dir,
                         log=lambda *_: None)
  after = {r["run_id"]: r for r in index.rows()}
  index.close()
  assert len(before) == 4 and len(after) == 6 and set(before) <= set(after)
  assert all(after[k]["config"] == v for k, v in before.items())  # the old runs unchanged
  assert sorted(r["config"]["seed"] for k, r in after.items() if k not in before) == [2, 2]
  assert after[sorted(before)[0]]["status"] == "done"
  spec = SweepSpec.from_args(str(config), pack=("seed",), target_seeds=4)
  packed = spec.runs(check=False)  # packing changes no run: each point's 4 seeds train
  groups = spec.groups(packed)     # side by side, the ones already made among them
  assert sorted(r.overrides["seed"] for r in packed) == [0, 0, 1, 1, 2, 2, 3, 3]
  assert sorted(len(g) for g in groups) == [4, 4]
  assert set(before) <= {i for g in groups for i in g}


def test_the_seeds_needed_table_and_its_flag(tmp_path):
  t = tables.build(_records(), "model.pool", "model.conv_stride", "test_accuracy",
                   options=Options(baseline="model.pool=max"))
  needed = t.conclusions.seeds_needed
  assert needed[("avg", 1)] is not None and needed[("avg", 1)] <= 4  # found with 4 already
  assert needed[("l2", 1)] is None or needed[("l2", 1)] > 4
  assert render.seeds_text(t, ("max", 1)) == "baseline"
  assert np.isfinite(t.conclusions.comparisons[("l2", 1)].effect)
  proc = subprocess.run([sys.executable, "-m", "cnnlab.sweep", "--config=x.py",
                         "--target_seeds=-1"], cwd=REPO, capture_output=True, text=True,
                        env={**os.environ, "PYTHONPATH": REPO})
  assert proc.returncode == 2, proc.stderr
  assert "flag --target_seeds=-1: -1 is not a non-negative integer" in proc.stderr


def test_labels_name_the_axes_of_the_figures_and_the_page(tmp_path):
  """Through the CLI: --labels renames an axis in the page (the path beside it), the
  defaults name the others, the tables keep the paths; a malformed --labels is one line."""
  sgd = _sweep_dir(str(tmp_path), "sgd", 0.0)
  out = tmp_path / "report"
  proc = _report(f"--sweep_dir={sgd}", "--rows=model.pool", "--cols=optim.name",
                 "--metric=test_accuracy", f"--out_dir={out}", "--html", "--as_error",
                 "--labels=optim.name=update rule")
  assert proc.returncode == 0, proc.stderr
  html = (out / "report.html").read_text()
  assert "<th>pooling <small>(model.pool)</small> \\ update rule <small>(optim.name)</small>" \
      in html, html
  assert "<title>test error — sweep sgd</title>" in html
  assert "| model.pool \\ optim.name | sgd |" in (out / "table.md").read_text()
  proc = _report(f"--sweep_dir={sgd}", "--rows=model.pool", "--cols=optim.name",
                 f"--out_dir={out}", "--labels=optim.name")
  assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
  assert "--labels: 'optim.name' is not <config path>=<label>" in proc.stderr, proc.stderr
  proc = _report(f"--sweep_dir={sgd}", "--rows=model.pool", "--cols=optim.name",
                 f"--out_dir={out}", "--labels=optim.nme=update rule")  # misspelled: not unused
  assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
  assert "--labels path 'optim.nme' is not a config field of any run. Did you mean 'name'?" \
      in proc.stderr, proc.stderr


def test_metric_and_axis_labels():
  from cnnlab.report.labels import Labels
  names = Labels({"model.pool": "pooling type"})
  assert names.axis("model.pool") == "pooling type"
  assert names.axis("data.options.num_train") == "training examples"
  assert names.axis("model.pool,model.conv_stride") == "pooling type / convolution stride"
  assert names.axis("model.block_loop") == "block loop"  # no label: its last part
  assert names.metric("best.test.accuracy") == "best test accuracy"
  assert names.metric("last.train_epoch.accuracy") == "last training (epoch mean) accuracy"
  assert names.metric("test_accuracy") == "test accuracy"
  assert names.metric("error = 1 − (last.train_epoch.accuracy)") == \
      "last training (epoch mean) error"
  assert names.metric("error = 1 − (test_loss)") == "1 − test loss"
