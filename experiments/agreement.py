"""Do a regenerated table's numbers agree with the ones it replaces, within their intervals?

    python experiments/agreement.py experiments/zeiler_fergus/table.csv          # vs git HEAD's
    python experiments/agreement.py NEW.csv --old=OLD.csv                       # two files
    python experiments/agreement.py NEW.csv --old=9e7706d                       # a commit's

Reads two ``table.csv`` files written by ``python -m cnnlab.report`` (every version of it
writes a cell's ``mean``, ``std`` and ``n``) and prints, per cell, the old and new means,
their difference and each one's 95% Student t interval over its seeds (the report's
interval of the mean; none below 3 seeds), then the summary an experiment's README
quotes: how many new means lie inside the old interval, how many old means inside the
new one, and the cells that do not. Cells are matched by the table's row and column
fields; a cell present on one side only is listed.
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import os
import statistics
import subprocess
import sys
from typing import Dict, List, Optional, Tuple

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LEVEL = 0.95
_FIRST_VALUE_FIELD = ("estimator", "mean")  # the report's key fields come before these


def read_table(text: str) -> Dict[Tuple[str, ...], Dict[str, str]]:
  """``{cell key: row}`` of a report's ``table.csv`` text."""
  rows = list(csv.DictReader(io.StringIO(text)))
  if not rows:
    return {}
  fields = list(rows[0])
  end = min(fields.index(f) for f in _FIRST_VALUE_FIELD if f in fields)
  return {tuple(r[f] for f in fields[:end]): r for r in rows}


def interval(row: Dict[str, str]) -> Optional[Tuple[float, float]]:
  """The 95% t interval of a cell's mean from its mean, std and n (None below 3 seeds)."""
  from cnnlab.report.stats import MIN_N, t_interval
  try:
    mean, std, n = float(row["mean"]), float(row["std"]), int(row["n"])
  except (KeyError, ValueError):
    return None
  if n < MIN_N or not (math.isfinite(mean) and math.isfinite(std)):
    return None
  lo, hi = t_interval(mean, std, n, LEVEL)
  return float(lo), float(hi)


def _inside(x: float, iv: Optional[Tuple[float, float]]) -> Optional[bool]:
  return None if iv is None else bool(iv[0] - 1e-9 <= x <= iv[1] + 1e-9)


def _iv(iv) -> str:
  return "n too small" if iv is None else f"[{iv[0]:.2f}, {iv[1]:.2f}]"


def compare(old_text: str, new_text: str) -> Tuple[List[str], str]:
  """The per-cell Markdown rows and the summary sentence."""
  old, new = read_table(old_text), read_table(new_text)
  lines = ["| cell | old mean | new mean | new − old | old interval | new interval |",
           "|---|---|---|---|---|---|"]
  counts = {"new_in_old": 0, "old_in_new": 0, "cells": 0, "with_interval": 0}
  outside, unmatched, moved = [], sorted(set(old) ^ set(new)), []
  for key in [k for k in new if k in old]:
    try:
      a, b = float(old[key]["mean"]), float(new[key]["mean"])
    except ValueError:  # a cell that diverged or has no finished run
      unmatched.append(key)
      continue
    ia, ib = interval(old[key]), interval(new[key])
    counts["cells"] += 1
    moved.append(abs(b - a))
    name = " / ".join(key)
    lines.append(f"| {name} | {a:.2f} | {b:.2f} | {b - a:+.2f} | {_iv(ia)} | {_iv(ib)} |")
    in_old, in_new = _inside(b, ia), _inside(a, ib)
    if ia is not None and ib is not None:
      counts["with_interval"] += 1
    counts["new_in_old"] += bool(in_old)
    counts["old_in_new"] += bool(in_new)
    if in_old is False or in_new is False:
      where = []
      if in_old is False:
        where.append(f"new {b:.2f} outside old {_iv(ia)}")
      if in_new is False:
        where.append(f"old {a:.2f} outside new {_iv(ib)}")
      outside.append(f"{name} ({'; '.join(where)})")
  summary = (f"{counts['cells']} cells compared ({counts['with_interval']} with intervals on "
             f"both sides): {counts['new_in_old']} new means inside the old 95% interval, "
             f"{counts['old_in_new']} old means inside the new one")
  if moved:
    summary += (f"; the means moved by {statistics.median(moved):.2f} (median) and at most "
                f"{max(moved):.2f}")
  summary += ("; outside: " + ", ".join(outside)) if outside else "; none outside"
  if unmatched:
    names = ", ".join(" / ".join(k) for k in unmatched)
    summary += f"; on one side only or without a mean: {names}"
  return lines, summary + "."


def _old_text(new_path: str, old: str) -> str:
  if os.path.exists(old):
    with open(old) as f:
      return f.read()
  rel = os.path.relpath(os.path.abspath(new_path), REPO)
  proc = subprocess.run(["git", "show", f"{old}:{rel}"], cwd=REPO, capture_output=True,
                        text=True)
  if proc.returncode:
    raise SystemExit(f"cannot read {rel} at {old!r}: {proc.stderr.strip()}")
  return proc.stdout


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("new", help="the regenerated table.csv")
  p.add_argument("--old", default="HEAD", help="a table.csv file, or a git revision whose "
                 "version of NEW is read (default HEAD: the committed one)")
  a = p.parse_args(argv)
  if not os.path.isfile(a.new):
    p.error(f"{a.new}: no such file (a report's table.csv)")
  with open(a.new) as f:
    new_text = f.read()
  lines, summary = compare(_old_text(a.new, a.old), new_text)
  print("\n".join(lines))
  print()
  print(summary)
  return 0


if __name__ == "__main__":
  sys.exit(main())
