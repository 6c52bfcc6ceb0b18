"""A sweep worker: claims runs from the sweep's index and trains them until none are left.

    python -m cnnlab.sweep.worker --sweep_dir=sweeps/x   (started by ``python -m cnnlab.sweep``)

Each run trains in this process in ``<sweep_dir>/runs/<run_id>``, so a run claimed
again after its worker died resumes from its checkpoints; the runs the sweep packs
(``--pack``) are claimed together and train side by side as one program
(:func:`cnnlab.train.train_together`), each still writing its own directory.
Outcomes: ``done``; ``diverged`` and ``invalid`` (a config the lab rejects) are results
too; any other exception is ``failed`` and is retried up to ``max_attempts``.
SIGTERM/SIGINT stop the current run at its next step, checkpointed (``preempted``: the
next launch resumes it), and end the worker. At a search's rung the worker may hold its
program for the search's decision (:mod:`cnnlab.sweep.holding`).
"""

from __future__ import annotations

import json
import os
import sys
import threading
import traceback
from typing import Dict, List, Optional, Sequence

from cnnlab.signals import StopSignal
from cnnlab.sweep.index import INDEX_FILE, Index
from cnnlab.config import files as config_files
from cnnlab.config import load_config_file
from cnnlab.config.overrides import apply as apply_overrides
from cnnlab.config import flags as cli_flags
from cnnlab.sweep.definition import SweepSpec
from cnnlab.sweep.holding import Hold, holds
from cnnlab.sweep.planning import Run
from cnnlab.errors import INVALID_CONFIG

__all__ = ["INDEX_FILE", "execute", "runs_of", "work"]


def runs_of(index: Index) -> Dict[str, Run]:
  """The sweep's runs by id, each with the resolved config the runner checked and stored in
  the index: the one source of truth (``get_config``/``get_sweep`` are not called again).
  What the user registers is loaded first: the ``--imports``, and the config file's own
  top-level code (a model defined beside its sweep), where the file is still there."""
  from cnnlab import imports
  spec = SweepSpec.of_index(index)
  if spec is not None:
    imports.load(spec.imports)
    config_file = spec.config.partition(":")[0]
    if os.path.isfile(config_file):
      load_config_file(config_file)
  return {r["run_id"]: Run(r["run_id"], r["overrides"], config_files.from_json(r["config"]))
          for r in index.rows()}


def _read_result(workdir: str) -> Optional[Dict]:
  path = os.path.join(workdir, "result.json")
  if os.path.exists(path):
    with open(path) as f:
      return json.load(f)
  return None


def groups_of(index: Index, runs: Dict[str, Run]) -> List[List[str]]:
  """The ids of ``runs`` that train side by side, as the sweep's spec packs them."""
  spec = SweepSpec.of_index(index)
  return spec.groups(list(runs.values())) if spec is not None else [[r] for r in runs]


def execute(index: Index, runs: Sequence[Run], sweep_dir: str, heartbeat_s: float = 30.0,
            log=print, max_attempts: int = 2, stale_after_s: float = 900.0) -> str:
  """Trains claimed runs in this process (several: side by side, as one program, in
  groups at the same step) and records each one's outcome; returns "preempted" if one
  was stopped, else the last status."""
  from cnnlab.train.checkpoint import latest_step
  at: Dict[Optional[int], List[Run]] = {}
  for r in runs:  # runs trained together resume from one step: those at the same one
    at.setdefault(latest_step(os.path.join(sweep_dir, "runs", r.run_id, "checkpoints")),
                  []).append(r)
  statuses = [_execute(index, group, sweep_dir, heartbeat_s, log, max_attempts, stale_after_s)
              for group in at.values()]
  return "preempted" if "preempted" in statuses else statuses[-1]


def _execute(index: Index, runs: Sequence[Run], sweep_dir: str, heartbeat_s: float,
             log, max_attempts: int, stale_after_s: float) -> str:
  from cnnlab.train import train_together
  ids = [r.run_id for r in runs]
  stops = {rid: row.get("stop_at") for rid in ids for row in index.rows(run_id=rid)}
  name = ids[0] if len(ids) == 1 else f"{ids[0]} +{len(ids) - 1} side by side"
  hold = Hold(index, ids, stops, max_attempts, stale_after_s,
              log=lambda m: log(f"[{name}] {m}")) \
      if any(stops.values()) and holds(index, len(ids)) else None
  mine = lambda: [rid for rid in ids if hold is None or rid not in hold.left]  # noqa: E731
  workdirs = [os.path.join(sweep_dir, "runs", rid) for rid in ids]
  beat = threading.Event()

  def heartbeat():
    beats = Index(index.path)  # sqlite connections stay in their thread
    while not beat.wait(heartbeat_s):
      for rid in ids:
        beats.heartbeat(rid, os.getpid())
    beats.close()
  threading.Thread(target=heartbeat, daemon=True).start()
  log(f"[{name}] start")
  statuses = []
  try:
    results = train_together([_stopping(r.config, stops.get(r.run_id)) for r in runs], workdirs,
                             log=lambda m: log(f"[{name}] {m}"), at_stop=hold,
                             stop_at_resume=any(stops.values()))
    for rid, result in zip(ids, results):
      if rid not in mine():  # its status is the hold's (pruned while held, or let go)
        statuses.append(hold.left[rid])
        continue
      status = {"done": "done", "diverged": "diverged"}.get(result.status, "preempted")
      if status == "preempted" and stops.get(rid) and result.stopped_by == "stop_after_steps":
        status = "paused"  # at a search's rung: it waits for the search
      index.finish(rid, status, result.to_json(),
                   f"the loss is not finite at step {result.diverged_at_step}"
                   if status == "diverged" else None)
      statuses.append(status)
  except INVALID_CONFIG as e:
    for rid in mine():
      index.finish(rid, "invalid", None, f"{type(e).__name__}: {e}")
    statuses = ["invalid"]
    log(f"[{name}] invalid: {type(e).__name__}: {' '.join(str(e).split())}")
  except Exception as e:  # noqa: BLE001 -- a crash: recorded, retried up to max_attempts
    why = "".join(traceback.format_exception_only(type(e), e)).strip()[-2000:]
    for rid, w in zip(ids, workdirs):
      if rid in mine():
        index.finish(rid, "failed", _read_result(w), why)
    statuses = ["failed"]
    log(f"[{name}] failed: {type(e).__name__}: {e}")
  finally:
    beat.set()
  log(f"[{name}] " + ", ".join(sorted(set(statuses))))
  return "preempted" if "preempted" in statuses else statuses[-1]


def _stopping(config, stop_at: Optional[int]):
  """The run's config, stopping at ``stop_at`` (a search's rung; the index's config is
  unchanged: ``train.stop_after_steps`` changes no number the run computes)."""
  if not stop_at:
    return config
  return apply_overrides(config, {"train.stop_after_steps": int(stop_at)}, text=False)


def work(sweep_dir: str, max_attempts: int = 2, stale_after_s: float = 900.0,
         heartbeat_s: float = 30.0, log=print) -> int:
  """Runs claimed runs until none are left or a stop signal arrives; returns runs finished."""
  index = Index(os.path.join(sweep_dir, INDEX_FILE))
  runs = runs_of(index)
  groups = groups_of(index, runs)
  finished = 0
  with StopSignal() as stop:  # between runs; train() takes the signals over inside a run
    while not stop.received:
      taken = index.claim_group(groups, max_attempts, stale_after_s)
      if not taken:
        break
      if execute(index, [runs[r] for r in taken], sweep_dir, heartbeat_s, log, max_attempts,
                 stale_after_s) == "preempted":
        break
      finished += len(taken)
  index.close()
  return finished


def _define(fv) -> None:
  define = cli_flags.definer(fv)
  define("string", "sweep_dir", None, "the sweep directory (its index.sqlite)")
  define("integer", "max_attempts", 2, "tries per failing run", lower_bound=1)
  define("float", "stale_after_s", 900.0, "a running run whose heartbeat is older is taken over")
  define("string", "cpus", "", "cores to pin this worker to (e.g. 0 or 2,3): XLA's CPU "
         "thread pool is sized to them (see runner.worker_cpus)")


def main(argv=None) -> int:
  from cnnlab.errors import USER_ERRORS, report
  argv = sys.argv[1:] if argv is None else argv
  try:
    a, _, _ = cli_flags.parse(_define, argv, prog="python -m cnnlab.sweep.worker",
                              doc=__doc__, required=("sweep_dir",))
  except USER_ERRORS as e:
    return report("worker", e)
  from cnnlab.train import runtime
  if a.cpus:
    runtime.pin_to_cpus([int(c) for c in a.cpus.split(",")])
  # Runs of the same shapes (the seeds of a point) load their programs instead of compiling.
  runtime.enable_compilation_cache(runtime.default_cache_dir())
  work(a.sweep_dir, a.max_attempts, a.stale_after_s,
       log=lambda m: print(m, flush=True))
  from cnnlab.train.checkpoint import quiet_exit_after_failed_restore
  quiet_exit_after_failed_restore()
  return 0


if __name__ == "__main__":
  sys.exit(main())
