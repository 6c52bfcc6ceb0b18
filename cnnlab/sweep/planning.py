"""Sweep planning, pure (no I/O): big_vision's ``hyper`` vocabulary over config paths,
packing, expansion into runs with the command line's overrides, and stable run ids.

A config file gains ``get_sweep()`` next to ``get_config()``::

    from cnnlab.sweep import product, seeds, sweep

    def get_sweep():
      return product(sweep("model.pool", ["max", "avg", "l2_sum"]),
                     sweep("model.act", ["relu", "tanh", "abs_tanh"]),
                     seeds(3))

A sweep is a list of points, each a dict ``{config path: value}``. ``product``
crosses sweeps, ``zip`` pairs them element by element, ``seeds(n)`` sweeps
``seed``, ``fixed`` sets a path in every point. :func:`expand` applies each point to
the base config and names it: a readable slug of the swept values plus a hash of
the whole override dict, so the id is stable across launches and unique even when
two values abbreviate alike. :func:`pack` groups the runs that differ only in packable
axes (seeds, learning rates) to train side by side in one vmapped program. Loading the
config file is :mod:`cnnlab.sweep.definition`'s (``SweepSpec``), running the runs the
runner's.
"""

from __future__ import annotations

import builtins
import dataclasses
import hashlib
import itertools
import json
import re
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from cnnlab.config import PACKABLE, ConfigError, validate
from cnnlab.config.overrides import apply as apply_overrides
from cnnlab.registry import did_you_mean

Point = Dict[str, Any]


def sweep(path: str, values: Iterable[Any]) -> List[Point]:
  """One point per value of ``path`` (e.g. ``sweep("model.pool", ["max", "avg"])``)."""
  values = list(values)
  if not values:
    raise ConfigError(f"sweep({path!r}) has no values")
  return [{path: v} for v in values]


def fixed(path: str, value: Any) -> List[Point]:
  """One point setting ``path``: crossed with a sweep, it sets the path in every point."""
  return [{path: value}]


def seeds(n: int, start: int = 0) -> List[Point]:
  """``n`` seeds, ``start … start+n-1``."""
  if n < 1:
    raise ConfigError(f"seeds(n) needs n >= 1, got {n}")
  return sweep("seed", range(start, start + n))


def _merge(points: Sequence[Point]) -> Point:
  out: Point = {}
  for p in points:
    for k, v in p.items():
      if k in out and out[k] != v:
        raise ConfigError(f"sweep sets {k!r} twice in one point ({out[k]!r} and {v!r})")
      out[k] = v
  return out


def product(*sweeps: List[Point]) -> List[Point]:
  """Every combination of one point from each sweep (the first varies slowest)."""
  return [_merge(c) for c in itertools.product(*sweeps)]


def zip(*sweeps: List[Point]) -> List[Point]:  # noqa: A001 - big_vision's name
  """Points paired element by element; the sweeps must have equal lengths."""
  lengths = {len(s) for s in sweeps}
  if len(lengths) > 1:
    raise ConfigError(f"zip of sweeps with different lengths {sorted(lengths)}")
  return [_merge(c) for c in builtins.zip(*sweeps)]


@dataclasses.dataclass(frozen=True)
class Run:
  """One expanded sweep point: its id, its overrides and the resolved config."""
  run_id: str
  overrides: Dict[str, Any]
  config: Any  # ml_collections.ConfigDict


def slug_value(v: Any) -> str:
  """A value as a short filesystem-safe word: ``lp_sum(p=4)`` → ``lp_sum-p4``, 0.1 → ``0.1``."""
  s = json.dumps(v) if not isinstance(v, str) else v
  if isinstance(v, str) and "(" in v:  # an op with options: lp_sum(p=4) -> lp_sum-p4
    s = re.sub(r"[(,]\s*", "-", s)
    return re.sub(r"[^A-Za-z0-9._-]+", "", s).strip("-")[:32] or "x"
  return re.sub(r"[^A-Za-z0-9._]+", "", s)[:24] or "x"


def overrides_slug(overrides: Point) -> str:
  """``<key>-<value>_…`` in the overrides' order: each path's last part and its value."""
  return "_".join(f"{k.split('.')[-1]}-{slug_value(v)}" for k, v in overrides.items())


def overrides_digest(overrides: Point) -> str:
  """8 hex digits of the overrides (order-free): what tells truncated slugs apart."""
  return hashlib.sha256(json.dumps(overrides, sort_keys=True, default=str).encode()
                        ).hexdigest()[:8]


def run_id(overrides: Point) -> str:
  """``<key>-<value>_…-<hash8>``: readable, filesystem-safe, stable for the same overrides."""
  slug = overrides_slug(overrides)
  return f"{slug[:100]}-{overrides_digest(overrides)}" if slug else overrides_digest(overrides)


def expand(base_config, points: Sequence[Point], check: bool = True,
           overrides: Optional[Dict[str, str]] = None) -> List[Run]:
  """Applies every point to ``base_config``, then the command line's ``overrides``
  (``{"train.num_steps": "100"}``, typed by the field they set); with ``check``,
  validates each config. An override of a swept path is refused (the point would be
  silently overruled). Ids must be unique: two identical points are an error, not two
  runs.
  """
  overrides = dict(overrides or {})  # (path, text) from the command line
  swept = sorted({k for p in points for k in p} & set(overrides))
  if swept:
    raise ConfigError(f"--config.{swept[0]} sets a path the sweep varies; change the sweep "
                      f"(get_sweep) instead")
  runs, seen = [], {}
  for p in points:
    rid = run_id(p)
    if rid in seen:
      raise ConfigError(f"sweep has the same point twice: {p}")
    seen[rid] = p
    config = apply_overrides(apply_overrides(base_config, p, text=False), overrides)
    if check:
      try:
        validate(config)
      except ConfigError as e:
        raise ConfigError(f"sweep point {rid}: {e}") from e
    runs.append(Run(rid, dict(p), config))
  return runs


def check_packable(axes: Sequence[str]) -> None:
  """ConfigError for an axis one compiled program cannot train several values of."""
  bad = [a for a in axes if a not in PACKABLE]
  if bad:
    raise ConfigError(f"--pack: {bad[0]!r} cannot be packed.{did_you_mean(bad[0], PACKABLE)} "
                      f"Packable: {', '.join(PACKABLE)}")


def pack(runs: Sequence[Run], axes: Sequence[str]) -> List[List[str]]:
  """The run ids in groups that train side by side as one vmapped program (the executor's
  :func:`cnnlab.train.loop.train_together`): runs whose points differ only in the packed
  ``axes`` (``seed``, ``optim.lr``, …). Packing changes no run: each keeps its id, config
  and directory, and computes what it computes alone; without ``axes`` every run is a
  group of its own."""
  check_packable(axes)
  groups: Dict[str, List[str]] = {}
  for r in runs:
    rest = {k: v for k, v in r.overrides.items() if k not in axes} if axes else r.run_id
    groups.setdefault(json.dumps(rest, sort_keys=True, default=str), []).append(r.run_id)
  return list(groups.values())


def extra_seeds(points: List[Dict[str, Any]], target: int, base_seed: int = 0) -> List[Dict]:
  """The points that bring every point's seeds up to ``target`` (``--target_seeds``): for
  each group of points that differ only in ``seed``, the next unused seeds after the
  group's largest. Points without a ``seed`` use ``base_seed`` (the config's)."""
  groups: Dict[str, List[Dict[str, Any]]] = {}
  for p in points:
    key = json.dumps({k: v for k, v in p.items() if k != "seed"}, sort_keys=True, default=str)
    groups.setdefault(key, []).append(p)
  out = []
  for group in groups.values():
    have = sorted({int(p.get("seed", base_seed)) for p in group})
    rest = {k: v for k, v in group[0].items() if k != "seed"}
    out += [{**rest, "seed": have[-1] + 1 + i} for i in range(max(0, target - len(have)))]
  return out


# -- axes from the command line (python -m cnnlab.sweep --axis=... --only=...) --------------

RANGE_FORMS = ("log", "lin")


def split_values(text: str) -> List[str]:
  """``max,avg,lp_sum(p=4, q=2)`` → the comma-separated values (a comma inside brackets,
  parentheses or quotes stays in its value)."""
  out, depth, quote, cur = [], 0, "", ""
  for ch in text:
    if quote:
      quote = "" if ch == quote else quote
    elif ch in "'\"":
      quote = ch
    elif ch in "([{":
      depth += 1
    elif ch in ")]}":
      depth -= 1
    elif ch == "," and depth == 0:
      out.append(cur.strip())
      cur = ""
      continue
    cur += ch
  out.append(cur.strip())
  return [v for v in out if v]


def _range(path: str, text: str, current: Any) -> List[Any]:
  """``log:<lo>:<hi>:<n>`` (geometric) or ``lin:<lo>:<hi>:<n>`` (evenly spaced), ends
  included; for an int field rounded, repeats dropped."""
  form, *parts = text.split(":")
  try:
    lo, hi, n = float(parts[0]), float(parts[1]), int(parts[2])
    if len(parts) != 3 or n < 2 or (form == "log" and (lo <= 0 or hi <= 0)):
      raise ValueError
  except (ValueError, IndexError):
    raise ConfigError(f"--axis={path}={text}: a range is {form}:<low>:<high>:<count> with "
                      f"count >= 2{' and positive ends' if form == 'log' else ''}, e.g. "
                      f"optim.lr=log:1e-4:1e-1:7") from None
  return spaced(lo, hi, n, log=form == "log",
                integer=isinstance(current, int) and not isinstance(current, bool))


def spaced(low: float, high: float, n: int, log: bool = False,
           integer: bool = False) -> List[Any]:
  """``n`` values from ``low`` to ``high``, ends included, evenly spaced (geometrically
  with ``log``) to 6 significant digits (0.001, not 0.0010000000000000002); ``integer``:
  rounded, repeats dropped. An axis's range, and a search space's reference grid."""
  steps = [i / max(n - 1, 1) for i in range(n)]
  values = [float(f"{low * (high / low) ** t if log else low + (high - low) * t:.6g}")
            for t in steps]
  return list(dict.fromkeys(int(round(v)) for v in values)) if integer else values


def axis_points(base_config, text: str) -> List[Point]:
  """``<path>=<v1>,<v2>,...`` (or a range, :func:`_range`) as one point per value, each
  typed by the field it sets, as an override is (:mod:`cnnlab.config.overrides`)."""
  from cnnlab.config import overrides
  path, values = path_and_values(text, "--axis", "model.pool=max,avg")
  if values.split(":")[0] in RANGE_FORMS:
    typed = _range(path, values, overrides.current(base_config, path))
  else:
    typed = [overrides.typed(base_config, path, v) for v in split_values(values)]
  if len(set(map(repr, typed))) != len(typed) or not typed:
    raise ConfigError(f"--axis={text}: give distinct values, e.g. {path}=a,b")
  return sweep(path, typed)


def path_and_values(text: str, flag: str, example: str) -> Tuple[str, str]:
  """``<path>=<values>`` of ``--axis``, ``--only`` or ``--space`` (by the one override
  parser), a bare path refused: an override reads it as a bool set true."""
  from cnnlab.config import overrides
  if "=" not in text:
    raise ConfigError(f"{flag}={text}: give <path>=<values>, e.g. {flag}={example}")
  return overrides.parse(text)


def only_points(points: List[Point], base_config, text: str) -> List[Point]:
  """The points whose value of ``<path>`` is one of ``<v1>,<v2>,...`` (typed by the
  field); a path the sweep does not vary, or a value it never takes, fails naming them."""
  from cnnlab.config import overrides
  path, values = path_and_values(text, "--only", "model.pool=max,avg")
  swept = sorted({k for p in points for k in p})
  if path not in swept:
    raise ConfigError(f"--only={text}: the sweep does not vary {path!r}.{did_you_mean(path, swept)}"
                      f" It varies: {', '.join(swept) or 'nothing'}")
  wanted = [overrides.typed(base_config, path, v) for v in split_values(values)]
  taken = [p[path] for p in points if path in p]
  missing = [w for w in wanted if w not in taken]
  if missing:
    shown = ", ".join(dict.fromkeys(map(str, taken)))
    raise ConfigError(f"--only={text}: the sweep never sets {path} to "
                      f"{', '.join(map(repr, missing))}; its values: {shown}")
  return [p for p in points if p.get(path) in wanted]
