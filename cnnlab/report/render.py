"""A report's table written out: Markdown, LaTeX and CSV (the HTML page: :mod:`html`).

With a baseline, Markdown and LaTeX add two tables under the estimates — each cell's
difference to its baseline cell, and the seeds that difference needs — and mark the
differences that survive the correction with ``†`` (a footnote symbol in LaTeX); the CSV
has one row per cell with every number as a column.
"""

from __future__ import annotations

import csv
import io
import math
from typing import Callable, List, Optional

from cnnlab.report import stats
from cnnlab.report.tables import Table

BASELINE = "baseline"


def diff_text(t: Table, key) -> str:
  """``Δ [interval] · P(better) p`` of a cell against its baseline, ``baseline`` for the
  baseline cell itself, ``—`` where there is nothing to compare."""
  c = t.conclusions
  if c.baseline_of.get(key) == key:
    return BASELINE
  cmp = c.comparisons.get(key)
  if cmp is None:
    return "—"
  s = t.number(cmp.diff.value, signed=True) + t.interval(cmp.diff, signed=True)
  if not cmp.diff.has_interval:
    s += " (n too small)"
  s += f" · P {cmp.prob_better:.2f}"
  if not cmp.pairs:
    s += " unpaired"
  if c.marker(key):
    s += " " + c.marker(key)
  return s


def seeds_text(t: Table, key) -> str:
  c = t.conclusions
  if c.baseline_of.get(key) == key:
    return BASELINE
  cmp = c.comparisons.get(key)
  if cmp is None or math.isnan(cmp.effect):
    return "—"
  n = c.seeds_needed.get(key)
  if n is None:
    return "no difference" if cmp.effect == 0 else "> 1000"
  return str(n)


def diff_heading(t: Table) -> str:
  c = t.conclusions
  o = c.options
  return (f"Difference to the baseline ({'='.join(c.baseline)}), paired by seed where the runs "
          f"pair: {o.estimator} Δ [{o.level:.0%} CI] ({_test_words(t)}) · P = the probability "
          f"that a run beats a baseline run; † survives {c.correction_words()}")


def _test_words(t: Table) -> str:
  tests = sorted({cmp.test for cmp in t.conclusions.comparisons.values()})
  return "tests: " + ", ".join(tests) if tests else "no test"


def seeds_heading(t: Table) -> str:
  c = t.conclusions
  o = c.options
  have = sorted({cmp.diff.n for cmp in c.comparisons.values()})
  now = "/".join(map(str, have)) if have else "0"
  test = ("t test" if o.estimator == "mean" else
          "rank test: the t answer over 0.955, at least its exact minimum")
  return (f"Seeds needed for {o.power:.0%} power at the observed effect ({test}, α = "
          f"{c.planned_alpha():.2g}: the correction's strictest step); the cells have {now} "
          f"now (`python -m cnnlab.sweep ... --target_seeds=N` adds the missing seeds)")


def _grid(t: Table, text: Callable, bold_best: bool = False) -> List[List[str]]:
  best = t.best() if bold_best else {}
  return [[str(r)] + [(lambda s: f"**{s}**" if best.get(c) == r else s)(text(t, (r, c)))
                      for c in t.cols] for r in t.rows]


def _md(t: Table, grid: List[List[str]]) -> List[str]:
  head = f"| {t.row_key} \\ {t.col_key} | " + " | ".join(str(c) for c in t.cols) + " |"
  return [head, "|" + "---|" * (len(t.cols) + 1)] + ["| " + " | ".join(row) + " |"
                                                     for row in grid]


def markdown(t: Table) -> str:
  lines = [t.heading(), ""] + _md(t, _grid(t, lambda t, k: t.text(*k), bold_best=True))
  if t.notes:
    lines += [""] + [f"{n}  " for n in t.notes_lines()]
  if has_comparisons(t):
    lines += ["", diff_heading(t), ""] + _md(t, _grid(t, diff_text))
    lines += ["", seeds_heading(t), ""] + _md(t, _grid(t, seeds_text))
  return "\n".join(lines) + "\n"


def has_comparisons(t: Table) -> bool:
  return bool(t.conclusions and t.conclusions.baseline)


def _tex(s: str) -> str:
  return (str(s).replace("\\", "\\textbackslash{}").replace("_", "\\_").replace("%", "\\%")
          .replace("&", "\\&").replace("#", "\\#").replace("±", "$\\pm$")
          .replace("†", "$^{\\dagger}$").replace("−", "$-$").replace("Δ", "$\\Delta$")
          .replace("α", "$\\alpha$").replace("≥", "$\\geq$"))


def _tex_table(t: Table, grid: List[List[str]], best: Optional[dict] = None) -> List[str]:
  lines = ["\\begin{tabular}{l" + "c" * len(t.cols) + "}", "\\toprule",
           _tex(f"{t.row_key} / {t.col_key}") + " & " + " & ".join(_tex(c) for c in t.cols)
           + " \\\\", "\\midrule"]
  for r, row in zip(t.rows, grid):
    cells = [f"\\textbf{{{_tex(s)}}}" if best and best.get(c) == r else _tex(s)
             for c, s in zip(t.cols, row[1:])]
    lines.append(_tex(r) + " & " + " & ".join(cells) + " \\\\")
  return lines + ["\\bottomrule", "\\end{tabular}"]


def latex(t: Table) -> str:
  lines = ["% " + _tex(t.heading())]
  lines += _tex_table(t, _grid(t, lambda t, k: t.text(*k)), t.best())
  lines += [_tex(n) + " \\\\" for n in t.notes_lines()]
  if has_comparisons(t):
    lines += ["$^{\\dagger}$ " + _tex(t.conclusions.marker_words()) + " \\\\",
              "", "% " + _tex(diff_heading(t))]
    lines += _tex_table(t, _grid(t, diff_text))
    lines += ["", "% " + _tex(seeds_heading(t))]
    lines += _tex_table(t, _grid(t, seeds_text))
  return "\n".join(lines) + "\n"


COLUMNS = ["estimator", "estimate", "ci_low", "ci_high", "interval", "n", "mean", "std",
           "diverged", "invalid", "unfinished", "best_in_column", "published", "verdict",
           "best_seed", "baseline", "diff", "diff_low", "diff_high", "pairs", "test", "p_value",
           "significant", "prob_better", "seeds_needed"]


def csv_text(t: Table) -> str:
  out = io.StringIO()
  w = csv.writer(out, lineterminator="\n")
  w.writerow([t.row_key, t.col_key] + COLUMNS)
  best = t.best()
  c = t.conclusions

  def num(v: float) -> str:
    return f"{v * t.scale:.6g}" if v == v and not math.isinf(v) else ""
  for r in t.rows:
    for col in t.cols:
      key = (r, col)
      cell = t.cells.get(key)
      if cell is None:
        continue
      e = t.estimate(key) or stats.estimate(cell.values)
      pub = t.published.get((str(r), str(col)))
      cmp = c.comparisons.get(key) if c else None
      base = c.baseline_of.get(key) if c else None
      row = [r, col, c.options.estimator if c else "mean", num(e.value), num(e.low), num(e.high),
             e.method, len(cell.values), num(cell.mean) if cell.values else "",
             num(cell.std) if cell.values else "",
             # the column keeps its meaning: every other run without a value
             cell.diverged, cell.invalid, cell.unfinished + cell.no_value,
             int(best.get(col) == r), "" if pub is None else pub,
             "" if pub is None or not cell.values else t.verdict(e, pub),
             num(cell.best_seed(t.lower_is_better)) if cell.values else "",
             "" if base is None else "/".join(map(str, base))]
      if cmp is None:
        row += [""] * 9
      else:
        row += [num(cmp.diff.value), num(cmp.diff.low), num(cmp.diff.high), cmp.pairs,
                cmp.test, f"{cmp.p_value:.4g}" if cmp.p_value == cmp.p_value else "",
                int(bool(c.significant.get(key))), f"{cmp.prob_better:.4g}",
                c.seeds_needed.get(key) or ""]
      w.writerow(row)
  return out.getvalue()
