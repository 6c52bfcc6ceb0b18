"""The result files of earlier schemas, upgraded to the current one as plain dicts, so that
sweeps made then report the same tables (``tests/test_results.py`` keeps such sweeps).

- Schema 1 (``result.json`` without ``"schema"``, written before 2026-11-30): flat
  ``final`` names such as ``test_accuracy``, ``best.<split>_per_replica`` lists, and
  ``<metric>_r<i>`` columns in ``metrics.jsonl`` rows.
- Schema 2 (before 2026-12-04): no ``directions``. They are the loss's declaration now
  (``LossSpec.lower_is_better``); for files written before it, the rule the lab used then
  (a name with ``loss``, or ``rmse``/``mse``/``mae``/``error``: lower is better).
- Schema 3 (before 2026-12-05): a run that trained several seeds side by side
  (``train.num_replicas``) wrote **one** directory and one ``result.json`` for them all:
  each member's values under ``per_replica``, ``seeds`` a list, ``target.reached_at_step``
  one entry per member, and ensemble metrics (``ensemble_vote_accuracy``) once for all.
  Since schema 4 such runs write one ordinary directory per member. :func:`members`
  splits an old one into its members (member ``i``: its values, its seed, its target
  hit; an ensemble metric stays with member 0 alone, so it counts once), each tagged
  ``MEMBER`` so its ``metrics.jsonl`` rows are read the same way (:func:`member_row`).
  This module is the one place outside the trainer that knows those layouts.

Nothing measured is recomputed.
"""

from __future__ import annotations

import copy
import re
from typing import Any, Dict, List, Optional, Tuple

from cnnlab.train.json_numbers import number

SCHEMA_VERSION = 4
MEMBER = "legacy_member"  # a record's key: which member of an old multi-seed run it is
# a record's key: the metrics another member carries for the whole old run (ensembles)
COUNTED_ONCE = "legacy_counted_once"
_PER = "per_replica"
OLD_PACK_FLAG = "packed"  # the index meta key of sweeps from before specs (seeds side by side)
# config keys only old records have (a member's index): not a setting, no table pairs by it
LEGACY_CONFIG_KEYS = ("replica",)  # the schema-1..3 key of the members' own values
_LEGACY_COLUMN = re.compile(r"(.+)_r(\d+)$")
_LOWER_BEFORE_SCHEMA_3 = ("rmse", "mse", "mae", "error")


def upgrade_result(d: Dict[str, Any]) -> Dict[str, Any]:
  """A ``result.json`` dict of any schema in the current layout (an old result of several
  side-by-side seeds reads as its first member: :func:`members` gives each)."""
  return members(d)[0]


def members(d: Dict[str, Any]) -> List[Dict[str, Any]]:
  """The current-schema result of each run an old ``result.json`` holds (one for every
  file but a schema-1..3 one of several side-by-side seeds)."""
  d = _to_schema3(d)
  if d["schema"] == 3:
    return [_member(d, i) for i in range(_count(d))]
  return [d]


def _to_schema3(d: Dict[str, Any]) -> Dict[str, Any]:
  if "schema" not in d:
    d = _schema1_to_2(d)
  return _schema2_to_3(d) if d["schema"] == 2 else d


def runs_of_record(record: Dict[str, Any]) -> List[Dict[str, Any]]:
  """A sweep index row (``{run_id, config, result, ...}``) as the runs it holds: itself, or
  for an old run of ``n`` side-by-side seeds ``n`` rows ``<run_id>/r<i>``, each with its
  own config (seed and side-by-side values in place), result and ``MEMBER`` = i."""
  config = record.get("config") or {}
  n = old_members(config)
  if not n:
    return [record]
  results = members(record["result"]) if record.get("result") else [None] * n
  if len(results) < n:  # no value of its own: each member reads the run's (as before)
    results = results[:1] * n
  shared = _shared_names(_to_schema3(record["result"])) if record.get("result") else []
  return [{**record, "run_id": f"{record['run_id']}/r{i}", MEMBER: i,
           COUNTED_ONCE: shared if i else [], "config": member_config(config, i),
           "result": results[i]} for i in range(n)]


def _shared_names(d: Dict[str, Any]) -> List[str]:
  """The metrics of an old multi-seed result that are one value for all its members."""
  names = set()
  for split in (d.get("final") or {}).values():
    own = split.get(_PER)
    if own:
      names |= {m for m in split if m not in own[0] and m not in ("step", "count", _PER)}
  return sorted(names)


def member_row(row: Dict[str, Any], member: Optional[int]) -> Dict[str, Any]:
  """A ``metrics.jsonl`` row in the current layout: schema-1 ``<name>_r<i>`` columns read as
  the members' own; ``member`` (of an old multi-seed run) picks that member's values (an
  ensemble metric, in no member's, is member 0's)."""
  row = dict(row)
  per: Dict[int, Dict[str, float]] = {}
  for k in list(row):
    m = _LEGACY_COLUMN.fullmatch(k)
    if m and number(row[k]) is not None:
      per.setdefault(int(m.group(2)), {})[m.group(1)] = number(row.pop(k))
  own = row.pop(_PER, None) or [per[i] for i in sorted(per)]
  if member is None or not own:
    return row
  shared = {k: v for k, v in row.items() if k in ("step", "split", "count", "time")}
  values = {k: v for k, v in row.items() if k not in shared and k not in own[0]}
  return {**shared, **own[member], **(values if member == 0 else {})}


def old_members(config: Dict[str, Any]) -> int:
  """How many runs an old directory of this ``config.json`` holds (0: an ordinary run)."""
  n = (config.get("train") or {}).get("num_replicas", 0) or 0
  return n if n > 1 else 0


def member_config(config: Dict[str, Any], i: int) -> Dict[str, Any]:
  """Member ``i``'s own config: its seed and each side-by-side value in place."""
  from cnnlab.trees import flatten, put
  config = copy.deepcopy(config)
  values = (config.get("train") or {}).get("replica_values") or {}
  config["seed"] = config["seed"] + i
  for path, v in flatten(values).items():
    put(config, path, v[i])
  config[LEGACY_CONFIG_KEYS[0]] = i  # (a column of the runs.csv old reports wrote)
  return config


def _count(d: Dict[str, Any]) -> int:
  """How many side-by-side members a schema-3 result holds."""
  lists = [len(d.get("seeds") or [])] + [len(v.get(_PER) or []) for section in ("best", "final")
                                          for v in (d.get(section) or {}).values()]
  return max(lists + [1])


def _member(d: Dict[str, Any], i: int) -> Dict[str, Any]:
  """Member ``i`` of a schema-3 result, as schema 4."""
  d = copy.deepcopy(d)
  seeds = d.pop("seeds", None) or []
  d["seed"] = seeds[i] if i < len(seeds) else None
  for best in (d.get("best") or {}).values():
    own = best.pop(_PER, None)
    if own:
      best.update(own[i])
  for split in (d.get("final") or {}).values():
    own = split.pop(_PER, None)
    if own:
      ensemble = {m: v for m, v in split.items() if m not in own[0] and m not in ("step", "count")}
      for m in ensemble:
        split.pop(m)
      split.update(own[i], **(ensemble if i == 0 else {}))
  target = d.get("target")
  if target and isinstance(target.get("reached_at_step"), list):
    hits = target["reached_at_step"]
    target["reached_at_step"] = hits[i] if i < len(hits) else None
    if i:  # the epoch and time of the first hit were member 0's
      target["reached_at_epoch"] = target["train_time_s"] = None
  d["schema"] = SCHEMA_VERSION
  return d


def _schema2_to_3(d: Dict[str, Any]) -> Dict[str, Any]:
  d = dict(d)
  names = {m for split in (d.get("final") or {}).values() for m in split
           if m not in ("step", "count", _PER)}
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
    if not k.endswith("_" + _PER):
      entry = dict(v)
      per = old_best.get(f"{k}_{_PER}")
      if per is not None and _PER not in entry:
        entry[_PER] = per
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
    if name != _PER:
      s, m = split_of(name)
      final.setdefault(s, {"step": d.get("step", 0)})[m] = v
  for i, rep in enumerate(old_final.get(_PER) or []):
    for name, v in rep.items():
      if name != "seed":
        s, m = split_of(name)
        per = final.setdefault(s, {"step": d.get("step", 0)}).setdefault(_PER, [])
        while len(per) <= i:
          per.append({})
        per[i][m] = v
  d.update(schema=2, best=best, final=final)
  return d
