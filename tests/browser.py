"""Headless Chromium (Debian's ``chromium`` package) for the tests that render HTML pages:
the DOM after load, and a screenshot as RGB floats. ``CHROMIUM`` is None without it."""

import shutil
import subprocess

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _command(tmp_path):
  return [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
          "--no-first-run", "--disable-background-networking", "--disable-component-update",
          "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}"]


def dump_dom(path, tmp_path) -> str:
  """The page's DOM after load (the command must succeed)."""
  dom = subprocess.run(_command(tmp_path) + ["--dump-dom", f"file://{path}"],
                       capture_output=True, text=True, timeout=120)
  assert dom.returncode == 0, dom.stderr[-2000:]
  return dom.stdout


def screenshot(path, tmp_path, size: str = "1200,900"):
  """The page drawn in a window of ``size`` (``"W,H"``), as an ``(H, W, 3)`` float array."""
  import matplotlib.image
  shot = tmp_path / "shot.png"
  proc = subprocess.run(_command(tmp_path) + [f"--screenshot={shot}", f"--window-size={size}",
                                              f"file://{path}"], capture_output=True,
                        timeout=120)
  assert proc.returncode == 0, proc.stderr[-2000:]
  return matplotlib.image.imread(str(shot))[..., :3]
