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

import argparse
import json
import os
import sys
import threading
import traceback
from typing import Dict, Optional

from cnnlab.signals import StopSignal
from cnnlab.sweep.index import INDEX_FILE, Index
from cnnlab.sweep.definition import SweepSpec
from cnnlab.train.config import invalid_config_errors

__all__ = ["INDEX_FILE", "execute", "runs_of", "work"]


def runs_of(sweep_dir: str, index: Index) -> Dict[str, object]:
  """The sweep's runs by id, rebuilt from the spec and points the runner stored."""
  spec = SweepSpec.of_index(index)
  return {r.run_id: r for r in spec.runs(index.meta("points"), check=False)}


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
  except invalid_config_errors() as e:
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
  runs = runs_of(sweep_dir, index)
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


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--sweep_dir", required=True)
  p.add_argument("--max_attempts", type=int, default=2)
  p.add_argument("--stale_after_s", type=float, default=900.0)
  p.add_argument("--cpus", default="",
                 help="cores to pin this worker to (e.g. 0 or 2,3): XLA's CPU thread pool is "
                      "sized to them (see runner.worker_cpus)")
  a = p.parse_args(argv)
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
