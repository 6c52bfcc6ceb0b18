"""The report's HTML page renders in headless Chromium (Debian's ``chromium`` package):
the table and every plot load. Skipped where Chromium is not installed."""

import numpy as np
import pytest

from browser import CHROMIUM, dump_dom, figure_widths, screenshot
from cnnlab.report import html, tables
from cnnlab.report.conclusions import Options
from cnnlab.report.plots import heatmap


def _table(baseline=None):
  """max, avg and min pooling, 3 seeds each, one column: avg 1 point above max with a
  little seed noise (significant), min 0.1 below with more (not)."""
  shift = {"max": 0.0, "avg": 0.01, "min": -0.001}
  noise = {"max": [0, 0, 0], "avg": [0.001, -0.001, 0.0005], "min": [0.004, -0.005, 0.003]}
  records = [{"run_id": f"{p}{s}", "status": "done", "workdir": "",
              "config": {"seed": s, "data": {"n": 1000}, "model": {"pool": p}},
              "result": tables.Result.from_json({"status": "done", "final": {
                  "test_accuracy": 0.9 + 0.02 * s + shift[p] + noise[p][s]}, "best": {}})}
             for p in shift for s in range(3)]
  return tables.build(records, "model.pool", "data.n", "test_accuracy",
                      options=Options(baseline=baseline))


def test_the_page_holds_the_table_and_the_plots(tmp_path):
  t = _table()
  img = heatmap(t, str(tmp_path / "heatmap.png"), "title")
  # drawn again, the figure is the same file (a rerun's git diff shows only what moved):
  # nothing time-stamped in it, the PDF's creation date included
  (tmp_path / "again").mkdir()
  heatmap(t, str(tmp_path / "again" / "heatmap.png"), "title")
  for name in ("heatmap.png", "heatmap.pdf"):
    assert (tmp_path / name).read_bytes() == (tmp_path / "again" / name).read_bytes(), name
  assert b"/CreationDate" not in (tmp_path / "heatmap.pdf").read_bytes()
  page = html.page(t, "test_accuracy — sweep x", [img], "python -m cnnlab.report ...")
  assert "<table>" in page and 'src="heatmap.png"' in page and "92.0 [87.0, 97.0] (3)" in page
  assert "Difference to the baseline" not in page  # none asked for


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")
def test_the_page_renders_in_headless_chromium(tmp_path):
  t = _table(baseline="model.pool=max")
  img = heatmap(t, str(tmp_path / "heatmap.png"), "title")
  path = html.write(str(tmp_path / "report.html"), t, "test_accuracy — sweep x", [img])
  # The DOM after load holds the table's cells with intervals, the paired differences to
  # max pooling (avg's significant after Holm: green; min's not) and the seeds needed ...
  dom = dump_dom(path, tmp_path)
  assert "<td>max</td>" in dom and "92.0 [87.0, 97.0] (3)" in dom
  assert '<td class="better">+1.0 [+0.8, +1.3] · P 0.67 †</td>' in dom, dom
  assert '<td class="baseline">baseline</td>' in dom
  assert "<td>−0.0 [−1.3, +1.2] · P 0.56</td>" in dom
  assert "Seeds needed for 80% power" in dom and "Holm's correction" in dom
  # ... and the screenshot shows the heatmap (many saturated viridis pixels) and the
  # significant cell's green, which the rest of the tables' black, grey and white lack.
  rgb = screenshot(path, tmp_path, "1200,1400")
  saturated = (rgb.max(-1) - rgb.min(-1)) > 0.3
  assert saturated.sum() > 2000, saturated.sum()
  green = (abs(rgb - np.array([0xd8, 0xf0, 0xd8]) / 255).max(-1) < 0.02)
  assert green.sum() > 500, green.sum()


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")
def test_the_committed_pooling_benchmark_report_renders_with_its_conclusions(tmp_path):
  """experiments/mnist1d_pooling/report.html as committed: what the sweep was, intervals
  in the table, the paired differences to max pooling with Holm's markers and colours,
  its figures loaded and, in a 1,280-px window, each as wide as the page's column."""
  import os
  path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                      "experiments", "mnist1d_pooling", "report.html")
  dom = dump_dom(path, tmp_path)
  assert "[95% CI]" in dom and "Difference to the baseline (model.pool=max)" in dom
  assert "Holm's correction" in dom and "†</td>" in dom
  assert 'class="better"' in dom or 'class="worse"' in dom
  for fact in ("<th>config</th><td>experiments/mnist1d_pooling/sweep.py</td>",
               "<th>overrides</th><td>none</td>", "<th>packed axes</th><td>none</td>",  # (the
               # label of 2026-12-03, when the page was written: now "trained side by side")
               "<th>runs</th><td>180 done</td>", "<th>budget</th><td>6000 steps, ",
               "<th>code</th><td>", "<th>runs ended</th><td>2026-"):
    assert fact in dom, fact
  laid_out = figure_widths(path, tmp_path, 1280)
  images = laid_out["images"]
  assert [i["src"] for i in images] == ["heatmap.png", "metric_vs_num_train.png",
                                        "curves.png", "filters.png"], images
  assert all(i["natural"] > 0 for i in images), images  # every figure loaded
  assert all(i["width"] >= laid_out["column"] - 1 for i in images), laid_out
  rgb = screenshot(path, tmp_path, "1280,3000")
  saturated = (rgb.max(-1) - rgb.min(-1)) > 0.3  # the heatmap's and the curves' colours
  assert saturated.sum() > 20000, saturated.sum()
