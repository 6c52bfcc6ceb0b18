"""What a report was made from, for its header: so that a shared report says which sweep,
with which overrides and budget, which code and when — a 2,000-step trial run's report
cannot pass for the full budget's.

For each ``--sweep_dir``: the config file and its ``--config.*`` overrides, the axes
trained side by side and ``--imports`` (from the sweep's index, as ``cnnlab.sweep``
recorded them), the runs by status, the training budget (steps and epochs of the
finished runs), the code (the git commits the runs recorded, and whether the tree was
dirty) and when the runs ended.
A report's ``runs.csv`` has none of the sweep's settings: it says so.
"""

from __future__ import annotations

import collections
import datetime
import os
from typing import Any, Dict, List, Sequence, Tuple

Fact = Tuple[str, str]


def _span(values: Sequence[float], fmt: str = "{:g}") -> str:
  lo, hi = min(values), max(values)
  return fmt.format(lo) if lo == hi else f"{fmt.format(lo)}–{fmt.format(hi)}"


def _from_index(sweep_dir: str) -> Tuple[Any, List[float]]:
  """The SweepSpec the sweep was launched with and its finished runs' end times, read in
  one opening of its index; ``(None, [])`` where there is none (a runs.csv's path)."""
  from cnnlab.sweep.definition import SweepSpec
  from cnnlab.sweep.index import INDEX_FILE, Index
  path = os.path.join(sweep_dir, INDEX_FILE)
  if not os.path.exists(path):
    return None, []
  index = Index(path, readonly=True)
  try:
    return (SweepSpec.of_index(index),
            [r["updated"] for r in index.rows(status="done") if r.get("updated")])
  finally:
    index.close()


def sweep_facts(sweep_dir: str, records: Sequence[Dict[str, Any]]) -> List[Fact]:
  """The header's lines for one sweep directory (or runs.csv) and its records."""
  facts: List[Fact] = []
  spec, ended = _from_index(sweep_dir)  # (None, [] for a runs.csv: it has no index)
  if os.path.isfile(sweep_dir):
    facts.append(("made from", f"{sweep_dir} (a report's runs.csv: the sweep's overrides, "
                               f"budget and code are not in it)"))
  elif spec is not None:
    config = str(spec.config)
    if os.path.isabs(config) and not os.path.relpath(config).startswith(".."):
      config = os.path.relpath(config)  # (the sweep records the absolute path)
    facts.append(("config", config))
    facts.append(("overrides", " ".join(f"--config.{k}={v}" for k, v in spec.overrides)
                  or "none"))
    facts.append(("trained side by side", ", ".join(spec.pack) or "none"))
    if spec.imports:
      facts.append(("imports", ", ".join(spec.imports)))
    if spec.target_seeds:
      facts.append(("target seeds", str(spec.target_seeds)))
  status = collections.Counter(r["status"] for r in records)
  facts.append(("runs", ", ".join(f"{n} {s}" for s, n in sorted(status.items()))))
  results = [r["result"] for r in records if r.get("result") is not None]
  if results:
    facts.append(("budget", f"{_span([x.total_steps for x in results])} steps, "
                            f"{_span([x.epochs for x in results], '{:.3g}')} epochs"))
    commits = collections.Counter(
        (x.git_commit[:10] if x.git_commit else "unknown")
        + (" (dirty)" if x.git_dirty else " (clean)" if x.git_dirty is False else "")
        for x in results)
    facts.append(("code", ", ".join(f"{c} ({n} runs)" if len(commits) > 1 else c
                                    for c, n in commits.most_common())))
  if ended:
    day = lambda t: datetime.datetime.fromtimestamp(t, datetime.timezone.utc)  # noqa: E731
    facts.append(("runs ended", _span([day(t).strftime("%Y-%m-%d %H:%M") for t in ended],
                                      "{}") + " UTC"))
  return facts


def facts(sweep_dirs: Sequence[str], labels: Sequence[str],
          records: Sequence[Dict[str, Any]]) -> List[Tuple[str, List[Fact]]]:
  """``[(sweep label, its facts)]`` for the report's sweeps, in order."""
  out = []
  for d, label in zip(sweep_dirs, labels):
    mine = [r for r in records if r["config"].get("sweep") == label]
    out.append((label, sweep_facts(d, mine)))
  return out
