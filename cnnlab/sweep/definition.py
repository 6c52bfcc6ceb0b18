"""What a sweep is, as its directory keeps it: the config, the command line's overrides,
the user's imports and the packed axes.

    spec = SweepSpec.from_args("configs/sweeps/x.py:budget=cpu", ["train.num_steps=100"],
                               imports=["my_ops.py"], pack=["seed"])
    runs = spec.runs()          # every point, overrides applied, validated

The sweep's index stores the spec (``meta["spec"]``) when the sweep is first launched;
a relaunch with another spec is refused naming what differs (unless it changes only
runs that never ran: ``runner.prepare``), and every worker (local
or Ray) rebuilds its runs from the stored spec and points.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Dict, List, Optional, Sequence, Tuple

from cnnlab.errors import ConfigError


def parse_overrides(items: Sequence[str]) -> Tuple[Tuple[str, str], ...]:
  """``["--config.train.num_steps=100"]`` (or without ``--config.``) → ``(("train.num_steps",
  "100"),)``; anything else fails naming the form."""
  out = []
  for item in items:
    if item.startswith("--config."):
      item = item[len("--config."):]
    elif item.startswith("-"):
      raise ConfigError(f"unexpected argument {item!r}; overrides are --config.<path>=<value>")
    path, eq, value = item.partition("=")
    if not eq or not path:
      raise ConfigError(f"override {item!r} is not <path>=<value>")
    out.append((path, value))
  return tuple(out)


@dataclasses.dataclass(frozen=True)
class SweepSpec:
  config: str                                  # /abs/path/file.py[:args]
  overrides: Tuple[Tuple[str, str], ...] = ()  # (path, text), applied to every point
  imports: Tuple[str, ...] = ()                # absolute paths of the user's files
  pack: Tuple[str, ...] = ()                   # axes trained side by side: ("seed", "optim.lr")
  target_seeds: int = 0                        # seeds per point at least (0: the config's)

  @classmethod
  def from_args(cls, config: str, overrides: Sequence[str] = (), imports: Sequence[str] = (),
                pack: Sequence[str] = (), target_seeds: int = 0) -> "SweepSpec":
    path, _, arg = config.partition(":")
    return cls(os.path.abspath(path) + (f":{arg}" if arg else ""), parse_overrides(overrides),
               tuple(os.path.abspath(p) for p in imports), tuple(pack), int(target_seeds))

  def base_and_points(self):
    """The config file's base config and its points (the user's imports loaded first)."""
    from cnnlab import imports
    from cnnlab.sweep.spec import sweep_of
    imports.load(self.imports)
    return sweep_of(self.config)

  def runs(self, points: Optional[List[Dict[str, Any]]] = None, check: bool = True):
    """The runs of ``points`` (default: the config's, packed as the spec says)."""
    from cnnlab.sweep.runner import pack
    from cnnlab.sweep.spec import expand
    base, own = self.base_and_points()
    if points is None:
      extra = extra_seeds(own, self.target_seeds, base.seed)
      # the extra seeds pack among themselves: the runs already made keep their configs
      points = (pack(own, self.pack, base.seed) + pack(extra, self.pack, base.seed)
                if self.pack else own + extra)
    return expand(base, points, check, dict(self.overrides))

  def to_json(self) -> Dict[str, Any]:
    out = {"config": self.config, "overrides": [list(o) for o in self.overrides],
           "imports": list(self.imports), "pack": list(self.pack)}
    if self.target_seeds:
      out["target_seeds"] = self.target_seeds
    return out

  @classmethod
  def from_json(cls, d: Dict[str, Any]) -> "SweepSpec":
    return cls(d["config"], tuple(tuple(o) for o in d.get("overrides", ())),
               tuple(d.get("imports", ())), tuple(d.get("pack", ())),
               int(d.get("target_seeds", 0)))

  @classmethod
  def of_index(cls, index) -> Optional["SweepSpec"]:
    """The spec a sweep directory was launched with (None for a new directory); sweeps
    from before specs were stored are read from their config and --pack_seeds."""
    stored = index.meta("spec")
    if stored is not None:
      return cls.from_json(stored)
    config = index.meta("config")
    if config is None:
      return None
    return cls(config, pack=("seed",) if index.meta("packed", False) else ())

  def differences(self, other: "SweepSpec") -> List[str]:
    """What differs from ``other``, for the message refusing a relaunch."""
    names = {"overrides": "overrides", "imports": "--imports",
             "pack": "packed axes (--pack)", "config": "--config",
             "target_seeds": "--target_seeds"}

    def show(field: str, value) -> str:
      if field == "overrides":
        value = [f"--config.{k}={v}" for k, v in value]
      if isinstance(value, (tuple, list)):
        return " ".join(map(str, value)) or "none"
      return str(value)
    return [f"{names[f.name]}: {show(f.name, getattr(other, f.name))} there, "
            f"{show(f.name, getattr(self, f.name))} now"
            for f in dataclasses.fields(self) if getattr(self, f.name) != getattr(other, f.name)]


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
