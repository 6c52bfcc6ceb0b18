"""Committed numbers stay current: MNIST-1D Table 1 rerun at its full protocol.

Runs exactly the two commands in ``experiments/mnist1d_table1/README.md`` (24 runs of
6000 steps, 2 workers; about 2.5 minutes on a 2-core CPU) into a temporary directory and
fails when the table they print differs from the committed ``table.md``: a change that
moves the numbers must regenerate the table (and the README figures) with it.
"""

import os
import re
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HERE = os.path.join(REPO, "experiments", "mnist1d_table1")
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def _joined(block: str):
  return [line.split() for line in block.replace("\\\n", " ").splitlines() if line.strip()]


def test_mnist1d_table1_reproduces_the_committed_table(tmp_path):
  with open(os.path.join(HERE, "README.md")) as f:
    block = re.search(r"```bash\n(.*?)```", f.read(), re.S).group(1)
  sweep, report = _joined(block)
  assert sweep[:3] == ["python", "-m", "cnnlab.sweep"] and report[:3] == [
      "python", "-m", "cnnlab.report"]
  # The README's commands, with the sweep and the report's output in this test's directory.
  sweep = [a for a in sweep if not a.startswith("--sweep_dir=")] + [
      f"--sweep_dir={tmp_path / 'sweep'}"]
  report = [a.replace("sweeps/mnist1d_table1", str(tmp_path / "sweep")) for a in report
            if not a.startswith("--out_dir=")] + [f"--out_dir={tmp_path / 'report'}"]
  env = {**os.environ, "PYTHONPATH": REPO, "CNNLAB_DATA_DIR": str(tmp_path / "data")}
  env.pop("XLA_FLAGS", None)  # the suite's fast-compile flags change the numbers: a user's env
  for argv in (sweep, report):
    proc = subprocess.run([sys.executable, *argv[1:]], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=850)
    assert proc.returncode == 0, proc.stderr[-3000:]
  with open(tmp_path / "report" / "table.md") as f:
    measured = f.read()
  with open(os.path.join(HERE, "table.md")) as f:
    committed = f.read()
  assert measured == committed, "experiments/mnist1d_table1/table.md is stale: rerun the " \
      "commands in its README and commit the new table (and the figures quoted from it)"
