"""Search spaces over config paths, and Optuna's samplers to draw from them.

A dimension per config path, from the command line (the ``--space`` flag of the search
driver, issue 29's next step)::

    optim.lr=log:1e-4:1e-1  optim.weight_decay=uniform:0:1e-3  model.pool=choice:max,avg

or, in a sweep file, ``get_space()`` returning ``{path: dimension}``::

    from cnnlab.search.space import choice, integer, log_uniform, uniform

    def get_space():
      return {"optim.lr": log_uniform(1e-4, 1e-1), "train.batch_size": integer(32, 256),
              "model.pool": choice("max", "avg", "lp_sum(p=4)")}

A dimension is log-uniform or uniform (floats), an integer range (``int:`` or
``int_log:``), or a choice; a choice's values are typed by the field they set, as an
override is (:mod:`cnnlab.config.overrides`), and ranges must fit the field's type. A
point drawn is a sweep point (``{path: value}``), so that a trial is an ordinary run.
Samplers are Optuna's (random, quasi-random Sobol or Halton, TPE), never re-implemented:
:func:`sampler`. :meth:`Dimension.grid` gives the coarse grid a search is compared with.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, List, Mapping, Sequence, Tuple

from cnnlab.config import overrides
from cnnlab.errors import ConfigError
from cnnlab.registry import did_you_mean

KINDS = ("log", "uniform", "int", "int_log", "choice")
SAMPLERS = ("random", "sobol", "halton", "tpe")


@dataclasses.dataclass(frozen=True)
class Dimension:
  """One searched config path's range: ``kind`` one of :data:`KINDS`."""
  kind: str
  low: float = 0.0
  high: float = 0.0
  values: Tuple[Any, ...] = ()

  def __post_init__(self):
    if self.kind not in KINDS:
      raise ConfigError(f"unknown dimension kind {self.kind!r}.{did_you_mean(self.kind, KINDS)}"
                        f" Valid: {', '.join(KINDS)}")
    if self.kind == "choice":
      if len(self.values) < 2 or len(set(map(repr, self.values))) != len(self.values):
        raise ConfigError(f"a choice needs two or more distinct values, got {self.values!r}")
    elif not self.low < self.high or (self.kind in ("log", "int_log") and self.low <= 0):
      positive = " and low > 0" if "log" in self.kind else ""
      raise ConfigError(f"a {self.kind} range needs low < high{positive}, got {self.low}, "
                        f"{self.high}")

  def distribution(self):
    """Optuna's distribution of this dimension."""
    from optuna import distributions as d
    if self.kind == "choice":
      return d.CategoricalDistribution(self.values)
    if self.kind in ("int", "int_log"):
      return d.IntDistribution(int(self.low), int(self.high), log=self.kind == "int_log")
    return d.FloatDistribution(self.low, self.high, log=self.kind == "log")

  def grid(self, n: int) -> List[Any]:
    """``n`` evenly spaced values (geometrically for log kinds), ends included; ints
    rounded and repeats dropped; every value of a choice."""
    from cnnlab.sweep.planning import spaced
    if self.kind == "choice":
      return list(self.values)
    return spaced(self.low, self.high, n, log="log" in self.kind, integer="int" in self.kind)


def log_uniform(low: float, high: float) -> Dimension:
  return Dimension("log", float(low), float(high))


def uniform(low: float, high: float) -> Dimension:
  return Dimension("uniform", float(low), float(high))


def integer(low: int, high: int, log: bool = False) -> Dimension:
  return Dimension("int_log" if log else "int", int(low), int(high))


def choice(*values: Any) -> Dimension:
  return Dimension("choice", values=tuple(values))


def parse(text: str, base_config) -> Tuple[str, Dimension]:
  """``<path>=<kind>:<low>:<high>`` or ``<path>=choice:<v1>,<v2>,...`` (the ``--space``
  flag), checked against the field it sets: the path must exist, a choice's values are
  typed by it, and a range must be numeric where the field is."""
  from cnnlab.sweep.planning import path_and_values, split_values
  path, spec = path_and_values(text, "--space", "optim.lr=log:1e-4:1e-1")
  kind, _, rest = spec.partition(":")
  current = overrides.current(base_config, path, where=f"--space={text}")
  if kind == "choice":
    return path, choice(*(overrides.typed(base_config, path, v) for v in split_values(rest)))
  if kind not in KINDS:
    raise ConfigError(f"--space={text}: unknown kind {kind!r}.{did_you_mean(kind, KINDS)} "
                      f"Forms: <path>=log:<low>:<high>, uniform:, int:, int_log:, "
                      f"choice:<v1>,<v2>,...")
  if isinstance(current, bool) or not isinstance(current, (int, float)):
    raise ConfigError(f"--space={text}: {path} holds {current!r}, not a number: search it "
                      f"with choice:<v1>,<v2>,...")
  try:
    low, high = (float(x) for x in rest.split(":"))
  except ValueError:
    raise ConfigError(f"--space={text}: a range is {kind}:<low>:<high>") from None
  return path, Dimension(kind, low, high)


def check(space: Mapping[str, Dimension], base_config) -> Dict[str, Dimension]:
  """A ``get_space()`` dict checked like the flag's: every path a field of the config,
  every choice's values typed by it."""
  out = {}
  for path, dim in space.items():
    if not isinstance(dim, Dimension):
      raise ConfigError(f"get_space(): {path!r} maps to {dim!r}, not a dimension "
                        f"(log_uniform, uniform, integer, choice)")
    overrides.current(base_config, path, where=f"get_space() path {path!r}")
    out[path] = dim
  return out


def point(params: Mapping[str, Any], space: Mapping[str, Dimension]) -> Dict[str, Any]:
  """A trial's parameters as a sweep point, in the space's order (ints as ints)."""
  return {p: int(params[p]) if "int" in d.kind else params[p] for p, d in space.items()}


def sampler(name: str, seed: int):
  """Optuna's sampler ``name`` (:data:`SAMPLERS`), seeded: the same seed draws the same
  points in the same order, which a resumed search relies on."""
  import warnings
  import optuna
  warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
  makers = {"random": lambda: optuna.samplers.RandomSampler(seed=seed),
            "sobol": lambda: optuna.samplers.QMCSampler(qmc_type="sobol", scramble=True,
                                                        seed=seed,
                                                        warn_independent_sampling=False),
            "halton": lambda: optuna.samplers.QMCSampler(qmc_type="halton", scramble=True,
                                                         seed=seed,
                                                         warn_independent_sampling=False),
            "tpe": lambda: optuna.samplers.TPESampler(seed=seed, multivariate=True)}
  if name not in makers:
    raise ConfigError(f"--sampler: unknown sampler {name!r}.{did_you_mean(name, SAMPLERS)} "
                      f"Valid: {', '.join(SAMPLERS)}")
  return makers[name]()


def draw(space: Mapping[str, Dimension], name: str, seed: int, n: int,
         values: Sequence[float] = ()) -> List[Dict[str, Any]]:
  """``n`` points drawn one after another by sampler ``name`` (ask-and-tell: the i-th
  trial is told ``values[i]`` where given, so that TPE learns; random and quasi-random
  samplers do not look)."""
  import optuna
  optuna.logging.set_verbosity(optuna.logging.WARNING)
  study = optuna.create_study(sampler=sampler(name, seed), direction="maximize")
  dists = {p: d.distribution() for p, d in space.items()}
  out = []
  for i in range(n):
    trial = study.ask(dists)
    out.append(point(trial.params, space))
    study.tell(trial, values[i] if i < len(values) else 0.0)
  return out
