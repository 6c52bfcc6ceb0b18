"""The result files of earlier schemas, upgraded to the current one as plain dicts, so that
sweeps made then report the same tables (``tests/test_results.py`` keeps such sweeps).

- Schema 1 (``result.json`` without ``"schema"``, written before 2026-11-30): flat
  ``final`` names such as ``test_accuracy``, ``best.<split>_per_replica`` lists, and
  ``<metric>_r<i>`` columns in ``metrics.jsonl`` rows.
- Schema 2 (before 2026-12-04): no ``directions``. They are the loss's declaration now
  (``LossSpec.lower_is_better``); for files written before it, the rule the lab used then
  (a name with ``loss``, or ``rmse``/``mse``/``mae``/``error``: lower is better).

Nothing measured is recomputed.
"""

from __future__ import annotations

import re
from typing import Any, Dict, Tuple

from cnnlab.train.json_numbers import number

SCHEMA_VERSION = 3
_LEGACY_REPLICA = re.compile(r"(.+)_r(\d+)$")
_LOWER_BEFORE_SCHEMA_3 = ("rmse", "mse", "mae", "error")


def upgrade_result(d: Dict[str, Any]) -> Dict[str, Any]:
  """A ``result.json`` dict of any schema in the current layout."""
  if "schema" not in d:
    d = _schema1_to_2(d)
  if d["schema"] == 2:
    d = _schema2_to_3(d)
  return d


def upgrade_row(row: Dict[str, Any]) -> Dict[str, Any]:
  """A ``metrics.jsonl`` row in the current layout: schema-1 ``<name>_r<i>`` columns
  become ``per_replica``."""
  row = dict(row)
  if "per_replica" in row:
    return row
  per: Dict[int, Dict[str, float]] = {}
  plain: Dict[str, Any] = {}
  for k, v in row.items():
    m = _LEGACY_REPLICA.fullmatch(k)
    if m and number(v) is not None:
      per.setdefault(int(m.group(2)), {})[m.group(1)] = number(v)
    else:
      plain[k] = v
  if per:
    plain["per_replica"] = [per[i] for i in sorted(per)]
  return plain


def _schema2_to_3(d: Dict[str, Any]) -> Dict[str, Any]:
  d = dict(d)
  names = {m for split in (d.get("final") or {}).values() for m in split
           if m not in ("step", "count", "per_replica")}
  names.add(d.get("primary_metric", "accuracy"))
  d["directions"] = {m: "lower" if "loss" in m or m in _LOWER_BEFORE_SCHEMA_3 else "higher"
                     for m in sorted(names)}
  d["schema"] = 3
  return d


def _schema1_to_2(d: Dict[str, Any]) -> Dict[str, Any]:
  d = dict(d)
  old_best = d.get("best") or {}
  best = {}
  for k, v in old_best.items():
    if not k.endswith("_per_replica"):
      entry = dict(v)
      per = old_best.get(f"{k}_per_replica")
      if per is not None and "per_replica" not in entry:
        entry["per_replica"] = per
      best[k] = entry
  splits = sorted((k for k in best if k != "test_at_best_validation"), key=len, reverse=True)

  def split_of(name: str) -> Tuple[str, str]:
    for s in splits:
      if name.startswith(s + "_"):
        return s, name[len(s) + 1:]
    s, _, m = name.partition("_")
    return s, m

  final: Dict[str, Dict[str, Any]] = {}
  old_final = d.get("final") or {}
  for name, v in old_final.items():
    if name != "per_replica":
      s, m = split_of(name)
      final.setdefault(s, {"step": d.get("step", 0)})[m] = v
  for i, rep in enumerate(old_final.get("per_replica") or []):
    for name, v in rep.items():
      if name != "seed":
        s, m = split_of(name)
        per = final.setdefault(s, {"step": d.get("step", 0)}).setdefault("per_replica", [])
        while len(per) <= i:
          per.append({})
        per[i][m] = v
  d.update(schema=2, best=best, final=final)
  return d
