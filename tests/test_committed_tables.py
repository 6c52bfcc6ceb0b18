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
  seed0 = tmp_path / "seed0.py"  # the README's sweep, seed 0 of every point
  seed0.write_text(
      "from cnnlab.sweep.spec import load_config_file\n"
      f"_sweep, _ = load_config_file({os.path.join(HERE, 'sweep.py')!r})\n"
      "get_config = _sweep.get_config\n"
      "def get_sweep():\n"
      "  return [p for p in _sweep.get_sweep() if p.get('seed', 0) == 0]\n")
  sweep = [a for a in sweep if not a.startswith(("--sweep_dir=", "--config="))] + [
      f"--config={seed0}", f"--sweep_dir={tmp_path / 'sweep'}"]
  env = {**os.environ, "PYTHONPATH": REPO, "CNNLAB_DATA_DIR": str(tmp_path / "data")}
  env.pop("XLA_FLAGS", None)  # the suite's fast-compile flags change the numbers: a user's env
  _run(sweep, env)
  from cnnlab.report import tables
  measured = {r["run_id"]: tables.record_value(r, "best.test.accuracy")
              for r in tables.collect(str(tmp_path / "sweep"))}
  committed = _committed_runs()
  assert len(measured) == 8 and set(measured) <= set(committed), sorted(measured)
  moved = {k: (v, committed[k]["value"]) for k, v in measured.items()
           if repr(float(v)) != committed[k]["value"]}
  assert not moved, f"runs whose value moved (measured, committed): {moved}; rerun the " \
      "commands in experiments/mnist1d_table1/README.md and commit the new table (and the " \
      "figures quoted from it)"


def test_mnist1d_table1_is_the_report_of_its_committed_runs(tmp_path):
  _, report = _commands()
  report = [a.replace("--sweep_dir=sweeps/mnist1d_table1",
                      f"--sweep_dir={os.path.join(HERE, 'runs.csv')}") for a in report
            if not a.startswith("--out_dir=")] + [f"--out_dir={tmp_path}"]
  _run(report)
  for name in ("table.md", "runs.csv"):
    with open(tmp_path / name) as f, open(os.path.join(HERE, name)) as g:
      assert f.read() == g.read(), f"experiments/mnist1d_table1/{name} is stale: rerun the " \
          "report command in its README"


# The reports regenerated with intervals and computed verdicts (issue 27); the others
# still quote their mean ± std tables until their sweeps are rerun.
WITH_VERDICTS = [("experiments/mnist1d_table1/README.md", "experiments/mnist1d_table1"),
                 ("experiments/mnist1d_pooling/README.md", "experiments/mnist1d_pooling"),
                 ("experiments/mnist1d_lp/README.md", "experiments/mnist1d_lp"),
                 ("README.md", "docs/sweeps/mnist1d_pool_act")]


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
