"""The search driver: Optuna proposes, the lab's runner trains, the driver tells.

    python -m cnnlab.search --config=configs/mnist1d.py:conv1d_pool \\
        --space=optim.lr=log:1e-4:1e-1 --space=model.pool=choice:max,avg \\
        --sampler=sobol --trials=12 --seeds=3 --metric=best.test.accuracy --workers=2

Each round asks the sampler for up to ``--workers`` trials (until ``--trials`` are asked,
or the runs' summed wall time passes ``--budget_s``); each trial is its point with
every seed, ordinary runs of the sweep directory (its index, its run ids, its reports:
``cnnlab.report`` works on a search as on any sweep); the runner trains them (resumable,
local workers, or Ray tasks: ``--launcher=ray``); each trial is told the mean (or IQM)
of the metric over its seeds, and a trial with a diverged or invalid seed fails. With
``--pruner`` the runs stop at rungs where they cannot win (:mod:`cnnlab.search.rungs`).
Optuna's storage, ``search.sqlite`` in the
sweep directory, is written by this process only (SQLite's parallel writers lock).

Killed and relaunched, a search continues where it stopped: finished trials are kept,
a round's trials are all told before the next round is asked, trials asked but not told
are trained (their finished runs skipped, interrupted ones
resumed) and told, and the sampler draws as an uninterrupted search would — each ask is
seeded by the search's seed and the trial's number (quasi-random samplers index their
sequence by the trial count) — so both end with the same trials.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

from cnnlab.errors import ConfigError
from cnnlab.search import rungs
from cnnlab.search import space as spaces

STORAGE = "search.sqlite"
STUDY = "search"
OBJECTIVES = ("mean", "iqm")


@dataclasses.dataclass(frozen=True)
class Search:
  """What a search is: the sweep it extends (config, overrides, imports), its space, and
  how trials are drawn, run and scored."""
  config: str
  space: Mapping[str, spaces.Dimension]
  sampler: str = "tpe"
  trials: int = 10
  seeds: int = 1
  metric: str = "best.test.accuracy"
  objective: str = "mean"
  seed: int = 0
  overrides: Sequence[Any] = ()
  imports: Sequence[str] = ()
  budget_s: float = 0.0      # also stop asking once the runs' summed wall time passes it
  pruner: str = "none"       # "sha", "hyperband": runs stopped at rungs (rungs.py)
  min_steps: int = 0         # the first rung
  reduction: int = 3         # η: rungs min_steps·η^k, the top 1/η go on
  max_steps: int = 0         # the runs' length (hyperband's max resource)
  pack: Sequence[str] = ()   # axes whose runs train side by side ("seed", "optim.lr", ...)
  prune_in_program: str = "auto"  # workers hold programs at rungs (cnnlab.sweep.holding)

  def points(self, params: Mapping[str, Any]) -> List[Dict[str, Any]]:
    """A trial's runs: its point with each seed."""
    point = spaces.point(params, self.space)
    return [{**point, "seed": s} for s in range(self.seeds)]


def _study(search: Search, sweep_dir: str, direction: str):
  import optuna
  optuna.logging.set_verbosity(optuna.logging.WARNING)
  os.makedirs(sweep_dir, exist_ok=True)
  storage = f"sqlite:///{os.path.abspath(os.path.join(sweep_dir, STORAGE))}"
  study = optuna.create_study(storage=storage, study_name=STUDY, direction=direction,
                              sampler=spaces.sampler(search.sampler, search.seed),
                              pruner=rungs.make_pruner(search), load_if_exists=True)
  stored = study.user_attrs.get("search")
  mine = {"space": {p: dataclasses.asdict(d) for p, d in search.space.items()},
          "sampler": search.sampler, "seed": search.seed, "seeds": search.seeds,
          "metric": search.metric, "objective": search.objective}
  if search.pruner != "none":  # (absent without one: searches from before pruners equal)
    mine["pruner"] = [search.pruner, search.min_steps, search.reduction]
  mine = json.loads(json.dumps(mine))
  if stored is None:
    study.set_user_attr("search", mine)
  elif stored != mine:
    what = ", ".join(k for k in mine if mine[k] != stored.get(k))
    raise ConfigError(f"{sweep_dir} holds a search with another {what}: relaunch it the same "
                      f"way (or use a new --sweep_dir)")
  return study


def _ask(study, search: Search):
  """The next trial, drawn as an uninterrupted search would draw it (the module's notes)."""
  if search.sampler not in ("sobol", "halton"):
    study.sampler = spaces.sampler(search.sampler, search.seed * 1_000_003 + len(study.trials))
  return study.ask({p: d.distribution() for p, d in search.space.items()})


def _score(search: Search, values: List[Optional[float]]) -> Optional[float]:
  """The objective over a trial's seeds, the report's estimator of that name (None when a
  seed has no value: diverged, invalid)."""
  from cnnlab.report import stats
  if not values or any(v is None for v in values):
    return None
  return stats.point(values, search.objective)


def run(search: Search, sweep_dir: str, workers: int = 1, launch: Optional[Callable] = None,
        log=print) -> Dict[str, Any]:
  """Runs (or resumes) the search to its budget of trials; returns :func:`summary`."""
  import optuna
  from cnnlab.sweep import runner
  if search.objective not in OBJECTIVES:
    raise ConfigError(f"--objective must be one of {', '.join(OBJECTIVES)}")
  rungs.check_names(search)  # (an unknown mode would be read as "off" by the workers)
  from cnnlab.report.tables import declared_lower
  study = _study(search, sweep_dir, "minimize" if declared_lower(search.metric) else "maximize")
  running = optuna.trial.TrialState.RUNNING
  while True:
    # A round's trials (resumed: those asked and not told) are all told before the next
    # round is asked, killed or not: a relaunch asks what an uninterrupted search asks.
    batch = [(t.number, t.params) for t in study.trials if t.state == running]
    if not batch:
      spent = _spent(sweep_dir) if search.budget_s else 0.0
      while len(batch) < workers and len(asked_trials(study)) < search.trials and \
          not (search.budget_s and spent >= search.budget_s):
        trial = _ask(study, search)
        batch.append((trial.number, trial.params))
    if not batch:
      break
    batch, copies = _same_points(search, study, batch)
    if not batch:  # a round of points already tried
      _tell_copies(search, study, copies, log)
      continue
    batch, spec = _register(search, study, batch, sweep_dir, log)
    if not batch:
      _tell_copies(search, study, copies, log)
      continue  # every trial of the round was invalid (failed, named)
    train = functools.partial(launch or runner.launch, spec, sweep_dir, workers=workers,
                              log=lambda *_: None)
    if search.pruner != "none":
      if not rungs.through_rungs(search, study, batch, sweep_dir, train,
                                 lambda statuses: _values(search, sweep_dir, statuses),
                                 lambda params: _run_ids(search, params),
                                 lambda values: _score(search, values), log):
        log("the search stopped (a signal): relaunch the same command to continue")
        break
      _tell_copies(search, study, copies, log)
      continue
    train()
    values = _values(search, sweep_dir)
    for number, params in batch:
      rungs.tell_final(study, search, number, params,
                       _score(search, [values.get(i) for i in _run_ids(search, params)]), log)
    _tell_copies(search, study, copies, log)
  return summary(study, search)


def _same_points(search: Search, study, batch):
  """The batch without the trials whose point an earlier trial has (a sampler may draw a
  point again: a small categorical space); those are ``(number, the earlier's number)``,
  told the earlier's outcome once it has one (:func:`_tell_copies`): the same runs are
  not trained twice."""
  def key(params) -> str:
    return json.dumps(spaces.point(params, search.space), sort_keys=True, default=str)
  first: Dict[str, int] = {}
  for t in sorted(asked_trials(study), key=lambda t: t.number):
    first.setdefault(key(t.params), t.number)
  keep, copies = [], []
  for number, params in batch:
    earlier = first[key(params)]
    (keep.append((number, params)) if earlier == number else copies.append((number, earlier)))
  return keep, copies


def _tell_copies(search: Search, study, copies, log) -> None:
  """Tells each trial that drew an earlier trial's point that trial's outcome: its value,
  or pruned at the same rungs (their values reported), or failed."""
  import optuna
  state = optuna.trial.TrialState
  for number, earlier in copies:
    was = study.trials[earlier]
    if was.state == state.RUNNING:
      continue  # (the search stopped before the earlier was told: both go on next launch)
    trial = optuna.trial.Trial(study, study.trials[number]._trial_id)
    for step, value in sorted(was.intermediate_values.items()):
      if step not in study.trials[number].intermediate_values:
        trial.report(value, step)
    if was.state == state.COMPLETE:
      study.tell(number, was.value)
    else:
      study.tell(number, state=was.state)
    log(f"trial {number}: {spaces.point(was.params, search.space)} -> the point of trial "
        f"{earlier}: {was.state.name.lower()}"
        + (f" {was.value:.4f}" if was.value is not None else ""))


def ray_launch(address: Optional[str] = None, num_cpus: float = 1.0, num_gpus: float = 0.0
               ) -> Callable:
  """The trials' runs as Ray tasks (:func:`cnnlab.sweep.ray_launcher.launch`) in place of
  local workers: a ``launch`` for :func:`run`."""
  def launch(spec, sweep_dir: str, workers: int = 1, log=print, on_poll=None):
    from cnnlab.sweep import ray_launcher
    return ray_launcher.launch(spec, sweep_dir, address=address, num_cpus=num_cpus,
                               num_gpus=num_gpus, log=log, on_poll=on_poll)
  return launch


def asked_trials(study) -> list:
  """The trials asked so far (not the points queued for asking: ``study.enqueue_trial``)."""
  import optuna
  return [t for t in study.trials if t.state != optuna.trial.TrialState.WAITING]


def _run_ids(search: Search, params) -> List[str]:
  from cnnlab.sweep.planning import run_id
  return [run_id(p) for p in search.points(params)]


def _register(search: Search, study, batch, sweep_dir: str, log):
  """Registers the batch's runs in the sweep's index (the earlier trials' runs stay in the
  sweep's spec: finished, they are skipped); a trial whose config cannot run fails at
  once, named. Returns the trials that can train, and the spec that trains them."""
  import optuna
  from cnnlab.sweep import runner
  from cnnlab.sweep.definition import SweepSpec
  from cnnlab.sweep.index import INDEX_FILE, Index
  path = os.path.join(sweep_dir, INDEX_FILE)
  known = set()
  if os.path.exists(path):
    index = Index(path, readonly=True)
    known = {r["run_id"] for r in index.rows()}
    index.close()
  earlier = [t.params for t in asked_trials(study)
             if t.state != optuna.trial.TrialState.RUNNING
             and set(_run_ids(search, t.params)) <= known]
  base = SweepSpec.from_args(search.config, search.overrides, search.imports, search.pack)
  while batch:
    points = list({json.dumps(p, sort_keys=True, default=str): p for params in
                   earlier + [b[1] for b in batch] for p in search.points(params)}.values())
    spec = dataclasses.replace(base, points=tuple(json.dumps(p) for p in points))
    try:
      runner.prepare(spec, sweep_dir, log=lambda *_: None).close()
      return batch, spec
    except runner.InvalidPoints as e:
      bad = {line.split(":")[0] for line in e.lines}
      for number, params in [b for b in batch if set(_run_ids(search, b[1])) & bad]:
        study.tell(number, state=optuna.trial.TrialState.FAIL)
        why = next(line for line in e.lines if line.split(":")[0] in _run_ids(search, params))
        log(f"trial {number}: {spaces.point(params, search.space)} -> invalid: {why}")
        batch = [b for b in batch if b[0] != number]
  return batch, None


def _spent(sweep_dir: str) -> float:
  """The compute the search's runs have taken: their summed wall time (every process)."""
  from cnnlab.report import tables
  if not os.path.exists(os.path.join(sweep_dir, "index.sqlite")):
    return 0.0
  return sum(float(r["result"].wall_time_s) for r in tables.collect(sweep_dir)
             if r.get("result") is not None)


def _values(search: Search, sweep_dir: str, statuses: Sequence[str] = ("done",)
            ) -> Dict[str, Optional[float]]:
  """Each run's metric (of the runs in ``statuses``: finished, or paused at a rung); a
  metric none of them reports (a misspelled ``--metric``) stops the search naming the
  metrics there are, before any trial is told a failure for it."""
  from cnnlab.report import tables
  records = [r for r in tables.collect(sweep_dir) if r["status"] in statuses]
  tables.check_metrics([{**r, "status": "done"} for r in records], [search.metric])
  return {r["run_id"]: tables.record_value(r, search.metric) for r in records}


def summary(study, search: Search) -> Dict[str, Any]:
  import optuna
  complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
  trials = [{"number": t.number, "point": spaces.point(t.params, search.space),
             "state": t.state.name.lower(), "value": t.value,
             "runs": _run_ids(search, t.params)} for t in asked_trials(study)]
  for t, out in zip(asked_trials(study), trials):
    if t.intermediate_values:  # at its rungs (a pruned trial: the last is where it stopped)
      out["rungs"] = {int(k): v for k, v in sorted(t.intermediate_values.items())}
  best = None
  if complete:
    b = study.best_trial
    best = {"number": b.number, "point": spaces.point(b.params, search.space),
            "value": b.value}
  return {"best": best, "trials": trials}
