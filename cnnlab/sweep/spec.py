"""Sweep specs: big_vision's ``hyper`` vocabulary over config paths, and stable run ids.

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
two values abbreviate alike.
"""

from __future__ import annotations

import ast
import builtins
import dataclasses
import hashlib
import itertools
import json
import re
from typing import Any, Dict, Iterable, List, Optional, Sequence

from cnnlab.errors import from_user_file
from cnnlab.registry import did_you_mean
from cnnlab.train.config import ConfigError, validate
from cnnlab.trees import flatten

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
  return "_".join(f"{k.split('.')[-1]}-{slug_value(v)}" if k != "train.replica_values"
                  else "packed-" + "+".join(flatten(v)) for k, v in overrides.items())


def overrides_digest(overrides: Point) -> str:
  """8 hex digits of the overrides (order-free): what tells truncated slugs apart."""
  return hashlib.sha256(json.dumps(overrides, sort_keys=True, default=str).encode()
                        ).hexdigest()[:8]


def run_id(overrides: Point) -> str:
  """``<key>-<value>_…-<hash8>``: readable, filesystem-safe, stable for the same overrides."""
  slug = overrides_slug(overrides)
  return f"{slug[:100]}-{overrides_digest(overrides)}" if slug else overrides_digest(overrides)


def apply_overrides(config, overrides: Point):
  """A copy of ``config`` with each ``path: value`` set; unknown paths fail by name.

  ``model.name`` swaps the whole model section for that model's fields and defaults.
  """
  c = config.copy_and_resolve_references()
  if "model.name" in overrides:
    # Another model has other fields: the model section is rebuilt with its defaults,
    # then the point's other model.* overrides apply.
    from cnnlab.train.config import model_config
    from cnnlab.models import MODELS
    name = overrides["model.name"]
    if name not in MODELS:
      raise ConfigError(f"sweep path 'model.name': unknown model {name!r}; valid: "
                        f"{', '.join(MODELS.names())}")
    c.model = model_config(name)
  for path, value in overrides.items():
    if path == "model.name":
      continue
    *parents, leaf = path.split(".")
    node = c
    for p in parents:
      if p not in node:
        raise ConfigError(f"sweep path {path!r}: the config has no section {p!r}."
                          f"{did_you_mean(p, list(node.keys()))} Sections there: "
                          f"{', '.join(node.keys())}")
      node = node[p]
    if leaf not in node:
      raise ConfigError(f"sweep path {path!r}: the config has no field {leaf!r}."
                        f"{did_you_mean(leaf, list(node.keys()))} Fields there: "
                        f"{', '.join(node.keys())}")
    with node.ignore_type():
      node[leaf] = tuple(value) if isinstance(value, list) else value
  return c


def expand(base_config, points: Sequence[Point], check: bool = True,
           overrides: Optional[Dict[str, str]] = None) -> List[Run]:
  """Applies every point to ``base_config``, then the command line's ``overrides``
  (``{"train.num_steps": "100"}``, typed by the field they set); with ``check``,
  validates each config. An override of a swept path is refused (the point would be
  silently overruled). Ids must be unique: two identical points are an error, not two
  runs.
  """
  overrides = dict(overrides or {})
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
    config = apply_text_overrides(apply_overrides(base_config, p), overrides)
    if check:
      try:
        validate(config)
      except ConfigError as e:
        raise ConfigError(f"sweep point {rid}: {e}") from e
    runs.append(Run(rid, dict(p), config))
  return runs


def _typed_value(path: str, text: str, current: Any) -> Any:
  """``text`` as the type of the value it replaces (a tuple from a literal)."""
  try:
    if isinstance(current, bool):
      if text.lower() not in ("true", "false", "1", "0"):
        raise ValueError(text)
      return text.lower() in ("true", "1")
    if isinstance(current, (int, float)) and not isinstance(current, bool):
      return type(current)(text) if not (isinstance(current, int) and "." in text) else \
          float(text)
    if isinstance(current, str):
      return text
    value = ast.literal_eval(text)
    return tuple(value) if isinstance(value, list) else value
  except (ValueError, SyntaxError):
    raise ConfigError(f"--config.{path}={text!r}: not a {type(current).__name__} like its "
                      f"current value {current!r}") from None


def apply_text_overrides(config, overrides: Dict[str, str]):
  """``config`` with each ``path: text`` from the command line set (typed by the field)."""
  if not overrides:
    return config
  c = config.copy_and_resolve_references()
  for path, text in overrides.items():
    *parents, leaf = path.split(".")
    node = c
    for i, p in enumerate(parents + [leaf]):
      keys = list(node.keys()) if hasattr(node, "keys") else []
      if p not in keys:
        where = ".".join(["config"] + parents[:i])
        raise ConfigError(f"--config.{path}: {where} has no field {p!r}."
                          f"{did_you_mean(p, keys)} Its fields: {', '.join(keys)}")
      if i < len(parents):
        node = node[p]
    with node.ignore_type():
      node[leaf] = _typed_value(path, text, node[leaf])
  return c


def load_config_file(spec: str):
  """``(module, arg)`` for ``path/to/config.py[:arg]`` (the ``--config`` flag's syntax)."""
  import importlib.util
  import os
  path, _, arg = spec.partition(":")
  if not os.path.exists(path):
    raise ConfigError(f"config file {path!r} not found")
  name = "cnnlab_config_" + re.sub(r"\W", "_", os.path.abspath(path))
  module_spec = importlib.util.spec_from_file_location(name, path)
  module = importlib.util.module_from_spec(module_spec)
  from_user_file(path, module_spec.loader.exec_module, module)
  return module, (arg or None)


def sweep_of(spec: str):
  """``(base_config, points)`` of a config file with ``get_sweep()``."""
  import inspect
  module, arg = load_config_file(spec)
  if not hasattr(module, "get_sweep"):
    raise ConfigError(f"{spec}: the config file defines no get_sweep()")
  path = spec.partition(":")[0]
  base = from_user_file(path, module.get_config, *([arg] if arg else []))
  takes_arg = bool(inspect.signature(module.get_sweep).parameters)
  points = from_user_file(path, module.get_sweep, *([arg] if takes_arg else []))
  return base, points
