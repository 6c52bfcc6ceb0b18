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
.plots{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}
.plots figure{margin:0}.plots img{max-width:640px;border:1px solid #ddd}
figcaption{font-size:12px;color:#555}"""


def page(t: Table, title: str, images: Sequence[str], command: str = "") -> str:
  """The page's HTML: ``title``, the table (best per column marked) and ``images``."""
  best = t.best()
  unit = " (%)" if t.scale == 100 else ""
  head = "".join(f"<th>{html.escape(str(c))}</th>" for c in t.cols)
  rows = []
  for r in t.rows:
    mark = {c: ' class="best"' if best.get(c) == r else "" for c in t.cols}
    cells = "".join(f"<td{mark[c]}>{html.escape(t.text(r, c))}</td>" for c in t.cols)
    rows.append(f"<tr><td>{html.escape(str(r))}</td>{cells}</tr>")
  figures = "".join(
      f'<figure><img src="{html.escape(os.path.basename(p))}" alt="{html.escape(name)}">'
      f"<figcaption>{html.escape(name)}</figcaption></figure>"
      for p in images if p for name in [os.path.splitext(os.path.basename(p))[0]])
  cmd = f"<p><code>{html.escape(command)}</code></p>" if command else ""
  notes = "".join(f"<p class=\"note\">{html.escape(n)}</p>\n" for n in t.notes_lines())
  return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(title)}"
          f"</title><style>{STYLE}</style></head><body>\n<h1>{html.escape(title)}</h1>{cmd}\n"
          f"<p>{html.escape(t.metric + unit)}: mean ± std over seeds (runs); best per column "
          f"in bold</p>\n<table><thead><tr><th>{html.escape(t.row_key)} \\ "
          f"{html.escape(t.col_key)}</th>{head}</tr></thead><tbody>{''.join(rows)}</tbody>"
          f"</table>\n{notes}<div class=\"plots\">{figures}</div>\n</body></html>\n")


def write(path: str, t: Table, title: str, images: Sequence[str], command: str = "") -> str:
  with open(path, "w") as f:
    f.write(page(t, title, images, command))
  return path
