"""The extension walkthrough (docs/extending.md), run as written (at a tiny budget) in a
fresh directory.

The files and commands are read from the page's section after ``<!-- walkthrough -->``:
the two Python blocks become ``my_ops.py`` and ``my_sweep.py``, the bash block's lines
are run in order (the sweep with ``--config.train.num_steps=40`` appended).
"""

import os
import re
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
TINY = ["--config.train.num_steps=40", "--config.train.eval_every_steps=20",
        "--config.train.checkpoint_every_steps=20"]


def _section():
  with open(os.path.join(REPO, "docs", "extending.md")) as f:
    text = f.read()
  section = text.split("<!-- walkthrough -->", 1)[1].split("\n## ", 1)[0]
  python = re.findall(r"```python\n(.*?)```", section, re.S)
  bash = re.findall(r"```bash\n(.*?)```", section, re.S)
  assert len(python) == 2 and len(bash) == 1, "the walkthrough has two files and one script"
  return python, [line for line in bash[0].splitlines() if line.strip()]


def test_the_readme_walkthrough_runs_as_written(tmp_path):
  (ops, sweep), commands = _section()
  (tmp_path / "my_ops.py").write_text(ops)
  (tmp_path / "my_sweep.py").write_text(sweep)
  env = {**os.environ, "PYTHONPATH": REPO, "CNNLAB_DATA_DIR": str(tmp_path / "data")}
  outputs = []
  for line in commands:
    argv = line.split()
    assert argv[:2] == ["python", "-m"], line
    if argv[2] == "cnnlab.sweep":
      argv += TINY
    proc = subprocess.run([sys.executable, *argv[1:]], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=500)
    assert proc.returncode == 0, f"{line}\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
    outputs.append(proc.stdout)
  assert "logsumexp(beta=1.5)" in outputs[0] and " 0 failed" in outputs[0]
  assert "| logsumexp(beta=4) |" in outputs[2]
  for name in ("table.md", "heatmap.png", "curves.png", "report.html"):
    assert (tmp_path / "sweeps" / "lse" / "report" / name).exists(), name
  # the page's header says it is a trial: the sweep's overrides and its budget
  page = (tmp_path / "sweeps" / "lse" / "report" / "report.html").read_text()
  assert ("<th>overrides</th><td>--config.train.num_steps=40 --config.train.eval_every_steps=20 "
          "--config.train.checkpoint_every_steps=20</td>") in page, page[:3000]
  assert "<th>budget</th><td>40 steps, " in page and "<th>imports</th><td>" in page
