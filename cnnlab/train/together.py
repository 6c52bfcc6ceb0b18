"""Runs trained side by side: R configs that differ only in packable fields (seeds,
learning rates, …) trained as **one** vmapped program that writes R ordinary run
directories. This module and the trainer are the only places that know the runs shared a
program ("replicas" of its one config); everything downstream sees R runs.

    results = train_together([config_seed0, config_seed1], ["runs/a", "runs/b"])

The program's config is the first run's with ``train.num_replicas = R`` and
``train.replica_values`` holding each run's own values (:func:`program_config`); a config
that requests packing itself (``--config.train.num_replicas=3`` on ``cnnlab.main``) is
split into its runs first (:func:`runs_of`). Each run keeps its own checkpoints (its
slice of the stacked train state in the layout of a run trained alone, :func:`own_state`:
the program's traced hyperparameters — a packed learning rate or weight decay lives in
the optimizer's state, optax's ``inject_hyperparams`` — are left out and put back from
the run's config on restoring, :func:`program_layout`), so a run trained side by side
resumes alone, or in other company, from any of them (tested).

Where it pays: on accelerators, where one small run leaves the device idle; on XLA's CPU
backend three packed seeds measured slower than three separate runs (``cnnlab.sweep``
packs by default on accelerators only).
"""

from __future__ import annotations

import copy
import json
import os
from typing import Any, Dict, List, Optional, Sequence

import jax
import jax.numpy as jnp

from cnnlab.config import PACKABLE, ConfigError
from cnnlab.config.base import replica_values
from cnnlab.config.overrides import apply as apply_overrides
from cnnlab.registry import did_you_mean
from cnnlab.train.checkpoint import Checkpointer
from cnnlab.train.metrics import MetricWriter
from cnnlab.train.optim import make_schedule
from cnnlab.train.record import RunRecord
from cnnlab.train.result import Result
from cnnlab.trees import flatten, nest

# What may differ between runs trained together: the packable fields, and what only
# names or steers a run without changing its program.
_FREE = ("train.stop_after_steps",)


def _flat(config) -> Dict[str, Any]:
  return flatten(json.loads(config.to_json_best_effort()))


def program_config(configs: Sequence[Any]):
  """The config of the one program that trains ``configs`` side by side (the only config
  itself when there is one); ConfigError names a field they may not differ in."""
  if len(configs) == 1:
    return configs[0]
  flats = [_flat(c) for c in configs]
  varied = sorted({k for f in flats[1:] for k in set(f) | set(flats[0])
                   if f.get(k) != flats[0].get(k)} - set(_FREE))
  for k in varied:
    if k not in PACKABLE:
      raise ConfigError(f"runs trained side by side may differ only in "
                        f"{', '.join(PACKABLE)}; these differ in {k!r} "
                        f"({flats[0].get(k)!r} vs others).{did_you_mean(k, PACKABLE)}")
  for c in configs:
    if c.train.num_replicas > 1:
      raise ConfigError("a run trained side by side with others cannot pack runs itself "
                        "(config.train.num_replicas > 1): split it with runs_of() first")
  program = copy.deepcopy(configs[0])
  values = {"seed": [f["seed"] for f in flats]}
  values.update({k: [f[k] for f in flats] for k in varied if k != "seed"})
  program.train.num_replicas = len(configs)
  program.train.replica_values = nest(values)
  return program


def runs_of(config) -> List[Any]:
  """A config that requests packing (``train.num_replicas = R > 1``) as its R runs' own
  configs (run r: seed ``seed + r``, or ``train.replica_values``' r-th values); any
  other config as itself."""
  t = config.train
  if t.num_replicas <= 1:
    return [config]
  values = replica_values(t)
  values.setdefault("seed", tuple(config.seed + r for r in range(t.num_replicas)))
  out = []
  for r in range(t.num_replicas):
    c = apply_overrides(config, {path: v[r] for path, v in values.items()}, text=False)
    with c.unlocked():
      c.train.num_replicas = 0
      c.train.replica_values = type(c.train.replica_values)()
    out.append(c)
  return out


def run_names(config) -> List[str]:
  """Directory names of the runs a packing config requests: ``seed-3``, ``seed-0_lr-0.01``."""
  runs = runs_of(config)
  values = {k: v for k, v in replica_values(config.train).items() if k != "seed"}
  return ["_".join([f"seed-{c.seed}"] + [f"{k.split('.')[-1]}-{v[r]}" for k, v in values.items()])
          for r, c in enumerate(runs)]


def member_state(state: Any, r: int, together: bool) -> Any:
  """Run ``r``'s own train state (its slice of the stacked one)."""
  return jax.tree_util.tree_map(lambda a: a[r], state) if together else state


def own_state(state: Any, r: int, together: bool, traced_optimizer: bool) -> Any:
  """Run ``r``'s own train state in the layout of a run trained alone (what its
  checkpoints hold): its slice, without the program's traced hyperparameters."""
  own = member_state(state, r, together)
  if traced_optimizer:
    own = own.replace(opt_state=own.opt_state.inner_state)
  return own.replace(hyper=None)


def program_layout(own: Any, program_r: Any, traced_optimizer: bool) -> Any:
  """A run's own state (:func:`own_state`) back in the program's layout: its traced
  hyperparameters from ``program_r``, its slice of the program's initial state (made from
  its config), the optimizer's update count its step."""
  opt = own.opt_state
  if traced_optimizer:
    count = program_r.opt_state.count
    opt = program_r.opt_state._replace(count=jnp.asarray(own.step, count.dtype),
                                       inner_state=own.opt_state)
  return own.replace(opt_state=opt, hyper=program_r.hyper)


def stack(states: List[Any], sharding=None) -> Any:
  """The stacked train state of runs' own states (run r at index r)."""
  out = jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *states)
  return out if sharding is None else jax.device_put(out, sharding)


def member_values(tree: Dict[str, Any], r: int, together: bool) -> Dict[str, Any]:
  """Run ``r``'s values of per-run arrays (metrics ``(R,)`` -> scalars)."""
  if not together:
    return tree
  return {k: v[r] for k, v in tree.items()}


class Member:
  """One run of the program: its directory, checkpoints, record, rows and schedule."""

  def __init__(self, config, workdir: str, run):
    self.config, self.workdir = config, workdir
    self.ckpt = Checkpointer(os.path.join(workdir, "checkpoints"),
                             keep=config.train.keep_checkpoints)
    self.schedule = make_schedule(config.optim, run.events.total)
    self.record: Optional[RunRecord] = None
    self.writer: Optional[MetricWriter] = None
    self.resumed_from: Optional[int] = None
    self.result: Optional[Result] = None  # once it diverged

  @property
  def training(self) -> bool:
    return self.result is None


def restore(members: List["Member"], template: Any, together: bool, traced_optimizer: bool,
            sharding, log):
  """The program's (stacked) state and each run's saved record, from the newest checkpoint
  step every run has (runs trained together save one after the other: a kill between two
  saves leaves the earlier step with all of them); each run's ``resumed_from`` set."""
  own = [own_state(template, r, together, traced_optimizer) for r in range(len(members))]
  got = [m.ckpt.restore_latest(own[r], log) for r, m in enumerate(members)]
  steps = [g[0] for g in got]
  if len(set(steps)) > 1:
    if None in steps or any(min(steps) not in m.ckpt.all_steps() for m in members):
      raise ConfigError(
          "runs trained together resume from one step, but their checkpoints share none ("
          + "; ".join(f"{m.workdir}: {m.ckpt.all_steps()}" for m in members)
          + "): train them apart (a sweep without --pack)")
    got = [(min(steps),) + m.ckpt.restore(own[r], min(steps)) for r, m in enumerate(members)]
  for m, g in zip(members, got):
    m.resumed_from = g[0]
  if got[0][0] is None:
    return template, [None] * len(members)
  states = [program_layout(g[1], member_state(template, r, together), traced_optimizer)
            for r, g in enumerate(got)]
  state = stack(states, sharding) if together else states[0]
  return state, [g[2] for g in got]


def every_run(at_stop, results: List[Optional[Result]], todo: List[int], step: int,
              trained: List[Optional[Result]], stop) -> List[Optional[int]]:
  """``at_stop`` asked about every run given to ``train_together`` (``results``: those
  already finished, which it leaves be), answered for the runs the program trains
  (``todo``, their ``trained`` results)."""
  everyone = list(results)
  for i, r in zip(todo, trained):
    everyone[i] = r
  answers = list(at_stop(step, everyone, stop))
  return [answers[i] for i in todo]
