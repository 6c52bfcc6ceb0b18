"""The entry points as a user runs them: from a terminal.

CI has no terminal, so without a pseudo-terminal no test sees what a user at one sees
(the progress bar is drawn only on a TTY): every ``cnnlab.main`` run once ended in a
traceback after writing its results. These tests give the command a pty as its standard
input, output and error, read everything it prints, and require exit 0 and no traceback.
"""

import fcntl
import json
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import time

import pytest
from test_cli import SWEEP

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
pytestmark = pytest.mark.timeout(400)

# test_cli's tiny FashionNet on synthetic 8×8 images (4 steps), swept over two poolings
CONFIG = SWEEP % "model.pool"


def run_in_terminal(argv, cwd, env=None, timeout=300):
  """``(exit code, everything printed)`` of ``python argv`` on a pseudo-terminal."""
  master, slave = pty.openpty()
  # A terminal of 100 columns (a new pty has 0, on which tqdm draws nothing).
  fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
  proc = subprocess.Popen([sys.executable, *argv], cwd=cwd, stdin=slave, stdout=slave,
                          stderr=slave, env={**os.environ, "PYTHONPATH": REPO, **(env or {})},
                          close_fds=True)
  os.close(slave)
  out, deadline = b"", time.time() + timeout
  while time.time() < deadline:
    ready, _, _ = select.select([master], [], [], 1.0)
    if ready:
      try:
        chunk = os.read(master, 65536)
      except OSError:  # EIO: every holder of the terminal's other end has exited
        break
      if not chunk:
        break
      out += chunk
    elif proc.poll() is not None:
      break
  os.close(master)
  try:
    code = proc.wait(timeout=max(deadline - time.time(), 1))
  except subprocess.TimeoutExpired:
    proc.kill()
    raise
  return code, out.decode(errors="replace")


@pytest.fixture()
def config(tmp_path):
  path = tmp_path / "cfg.py"
  path.write_text(CONFIG)
  return path


def test_main_on_a_terminal_draws_its_bar_ends_with_the_best_and_exits_0(tmp_path, config):
  workdir = tmp_path / "run"
  argv = ["-m", "cnnlab.main", f"--config={config}", f"--workdir={workdir}",
          "--compilation_cache_dir="]
  code, out = run_in_terminal(argv, cwd=tmp_path,
                              env={"CNNLAB_DATA_DIR": str(tmp_path / "data")})
  assert code == 0 and "Traceback" not in out and "Error" not in out, out[-3000:]
  assert "\r" in out and "4/4" in out, out[-3000:]  # tqdm's bar was drawn, to its end
  result = json.loads((workdir / "result.json").read_text())
  best = result["best"]["test"]["accuracy"]
  assert f"best test accuracy {best:.4f}" in out, out[-2000:]
  # A rerun of the finished run says so, leaves its results as they are and exits 0.
  before = (workdir / "result.json").read_bytes()
  events = sorted(os.listdir(workdir / "tensorboard"))
  code, out = run_in_terminal(argv, cwd=tmp_path,
                              env={"CNNLAB_DATA_DIR": str(tmp_path / "data")})
  assert code == 0 and "Traceback" not in out and "already finished" in out, out[-3000:]
  assert (workdir / "result.json").read_bytes() == before
  assert sorted(os.listdir(workdir / "tensorboard")) == events


def test_sweep_on_a_terminal_exits_0_without_a_traceback(tmp_path, config):
  argv = ["-m", "cnnlab.sweep", f"--config={config}", f"--sweep_dir={tmp_path / 'sweep'}",
          "--workers=1"]
  code, out = run_in_terminal(argv, cwd=tmp_path,
                              env={"CNNLAB_DATA_DIR": str(tmp_path / "data")})
  assert code == 0 and "Traceback" not in out, out[-3000:]
  assert "done 2" in out, out[-3000:]
