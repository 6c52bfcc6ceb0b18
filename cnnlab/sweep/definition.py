"""What a sweep is, as its directory keeps it: the config, the command line's overrides,
the user's imports and the axes whose runs train side by side (``--pack``).

    spec = SweepSpec.from_args("configs/sweeps/x.py:budget=cpu", ["train.num_steps=100"],
                               imports=["my_ops.py"], pack=["seed"])
    runs = spec.runs()          # every point, overrides applied, validated

The sweep's index stores the spec (``meta["spec"]``) when the sweep is first launched;
a relaunch with another spec is refused naming what differs (unless it changes only
runs that never ran: ``runner.prepare``); every worker (local or Ray) reads the runs'
resolved configs from the index, and groups them as the stored spec packs them.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Dict, List, Optional, Sequence, Tuple

from cnnlab.config import ConfigError, load_config_file, overrides
from cnnlab.errors import from_user_file


def parse_overrides(items: Sequence) -> Tuple[Tuple[str, str], ...]:
  """``["--config.train.num_steps=100"]`` (or without ``--config.``, or already parsed
  pairs) → ``(("train.num_steps", "100"),)``, by the one override parser
  (:mod:`cnnlab.config.overrides`)."""
  return tuple(tuple(item) if isinstance(item, (tuple, list)) else overrides.parse(item)
               for item in items)


@dataclasses.dataclass(frozen=True)
class SweepSpec:
  config: str                                  # /abs/path/file.py[:args]
  overrides: Tuple[Tuple[str, str], ...] = ()  # (path, text), applied to every point
  imports: Tuple[str, ...] = ()                # absolute paths of the user's files
  pack: Tuple[str, ...] = ()                   # axes trained side by side: ("seed", "optim.lr")
  target_seeds: int = 0                        # seeds per point at least (0: the config's)
  axes: Tuple[str, ...] = ()                   # --axis: "model.pool=max,avg", crossed in
  seeds: int = 0                               # --seeds: n seeds crossed in (0: none)
  only: Tuple[str, ...] = ()                   # --only: "model.pool=max", the points kept
  points: Tuple[str, ...] = ()                 # explicit points (JSON), a search's trials

  @classmethod
  def from_args(cls, config: str, overrides: Sequence[str] = (), imports: Sequence[str] = (),
                pack: Sequence[str] = (), target_seeds: int = 0, axes: Sequence[str] = (),
                seeds: int = 0, only: Sequence[str] = ()) -> "SweepSpec":
    path, _, arg = config.partition(":")
    return cls(os.path.abspath(path) + (f":{arg}" if arg else ""), parse_overrides(overrides),
               tuple(os.path.abspath(p) for p in imports), tuple(pack), int(target_seeds),
               tuple(axes), int(seeds), tuple(only))

  def base_and_points(self):
    """The config file's base config and its points (the user's imports loaded first):
    its ``get_sweep()``, crossed with the command line's ``--axis`` and ``--seeds``, then
    narrowed by ``--only`` (:mod:`cnnlab.sweep.planning`)."""
    from cnnlab import imports
    from cnnlab.sweep.planning import axis_points, only_points, product
    from cnnlab.sweep.planning import seeds as seed_points
    imports.load(self.imports)
    base, points = sweep_of(self.config,
                            needs_sweep=not (self.axes or self.seeds or self.points))
    if self.points:  # a search's trials: the points themselves (cnnlab.search)
      points = [json.loads(p) for p in self.points]
    for text in self.axes:
      axis = axis_points(base, text)
      path = next(iter(axis[0]))
      if any(path in p for p in points):
        raise ConfigError(f"--axis={text}: the config's sweep varies {path} already; "
                          f"--only={path}=<values> narrows it")
      points = product(points, axis)
    if self.seeds:
      if any("seed" in p for p in points):
        raise ConfigError(f"--seeds={self.seeds}: the config's sweep sets the seeds already "
                          f"(--target_seeds=N brings each point up to N)")
      points = product(points, seed_points(self.seeds))
    for text in self.only:
      points = only_points(points, base, text)
    return base, points

  def runs(self, points: Optional[List[Dict[str, Any]]] = None, check: bool = True):
    """The runs of ``points`` (default: the config's, with ``--target_seeds``' extra)."""
    from cnnlab.sweep.planning import check_packable, expand, extra_seeds
    check_packable(self.pack)
    base, own = self.base_and_points()
    if points is None:
      points = own + extra_seeds(own, self.target_seeds, base.seed)
    return expand(base, points, check, dict(self.overrides))

  def groups(self, runs) -> List[List[str]]:
    """The ids of ``runs`` that train side by side (``--pack``), group by group."""
    from cnnlab.sweep.planning import pack
    return pack(runs, self.pack)

  def to_json(self) -> Dict[str, Any]:
    out = {"config": self.config, "overrides": [list(o) for o in self.overrides],
           "imports": list(self.imports), "pack": list(self.pack)}
    if self.target_seeds:
      out["target_seeds"] = self.target_seeds
    for key in ("axes", "seeds", "only", "points"):  # (absent when unused: older specs equal)
      if getattr(self, key):
        out[key] = list(getattr(self, key)) if key != "seeds" else self.seeds
    return out

  @classmethod
  def from_json(cls, d: Dict[str, Any]) -> "SweepSpec":
    return cls(d["config"], tuple(tuple(o) for o in d.get("overrides", ())),
               tuple(d.get("imports", ())), tuple(d.get("pack", ())),
               int(d.get("target_seeds", 0)), tuple(d.get("axes", ())),
               int(d.get("seeds", 0)), tuple(d.get("only", ())), tuple(d.get("points", ())))

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
    from cnnlab.train.migrations import OLD_PACK_FLAG
    return cls(config, pack=("seed",) if index.meta(OLD_PACK_FLAG, False) else ())

  def differences(self, other: "SweepSpec") -> List[str]:
    """What differs from ``other``, for the message refusing a relaunch."""
    names = {"overrides": "overrides", "imports": "--imports",
             "pack": "axes trained side by side (--pack)", "config": "--config",
             "target_seeds": "--target_seeds", "axes": "--axis", "seeds": "--seeds",
             "only": "--only", "points": "the search's trials"}

    def show(field: str, value) -> str:
      if field == "overrides":
        value = [f"--config.{k}={v}" for k, v in value]
      if isinstance(value, (tuple, list)):
        return " ".join(map(str, value)) or "none"
      return str(value)
    return [f"{names[f.name]}: {show(f.name, getattr(other, f.name))} there, "
            f"{show(f.name, getattr(self, f.name))} now"
            for f in dataclasses.fields(self) if getattr(self, f.name) != getattr(other, f.name)]


def sweep_of(spec: str, needs_sweep: bool = True):
  """``(base_config, points)`` of a config file with ``get_sweep()`` (without one, and
  unless ``needs_sweep``, the one point ``{}``: the axes come from the command line)."""
  import inspect
  module, arg = load_config_file(spec)
  path = spec.partition(":")[0]
  if not hasattr(module, "get_sweep") and needs_sweep:
    raise ConfigError(f"{spec}: the config file defines no get_sweep() (or give the axes: "
                      f"--axis=model.pool=max,avg --seeds=3)")
  base = from_user_file(path, module.get_config, *([arg] if arg else []))
  if not hasattr(module, "get_sweep"):
    return base, [{}]
  takes_arg = bool(inspect.signature(module.get_sweep).parameters)
  points = from_user_file(path, module.get_sweep, *([arg] if takes_arg else []))
  return base, points
