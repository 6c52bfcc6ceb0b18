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


_MEASURE = """<script>window.addEventListener("load", function () {
  var col = document.body.getBoundingClientRect().width
      - parseFloat(getComputedStyle(document.body).paddingLeft)
      - parseFloat(getComputedStyle(document.body).paddingRight);
  var imgs = Array.prototype.map.call(document.querySelectorAll("figure img"), function (i) {
    return {src: i.getAttribute("src"), width: i.getBoundingClientRect().width,
            natural: i.naturalWidth};
  });
  var pre = document.createElement("pre");
  pre.id = "measured";
  pre.textContent = JSON.stringify({column: col, images: imgs});
  document.body.appendChild(pre);
});</script>"""


def figure_widths(path, tmp_path, width: int = 1280) -> dict:
  """The page laid out in a window ``width`` px wide: ``{"column": the body's content
  width, "images": [{src, width (drawn), natural (0 if it did not load)}]}``, measured by
  a script added to a copy of the page beside it (the page itself has none)."""
  import json
  import os
  import re
  copy = os.path.join(os.path.dirname(path), f".measure-{os.getpid()}.html")
  with open(path) as f:
    page = f.read()
  with open(copy, "w") as f:
    f.write(page.replace("</body>", _MEASURE + "</body>"))
  try:
    dom = subprocess.run(_command(tmp_path) + [f"--window-size={width},2000", "--dump-dom",
                                               f"file://{copy}"],
                         capture_output=True, text=True, timeout=120)
  finally:
    os.remove(copy)
  assert dom.returncode == 0, dom.stderr[-2000:]
  found = re.search(r'<pre id="measured">(.*?)</pre>', dom.stdout, re.S)
  assert found, dom.stdout[-2000:]
  return json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
