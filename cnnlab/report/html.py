"""One static HTML page per report: the table and the plots side by side.

    python -m cnnlab.report --sweep_dir=sweeps/x --rows=model.pool --cols=model.act --plots --html

``report.html`` in the report's directory refers to the PNGs beside it by name, needs
no server and no script, and opens in any browser (``tests/test_report_html.py``
renders it in headless Chromium where Debian's ``chromium`` is installed).
"""

from __future__ import annotations

import html
import os
from typing import Sequence

from cnnlab.report.tables import Table

STYLE = """body{font-family:sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;font-size:14px;margin:1em 0}
th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}
th:first-child,td:first-child{text-align:left}
td.best{font-weight:bold;background:#eef6ee}
td.better{background:#d8f0d8}td.worse{background:#f6d8d8}td.baseline{color:#777}
p.note,p.legend{font-size:13px;color:#444}
.plots{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}
.plots figure{margin:0}.plots img{max-width:640px;border:1px solid #ddd}
figcaption{font-size:12px;color:#555}"""


def _table(t: Table, text, classes) -> str:
  head = "".join(f"<th>{html.escape(str(c))}</th>" for c in t.cols)
  rows = []
  for r in t.rows:
    cells = "".join(f"<td{classes(r, c)}>{html.escape(text((r, c)))}</td>" for c in t.cols)
    rows.append(f"<tr><td>{html.escape(str(r))}</td>{cells}</tr>")
  return (f"<table><thead><tr><th>{html.escape(t.row_key)} \\ {html.escape(t.col_key)}</th>"
          f"{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>\n")


def _comparisons(t: Table) -> str:
  """The difference table, coloured: green where a cell is significantly better than its
  baseline after the correction, red where significantly worse."""
  from cnnlab.report import render
  if not render.has_comparisons(t):
    return ""
  c = t.conclusions

  def colour(r, col):
    key = (r, col)
    if c.baseline_of.get(key) == key:
      return ' class="baseline"'
    cmp = c.comparisons.get(key)
    if cmp is None or not c.significant.get(key):
      return ""
    better = (cmp.diff.value < 0) if t.lower_is_better else (cmp.diff.value > 0)
    return ' class="better"' if better else ' class="worse"'
  return (f"<p class=\"legend\">{html.escape(render.diff_heading(t))}; green: better, "
          f"red: worse</p>\n" + _table(t, lambda k: render.diff_text(t, k), colour)
          + f"<p class=\"legend\">{html.escape(render.seeds_heading(t))}</p>\n"
          + _table(t, lambda k: render.seeds_text(t, k), lambda r, col: ""))


def page(t: Table, title: str, images: Sequence[str], command: str = "") -> str:
  """The page's HTML: ``title``, the table (best per column marked), with a baseline the
  coloured differences and the seeds they need, and ``images``."""
  best = t.best()
  table = _table(t, lambda k: t.text(*k),
                 lambda r, c: ' class="best"' if best.get(c) == r else "")
  figures = "".join(
      f'<figure><img src="{html.escape(os.path.basename(p))}" alt="{html.escape(name)}">'
      f"<figcaption>{html.escape(name)}</figcaption></figure>"
      for p in images if p for name in [os.path.splitext(os.path.basename(p))[0]])
  cmd = f"<p><code>{html.escape(command)}</code></p>" if command else ""
  notes = "".join(f"<p class=\"note\">{html.escape(n)}</p>\n" for n in t.notes_lines())
  return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(title)}"
          f"</title><style>{STYLE}</style></head><body>\n<h1>{html.escape(title)}</h1>{cmd}\n"
          f"<p>{html.escape(t.heading())}</p>\n{table}{notes}{_comparisons(t)}"
          f"<div class=\"plots\">{figures}</div>\n</body></html>\n")


def write(path: str, t: Table, title: str, images: Sequence[str], command: str = "") -> str:
  with open(path, "w") as f:
    f.write(page(t, title, images, command))
  return path
