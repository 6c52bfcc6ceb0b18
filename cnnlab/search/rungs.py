"""Successive halving and Hyperband in a search: runs stopped where they cannot win.

    python -m cnnlab.search --config=... --space=... --pruner=sha --min_steps=300 \\
        --reduction_factor=3

A trial's runs (its seeds) train to a rung, ``min_steps · η^k`` steps (``η``: the
reduction factor), and stop there checkpointed (``paused`` in the sweep's index: the
runner leaves them be). The driver reports the trial's objective at that step — the mean
(or IQM) over its seeds of ``--metric`` as each run's result stands at its rung — to
Optuna's pruner (``SuccessiveHalvingPruner``, ``HyperbandPruner``: the decisions are
Optuna's, not re-implemented here), which keeps the top ``1/η`` of the trials that
reached the rung. A kept trial's runs resume from their checkpoints to the next rung
(``Index.set_stop``), exactly as an uninterrupted run goes on; a pruned trial's runs end
there for good, ``pruned`` in the index with the note ``pruned at step k``, their
partial curves in ``metrics.jsonl`` and their results at the rung in ``result.json``.
A trial whose runs reach the end is told its final objective.

Rungs must be evaluation steps (``min_steps`` a multiple of ``train.eval_every_steps``):
a rung's value is an evaluation, not a stale one. Runs trained side by side (``--pack``)
stop together at their trial's rung; with ``--prune_in_program`` their worker holds the
program there for the decision, and pruned runs are masked inside it
(:mod:`cnnlab.sweep.holding`); else each rung ends the program (each run its own process
on CPU) and the next resumes from checkpoints.

Killed and relaunched, the search goes on from the index: a trial's rung is its runs'
``stop_at``; runs paused there are reported (a rung already reported is not reported
again) and decided. (A kill between a decision and its record — no training between —
decides that rung again.)
"""

from __future__ import annotations

import functools
import os
from typing import Any, Callable, Dict, List, Optional, Tuple

from cnnlab.errors import ConfigError

PRUNERS = ("none", "sha", "hyperband")


def make_pruner(search):
  """Optuna's pruner for ``search.pruner`` (None: none)."""
  import optuna
  if search.pruner == "none":
    return None
  if search.pruner == "sha":
    return optuna.pruners.SuccessiveHalvingPruner(
        min_resource=search.min_steps, reduction_factor=search.reduction,
        min_early_stopping_rate=0)
  return optuna.pruners.HyperbandPruner(min_resource=search.min_steps,
                                        max_resource=search.max_steps,
                                        reduction_factor=search.reduction)


def check_names(search) -> None:
  """ConfigError for an unknown pruner or ``prune_in_program`` mode, naming the valid ones."""
  if search.pruner not in PRUNERS:
    raise ConfigError(f"--pruner: unknown {search.pruner!r}; valid: {', '.join(PRUNERS)}")
  from cnnlab.sweep.holding import MODES
  if search.prune_in_program not in MODES:
    raise ConfigError(f"--prune_in_program: unknown {search.prune_in_program!r}; valid: "
                      f"{', '.join(MODES)}")


def check(search, base_config) -> None:
  """ConfigError for rungs that are not evaluation steps, or a pruner without its steps
  (and :func:`check_names`)."""
  check_names(search)
  if search.pruner == "none":
    if search.min_steps:
      raise ConfigError(f"--min_steps={search.min_steps} sets the first rung of a pruner: "
                        f"give --pruner={' or --pruner='.join(PRUNERS[1:])}")
    return
  every = int(base_config.train.eval_every_steps or 0)
  if search.min_steps <= 0 or search.reduction < 2:
    raise ConfigError(f"--pruner={search.pruner} needs --min_steps > 0 (the first rung) and "
                      f"--reduction_factor >= 2")
  if not every or search.min_steps % every:
    raise ConfigError(f"--min_steps={search.min_steps}: a rung must be an evaluation step, "
                      f"a multiple of config.train.eval_every_steps ({every})")
  if search.max_steps and search.min_steps >= search.max_steps:
    raise ConfigError(f"--min_steps={search.min_steps}: the first rung is at or past the runs' "
                      f"end (config.train.num_steps={search.max_steps}): nothing could be "
                      f"pruned")
  if search.pruner == "hyperband" and not search.max_steps:
    raise ConfigError("--pruner=hyperband needs the runs' length in steps: set "
                      "config.train.num_steps")


def through_rungs(search, study, batch: List[Tuple[int, Dict]], sweep_dir: str,
                  train: Callable, values: Callable, run_ids: Callable, score: Callable,
                  log) -> bool:
  """Trains the batch's trials rung by rung until each is told (complete, pruned or
  failed); False when the runner was stopped first (the search stops: relaunch it).
  Rungs are decided while the runner trains (workers holding their programs at a rung
  wait for it: :mod:`cnnlab.sweep.holding`) and once it returns."""
  from cnnlab.signals import StopSignal
  from cnnlab.sweep import holding
  from cnnlab.sweep.index import INDEX_FILE, Index
  index = Index(os.path.join(sweep_dir, INDEX_FILE))
  try:
    index.set_meta(holding.META, search.prune_in_program)
    live = dict(batch)
    for params in live.values():  # a resumed trial keeps its rung
      ids = run_ids(params)
      stops = [r.get("stop_at") for i in ids for r in index.rows(run_id=i)]
      if not any(stops):
        index.set_stop(ids, search.min_steps)
    rung = functools.partial(_decide_round, search, study, index, live, values, run_ids,
                             score, log)
    with StopSignal() as stop:  # (the runner's own handler passes a signal on to it)
      while live:
        train(on_poll=lambda: stop.received or rung(final=False))
        if stop.received or not rung(final=True):
          return False  # stopped: runs left preempted or paused, the search resumes later
    return True
  finally:
    index.close()


# A trial's runs are at rest (reached a rung, or ended) in these; "failed" only once the
# runner has returned (until then a failed run may be retried).
_AT_REST = ("paused", "done", "diverged", "invalid", "pruned")


def _decide_round(search, study, index, live: Dict[int, Dict], values: Callable,
                  run_ids: Callable, score: Callable, log, final: bool) -> bool:
  """Once every live trial's runs are at rest, decides them all, in trial order (as an
  uninterrupted search does, whether the runs were held or trained apart): a failed trial
  fails, a finished one is told its objective, one at a rung is reported there and
  pruned or raised. False (nothing decided) while a trial's runs are not at rest.
  While the runner trains (not ``final``) only a round a worker holds is decided: runs
  raised there are its, or claimed by it once its program ends."""
  import optuna
  rows = {r["run_id"]: r for r in index.rows()}
  mine = [rows[i] for params in live.values() for i in run_ids(params)]
  rest = _AT_REST + (("failed",) if final else ())
  if not all(r["status"] in rest for r in mine) or not (
      final or any(r["status"] == "paused" and r["pid"] is not None for r in mine)):
    return False
  at = values(("done", "paused", "pruned"))
  for number in sorted(live):
    params = live[number]
    ids = run_ids(params)
    status = {rows[i]["status"] for i in ids}
    if status & {"diverged", "invalid", "failed"}:
      index.prune([i for i in ids if rows[i]["status"] == "paused"], "its trial failed")
      study.tell(number, state=optuna.trial.TrialState.FAIL)
      log(f"trial {number}: {_point(search, params)} -> failed (a seed diverged)")
    elif status == {"done"}:
      tell_final(study, search, number, params, score([at.get(i) for i in ids]), log)
    else:
      step = max(rows[i]["stop_at"] for i in ids  # (pruned: killed before the trial was told)
                 if rows[i]["status"] in ("paused", "pruned"))
      if not _decide(search, study, index, number, ids, step,
                     score([at.get(i) for i in ids]), log, params):
        continue  # promoted: on to the next rung
    del live[number]
  return True


def _decide(search, study, index, number: int, ids: List[str], step: int,
            value: Optional[float], log, params) -> bool:
  """Reports the trial's value at its rung and carries out the pruner's decision; True
  when the trial is done with (pruned, or failed for want of a value)."""
  import optuna
  if value is None:
    index.prune(ids, f"no value of the metric at step {step}")
    study.tell(number, state=optuna.trial.TrialState.FAIL)
    log(f"trial {number}: {_point(search, params)} -> failed (no value at step {step})")
    return True
  trial = optuna.trial.Trial(study, study.trials[number]._trial_id)
  if step not in study.trials[number].intermediate_values:
    trial.report(value, step)
  if trial.should_prune():
    index.prune(ids, f"pruned at step {step}")
    study.tell(number, state=optuna.trial.TrialState.PRUNED)
    log(f"trial {number}: {_point(search, params)} -> pruned at step {step} "
        f"({_shown(value)})")
    return True
  index.set_stop(ids, step * search.reduction)
  log(f"trial {number}: {_point(search, params)} -> {_shown(value)} at step {step}: "
      f"on to step {step * search.reduction}")
  return False


def tell_final(study, search, number: int, params, value: Optional[float], log) -> None:
  """Tells a trial that ran to the end its objective (None: a seed without a value,
  diverged: the trial failed), and logs it."""
  import optuna
  if value is None:
    study.tell(number, state=optuna.trial.TrialState.FAIL)
  else:
    study.tell(number, value)
  log(f"trial {number}: {_point(search, params)} -> {_shown(value)}")


def _point(search, params) -> Dict[str, Any]:
  from cnnlab.search import space
  return space.point(params, search.space)


def _shown(value: Optional[float]) -> str:
  return "failed (a seed diverged)" if value is None else f"{value:.4f}"
