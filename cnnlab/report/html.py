"""One static HTML page per report: what it was made from, the tables and the figures.

    python -m cnnlab.report --sweep_dir=sweeps/x --rows=model.pool --cols=model.act --plots --html

``report.html`` in the report's directory refers to the PNGs beside it by name, needs
no server and no script, and opens in any browser (``tests/test_report_html.py``
renders it in headless Chromium where Debian's ``chromium`` is installed). Its header
lists each sweep's config, overrides, axes trained side by side, budget, code and dates
(:mod:`cnnlab.report.provenance`); the figures are one a row, at the page's width.
"""

from __future__ import annotations

import html
import os
from typing import List, Optional, Sequence, Tuple

from cnnlab.report.labels import Labels
from cnnlab.report.provenance import Fact
from cnnlab.report.tables import Table

PAGE_PX = 1000  # the column's width: figures fill it, tables scroll within it

STYLE = f"""body{{font-family:sans-serif;margin:1.5em auto;padding:0 1em;color:#222;
max-width:{PAGE_PX}px}}"""
STYLE += """table.facts td,table.facts th{text-align:left;border:none;padding:1px 8px 1px 0}
table.facts{font-size:13px;margin:0.3em 0 1em}h2{font-size:16px;margin:1em 0 0}
.wide{overflow-x:auto}
table{border-collapse:collapse;font-size:14px;margin:1em 0}
th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}
th:first-child,td:first-child{text-align:left}
td.best{font-weight:bold;background:#eef6ee}
td.better{background:#d8f0d8}td.worse{background:#f6d8d8}td.baseline{color:#777}
p.note,p.legend{font-size:13px;color:#444}
.plots figure{margin:1.5em 0}.plots img{width:100%;height:auto;border:1px solid #ddd;
box-sizing:border-box}figcaption{font-size:12px;color:#555}"""


def _table(t: Table, text, classes, labels: Optional[Labels] = None) -> str:
  labels = labels or Labels()
  head = "".join(f"<th>{html.escape(str(c))}</th>" for c in t.cols)
  rows = []
  for r in t.rows:
    cells = "".join(f"<td{classes(r, c)}>{html.escape(text((r, c)))}</td>" for c in t.cols)
    rows.append(f"<tr><td>{html.escape(str(r))}</td>{cells}</tr>")
  corner = " \\ ".join(f"{html.escape(labels.axis(k))} <small>({html.escape(k)})</small>"
                       if labels.axis(k) != k else html.escape(k) for k in (t.row_key, t.col_key))
  return (f"<div class=\"wide\"><table><thead><tr><th>{corner}</th>{head}</tr></thead>"
          f"<tbody>{''.join(rows)}</tbody></table></div>\n")


def _comparisons(t: Table, labels: Optional[Labels] = None) -> str:
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
          f"red: worse</p>\n" + _table(t, lambda k: render.diff_text(t, k), colour, labels)
          + f"<p class=\"legend\">{html.escape(render.seeds_heading(t))}</p>\n"
          + _table(t, lambda k: render.seeds_text(t, k), lambda r, col: "", labels))


def _header(header: Sequence[Tuple[str, List[Fact]]]) -> str:
  """Per sweep, what it was: config, overrides, axes trained side by side, runs, budget,
  code, dates."""
  out = []
  for label, facts in header:
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
                   for k, v in facts)
    out.append(f"<h2>sweep {html.escape(label)}</h2><table class=\"facts\">{rows}</table>")
  return "\n".join(out) + "\n"


def page(t: Table, title: str, images: Sequence[str], command: str = "",
         header: Sequence[Tuple[str, List[Fact]]] = (), labels: Optional[Labels] = None) -> str:
  """The page's HTML: ``title``, what each sweep was (``header``), the table (best per
  column marked), with a baseline the coloured differences and the seeds they need, and
  ``images`` (captioned with their PDF's name)."""
  best = t.best()
  table = _table(t, lambda k: t.text(*k),
                 lambda r, c: ' class="best"' if best.get(c) == r else "", labels)
  figures = "".join(
      f'<figure><img src="{html.escape(os.path.basename(p))}" alt="{html.escape(name)}">'
      f"<figcaption>{html.escape(name)} (print: {html.escape(name)}.pdf)</figcaption></figure>"
      for p in images if p for name in [os.path.splitext(os.path.basename(p))[0]])
  cmd = f"<p><code>{html.escape(command)}</code></p>" if command else ""
  notes = "".join(f"<p class=\"note\">{html.escape(n)}</p>\n" for n in t.notes_lines())
  return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(title)}"
          f"</title><style>{STYLE}</style></head><body>\n<h1>{html.escape(title)}</h1>{cmd}\n"
          f"{_header(header)}<p>{html.escape(t.heading())}</p>\n{table}{notes}"
          f"{_comparisons(t, labels)}<div class=\"plots\">{figures}</div>\n</body></html>\n")


def write(path: str, t: Table, title: str, images: Sequence[str], command: str = "",
          header: Sequence[Tuple[str, List[Fact]]] = (), labels: Optional[Labels] = None) -> str:
  with open(path, "w") as f:
    f.write(page(t, title, images, command, header, labels))
  return path
