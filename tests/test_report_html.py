"""The report's HTML page renders in headless Chromium (Debian's ``chromium`` package):
the table and every plot load. Skipped where Chromium is not installed."""

import pytest

from browser import CHROMIUM, dump_dom, screenshot
from cnnlab.report import html, tables
from cnnlab.report.plots import heatmap


def _table():
  records = [{"run_id": f"r{i}", "status": "done", "replica": None, "workdir": "",
              "config": {"seed": i % 2, "model": {"pool": p}},
              "result": tables.Result.from_json({"status": "done", "final": {
                  "test_accuracy": 0.9 + 0.01 * i}, "best": {}})}
             for i, p in enumerate(["max", "max", "avg", "avg"])]
  return tables.build(records, "model.pool", "seed", "test_accuracy")


def test_the_page_holds_the_table_and_the_plots(tmp_path):
  t = _table()
  img = heatmap(t, str(tmp_path / "heatmap.png"), "title")
  page = html.page(t, "test_accuracy — sweep x", [img], "python -m cnnlab.report ...")
  assert "<table>" in page and 'src="heatmap.png"' in page and "91.0 (1)" in page


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")
def test_the_page_renders_in_headless_chromium(tmp_path):
  t = _table()
  img = heatmap(t, str(tmp_path / "heatmap.png"), "title")
  path = html.write(str(tmp_path / "report.html"), t, "test_accuracy — sweep x", [img])
  # The DOM after load holds the table's cells ...
  dom = dump_dom(path, tmp_path)
  assert "<td>max</td>" in dom and "91.0 (1)" in dom
  # ... and the screenshot shows the heatmap: many saturated (viridis) pixels, which the
  # table's black, grey and pale green cannot give.
  rgb = screenshot(path, tmp_path, "1200,900")
  saturated = (rgb.max(-1) - rgb.min(-1)) > 0.3
  assert saturated.sum() > 2000, saturated.sum()
