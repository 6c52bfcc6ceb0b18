"""A sweep worker: claims runs from the sweep's index and trains them until none are left.

    python -m cnnlab.sweep.worker --sweep_dir=sweeps/x   (started by ``python -m cnnlab.sweep``)

Each run trains in this process with :func:`cnnlab.train.train` in
``<sweep_dir>/runs/<run_id>``, so a run claimed again after its worker died
resumes from its checkpoints. Outcomes: ``done``; ``diverged`` and ``invalid`` (a
config the lab rejects) are results too; any other exception is ``failed`` and is
retried up to ``max_attempts``. SIGTERM/SIGINT stop the current run at its next
step, checkpointed (``preempted``: the next launch resumes it), and end the worker.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import traceback
from typing import Dict, Optional

from cnnlab.signals import StopSignal
from cnnlab.sweep.index import INDEX_FILE, Index
from cnnlab.config import files as config_files
from cnnlab.config import load_config_file
from cnnlab.config import flags as cli_flags
from cnnlab.sweep.definition import SweepSpec
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


def execute(index: Index, run, sweep_dir: str, heartbeat_s: float = 30.0, log=print) -> str:
  """Trains one claimed run in this process and records its outcome; returns the status."""
  from cnnlab.train import Diverged, train
  run_id = run.run_id
  workdir = os.path.join(sweep_dir, "runs", run_id)
  beat = threading.Event()

  def heartbeat():
    beats = Index(index.path)  # sqlite connections stay in their thread
    while not beat.wait(heartbeat_s):
      beats.heartbeat(run_id, os.getpid())
    beats.close()
  threading.Thread(target=heartbeat, daemon=True).start()
  log(f"[{run_id}] start")
  try:
    result = train(run.config, workdir, log=lambda m: log(f"[{run_id}] {m}"))
    status = "done" if result.status == "done" else "preempted"
    index.finish(run_id, status, result.to_json())
  except Diverged as e:
    status = "diverged"
    index.finish(run_id, status, _read_result(workdir), str(e))
  except INVALID_CONFIG as e:
    status = "invalid"
    index.finish(run_id, status, None, f"{type(e).__name__}: {e}")
    log(f"[{run_id}] invalid: {type(e).__name__}: {' '.join(str(e).split())}")
  except Exception as e:  # noqa: BLE001 -- a crash: recorded, retried up to max_attempts
    status = "failed"
    index.finish(run_id, status, _read_result(workdir),
                 "".join(traceback.format_exception_only(type(e), e)).strip()[-2000:])
    log(f"[{run_id}] failed: {type(e).__name__}: {e}")
  finally:
    beat.set()
  log(f"[{run_id}] {status}")
  return status


def work(sweep_dir: str, max_attempts: int = 2, stale_after_s: float = 900.0,
         heartbeat_s: float = 30.0, log=print) -> int:
  """Runs claimed runs until none are left or a stop signal arrives; returns runs finished."""
  index = Index(os.path.join(sweep_dir, INDEX_FILE))
  runs = runs_of(index)
  finished = 0
  with StopSignal() as stop:  # between runs; train() takes the signals over inside a run
    while not stop.received:
      run_id = index.claim(max_attempts, stale_after_s, only=runs.keys())
      if run_id is None:
        break
      if execute(index, runs[run_id], sweep_dir, heartbeat_s, log) == "preempted":
        break
      finished += 1
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
