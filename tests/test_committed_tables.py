"""Committed numbers stay current: MNIST-1D Table 1's runs rerun at their full protocol.

The README's report command writes, beside ``table.md``, ``runs.csv``: every run's value.
The slow test reruns seed 0 of every cell (8 of the 24 runs of 6000 steps, the README's
sweep command on the same config with the other seeds left out; about a minute on a
2-core CPU) and fails when a run's value differs from its committed one, digit for digit:
a change that moves the numbers must regenerate the table (and the README figures) with
it. The fast test makes the report again from ``runs.csv`` by the README's report
command and fails when it differs from the committed ``table.md``.
"""

import csv
import math
import os
import re
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HERE = os.path.join(REPO, "experiments", "mnist1d_table1")


def _joined(block: str):
  return [line.split() for line in block.replace("\\\n", " ").splitlines() if line.strip()]


def _commands():
  with open(os.path.join(HERE, "README.md")) as f:
    block = re.search(r"```bash\n(.*?)```", f.read(), re.S).group(1)
  sweep, report = _joined(block)
  assert sweep[:3] == ["python", "-m", "cnnlab.sweep"] and report[:3] == [
      "python", "-m", "cnnlab.report"]
  return sweep, report


def _run(argv, env=None):
  proc = subprocess.run([sys.executable, *argv[1:]], cwd=REPO, capture_output=True, text=True,
                        timeout=850, env=env or {**os.environ, "PYTHONPATH": REPO})
  assert proc.returncode == 0, proc.stderr[-3000:]


def _committed_runs():
  with open(os.path.join(HERE, "runs.csv"), newline="") as f:
    return {row["run_id"]: row for row in csv.DictReader(f)}


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_mnist1d_table1_runs_reproduce_their_committed_values(tmp_path):
  sweep, _ = _commands()
  # The README's sweep, seed 0 of each model, the two sequence orders alternating (every
  # model and both orders once in 4 runs, half the time of all 8 points at seed 0).
  seed0 = tmp_path / "seed0.py"
  seed0.write_text(
      "from cnnlab.config import load_config_file\n"
      f"_sweep, _ = load_config_file({os.path.join(HERE, 'sweep.py')!r})\n"
      "get_config = _sweep.get_config\n"
      "_ORDER = {'logistic1d': False, 'mlp1d': True, 'conv1d_base': False, 'gru1d': True}\n"
      "def get_sweep():\n"
      "  return [p for p in _sweep.get_sweep() if p.get('seed', 0) == 0 and\n"
      "          p['data.options.shuffle_seq'] == _ORDER[p['model.name']]]\n")
  sweep = [a for a in sweep if not a.startswith(("--sweep_dir=", "--config="))] + [
      f"--config={seed0}", f"--sweep_dir={tmp_path / 'sweep'}"]
  env = {**os.environ, "PYTHONPATH": REPO, "CNNLAB_DATA_DIR": str(tmp_path / "data")}
  env.pop("XLA_FLAGS", None)  # the suite's fast-compile flags change the numbers: a user's env
  _run(sweep, env)
  from cnnlab.report import tables
  measured = {r["run_id"]: tables.record_value(r, "best.test.accuracy")
              for r in tables.collect(str(tmp_path / "sweep"))}
  committed = _committed_runs()
  assert len(measured) == 4 and set(measured) <= set(committed), sorted(measured)
  moved = {k: (v, committed[k]["value"]) for k, v in measured.items()
           if repr(float(v)) != committed[k]["value"]}
  assert not moved, f"runs whose value moved (measured, committed): {moved}; rerun the " \
      "commands in experiments/mnist1d_table1/README.md and commit the new table (and the " \
      "figures quoted from it)"


def _report_from_committed_runs(report, tmp):
  """A README's report command run again on the ``runs.csv`` committed in its out_dir
  (instead of the sweep directory), writing to ``tmp``; the committed out_dir."""
  out = next(a for a in report if a.startswith("--out_dir=")).split("=", 1)[1]
  _run([a for a in report if not a.startswith(("--out_dir=", "--sweep_dir="))] +
       [f"--sweep_dir={os.path.join(REPO, out, 'runs.csv')}", f"--out_dir={tmp}"])
  return out


def test_mnist1d_table1_is_the_report_of_its_committed_runs(tmp_path):
  _, report = _commands()
  out = _report_from_committed_runs(report, tmp_path)
  for name in ("table.md", "runs.csv"):
    with open(tmp_path / name) as f, open(os.path.join(REPO, out, name)) as g:
      assert f.read() == g.read(), f"experiments/mnist1d_table1/{name} is stale: rerun the " \
          "report command in its README"


# The reports regenerated with intervals and computed verdicts (issue 27): every
# experiment's (krizhevsky_relu's and boureau2010's own scripts are tested apart).
WITH_VERDICTS = [("experiments/mnist1d_table1/README.md", "experiments/mnist1d_table1"),
                 ("experiments/mnist1d_pooling/README.md", "experiments/mnist1d_pooling"),
                 ("experiments/mnist1d_lp/README.md", "experiments/mnist1d_lp"),
                 ("experiments/fashion_mnist_convnets/README.md",
                  "experiments/fashion_mnist_convnets"),
                 ("experiments/zeiler_fergus/README.md", "experiments/zeiler_fergus"),
                 ("experiments/nielsen_ch6/README.md", "experiments/nielsen_ch6"),
                 ("experiments/nielsen_ch6/README.md", "experiments/nielsen_ch6/vote"),
                 ("experiments/he2016_depth/README.md", "experiments/he2016_depth"),
                 ("experiments/he2016_depth/README.md", "experiments/he2016_depth/train_error"),
                 ("experiments/he2016_depth/README.md", "experiments/he2016_depth/depth"),
                 ("docs/sweeps.md", "docs/sweeps/mnist1d_pool_act")]


@pytest.mark.parametrize("readme,report", WITH_VERDICTS)
def test_readmes_quote_the_reports_tables_verbatim(readme, report):
  """The verdicts and differences a README states are the report's: its table.md appears
  in the README word for word (so a regenerated report must be pasted again)."""
  with open(os.path.join(REPO, report, "table.md")) as f:
    table = f.read()
  with open(os.path.join(REPO, readme)) as f:
    text = f.read()
  assert "[95% CI]" in table, f"{report}/table.md has no intervals: rerun its report command"
  assert table.strip() in text, f"{readme} does not quote {report}/table.md as it is now"


def test_agreement_of_a_regenerated_table_with_the_one_it_replaces():
  """``experiments/agreement.py``: per cell each mean against the other's 95% t interval
  (hand-worked: mean 10, std 1, n 3 → 10 ± 4.303·1/√3 = [7.52, 12.48]), across the old
  (mean ± std) and the new (estimate, interval) table.csv formats."""
  sys.path.insert(0, os.path.join(REPO, "experiments"))
  import agreement
  old = ("model.pool,metric,mean,std,n,published\n"
         "max,test,10,1,3,\n"          # new 12 inside [7.52, 12.48]; old 10 outside new's
         "avg,test,20,0.5,2,\n"        # n = 2: no old interval; old 20 inside new [18.52, 23.48]
         "min,test,5,1,3,\n")          # on the old side only
  new = ("model.pool,metric,estimator,estimate,ci_low,ci_high,n,mean,std\n"
         "max,test,mean,12,,,3,12,0.5\n"
         "avg,test,mean,21,,,3,21,1\n")
  assert agreement.interval({"mean": "10", "std": "1", "n": "3"}) == pytest.approx(
      (7.5159, 12.4841), abs=1e-4)
  lines, summary = agreement.compare(old, new)
  assert lines[2] == "| max / test | 10.00 | 12.00 | +2.00 | [7.52, 12.48] | [10.76, 13.24] |"
  assert summary == ("2 cells compared (1 with intervals on both sides): 1 new means inside "
                     "the old 95% interval, 1 old means inside the new one; the means moved by "
                     "1.50 (median) and at most 2.00; outside: max / "
                     "test (old 10.00 outside new [10.76, 13.24]); on one side only or without "
                     "a mean: min / test.")


def _krizhevsky_record(act, lr, seed, epochs, target=0.8):
  from types import SimpleNamespace
  result = SimpleNamespace(target=SimpleNamespace(reached_at_epoch=epochs))
  return {"status": "done", "result": result, "workdir": "",
          "config": {"model": {"act": act}, "optim": {"lr": lr}, "seed": seed,
                     "train": {"target_value": target, "num_epochs": 30}}}


def test_krizhevsky_report_computes_the_ratio_per_seed_and_its_verdict():
  """Each activation's fastest rate by mean epochs over seeds, its ratio to ReLU paired by
  seed with a t interval, and the verdict on the paper's 6× (hand-worked numbers)."""
  import importlib.util
  spec = importlib.util.spec_from_file_location(  # not "report": other experiments have one
      "krizhevsky_report", os.path.join(REPO, "experiments", "krizhevsky_relu", "report.py"))
  report = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(report)
  recs = ([_krizhevsky_record("relu", lr, s, e) for lr, es in ((0.01, (5, 5, 6)),
                                                               (0.1, (4, 4, 5)))
           for s, e in enumerate(es)] +
          [_krizhevsky_record("tanh", lr, s, e) for lr, es in ((0.01, (20, 24, 30)),
                                                               (0.1, (8, 8, None)))
           for s, e in enumerate(es)] +
          [_krizhevsky_record("sigmoid", 0.1, 0, 27)] +
          [_krizhevsky_record("abs_tanh", 0.1, 0, math.inf)] +  # ended, never reached
          [dict(_krizhevsky_record("silu", 0.1, 0, 3), status="running")])  # not ended yet
  grid = report.at_target(report.cells(recs), 0.8)
  # tanh at 0.1 has a seed that never reached the target: its mean is inf; 0.01 is fastest
  assert report.fastest(grid, "relu", [0.01, 0.1]) == (pytest.approx(13 / 3), 0.1)
  assert report.fastest(grid, "tanh", [0.01, 0.1]) == (pytest.approx(74 / 3), 0.01)
  e = report.ratio_to_relu(grid, "tanh", [0.01, 0.1])  # 20/4, 24/4, 30/5: 5, 6, 6
  assert (e.value, e.n) == (pytest.approx(17 / 3), 3)
  half = 4.302653 * (1 / 3) ** 0.5 / 3 ** 0.5  # t(0.975, 2) · sd([5, 6, 6]) / √3
  assert (e.low, e.high) == (pytest.approx(17 / 3 - half), pytest.approx(17 / 3 + half))
  assert "→ **reproduced**" in report.verdict_line(grid, [0.01, 0.1], 0.8)
  one = report.ratio_to_relu(grid, "sigmoid", [0.01, 0.1])  # one seed: 27 / 4
  assert one.value == 6.75 and not one.has_interval
  text = report.table(recs, report.cells(recs))
  assert "| sigmoid | — | 27 | 0.1 | 27 | 6.8 (n = 1) |" in text
  assert "| tanh | 20 / 24 / 30 | 8 / 8 / > 30 | 0.01 | 24.7 | 5.7 [4.2, 7.1] |" in text
  assert "| abs_tanh | — | > 30 | — | > 30 | — |" in text
  assert "| silu | — | — | — | — | — |" in text  # a sweep still running: not "> 30"


@pytest.mark.parametrize("experiment,count", [("nielsen_ch6", 2), ("he2016_depth", 3)])
def test_tables_are_the_reports_of_their_committed_runs(tmp_path, experiment, count):
  """Every report command of the experiment's README made again from the ``runs.csv`` it
  committed gives the committed ``table.md``: Nielsen's ladder and vote (whose ensemble
  metric is one value for a packed run of 5 seeds), He et al.'s test error, training
  error (a metric of the last epoch's batches) and depth comparison."""
  with open(os.path.join(REPO, "experiments", experiment, "README.md")) as f:
    blocks = re.findall(r"```bash\n(.*?)```", f.read(), re.S)
  reports = [c for b in blocks for c in _joined(b) if c[:3] == ["python", "-m", "cnnlab.report"]]
  assert len(reports) == count
  for i, report in enumerate(reports):
    out = _report_from_committed_runs(report, tmp_path / str(i))
    with open(tmp_path / str(i) / "table.md") as f, open(os.path.join(REPO, out, "table.md")) as g:
      assert f.read() == g.read(), f"{out}/table.md is not the report of {out}/runs.csv"
