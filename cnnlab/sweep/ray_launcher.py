"""Running a sweep on a Ray cluster: each run is a Ray task with its resource request.

    python -m cnnlab.sweep --config=configs/sweeps/x.py --launcher=ray \\
        --ray_address=auto --ray_num_gpus=1 --sweep_dir=/shared/sweeps/x

The sweep directory must be on a file system every node sees (its SQLite index
and run directories). Each task claims its run in the index, trains it in the Ray
worker process and records the outcome, exactly as a local worker does
(:func:`cnnlab.sweep.worker.execute`). A worker process or node that dies
mid-run fails the task; Ray retries it (``max_retries``) and the retry resumes the
run from its checkpoints, since the dead worker's claim is taken over. Relaunching
the command skips finished runs as the local runner does.

SLURM: start a Ray cluster inside the allocation (``ray start --head`` on the first
node, ``ray start --address=<head>:6379`` on the others, e.g. from an sbatch script)
and pass ``--ray_address=auto``; or skip Ray and start one local runner per job in
a job array on one shared ``--sweep_dir`` — runners share the index safely, so
each array task simply takes the next unclaimed runs.
"""

from __future__ import annotations

import os
import time
from typing import Callable, Dict, List, Optional

from cnnlab.sweep import runner
from cnnlab.sweep.definition import SweepSpec
from cnnlab.sweep.index import INDEX_FILE, TERMINAL, WAITING, Index, finished, format_counts
from cnnlab.sweep.planning import Run
from cnnlab.sweep.worker import execute, groups_of, runs_of
from cnnlab.train.progress import Progress


def run_task(sweep_dir: str, run_ids: List[str], max_attempts: int, stale_after_s: float,
             poll_s: float = 1.0) -> str:
  """The Ray task: claim the runs ``run_ids`` (one, or a group the sweep packs) and train
  them. While another live worker holds them (a retry can start before the worker it
  replaces is seen dead) the task waits: it takes them over when the holder dies, and
  returns once they are finished."""
  index = Index(os.path.join(sweep_dir, INDEX_FILE))
  try:
    while True:
      taken = index.claim_group([run_ids], max_attempts, stale_after_s)
      if taken:
        break
      rows = [row for rid in run_ids for row in index.rows(run_id=rid)]
      if all(row["status"] in TERMINAL + WAITING + ("failed",) for row in rows):
        return rows[-1]["status"] if rows else "unknown"
      time.sleep(poll_s)
    runs = runs_of(index)
    return execute(index, [runs[r] for r in taken], sweep_dir,
                   log=lambda m: print(m, flush=True), max_attempts=max_attempts,
                   stale_after_s=stale_after_s)
  finally:
    index.close()


def _todo_groups(index: Index) -> List[List[str]]:
  """The unfinished runs, in the groups the sweep's spec packs them into."""
  rows = [r for r in index.rows() if r["status"] not in TERMINAL + WAITING]
  runs = {r["run_id"]: Run(r["run_id"], r["overrides"], None) for r in rows}
  return groups_of(index, runs)


def launch(spec: SweepSpec, sweep_dir: str, address: Optional[str] = None,
           num_cpus: float = 1.0, num_gpus: float = 0.0, max_attempts: int = 2,
           max_retries: int = 3, stale_after_s: float = 900.0, poll_s: float = 1.0,
           init_kwargs: Optional[Dict] = None, log=print,
           on_poll: Optional[Callable[[], None]] = None) -> Dict[str, int]:
  """Submits every unfinished run as a Ray task and waits for all; returns status counts.
  ``on_poll`` is called every ``poll_s`` while they run (a search deciding its rungs)."""
  import ray  # optional: pip install 'cnnlab[ray]'
  sweep_dir = os.path.abspath(sweep_dir)
  index = runner.prepare(spec, sweep_dir, log=log)
  todo = _todo_groups(index)
  total, done_at_start = index.count(), index.count() - sum(map(len, todo))
  if not ray.is_initialized():
    ray.init(address=address, **(init_kwargs or {}))
  task = ray.remote(num_cpus=num_cpus, num_gpus=num_gpus, max_retries=max_retries,
                    retry_exceptions=False)(run_task)
  refs = [task.remote(sweep_dir, ids, max_attempts, stale_after_s) for ids in todo]
  log(f"sweep {sweep_dir}: {total} runs, {done_at_start} already finished; "
      f"{len(refs)} Ray tasks ({num_cpus} CPU, {num_gpus} GPU each)")
  progress = Progress(total, start=done_at_start, unit="run")
  lost = 0
  for round_ in range(3):  # runs whose tasks failed for good get a new task (3 rounds)
    pending = list(refs)
    while pending:
      ready, pending = ray.wait(pending, num_returns=len(pending), timeout=poll_s)
      for ref in ready:
        try:
          ray.get(ref)
        except ray.exceptions.RayError as e:  # Ray's retries exhausted: claimable again
          lost += 1
          log(f"a Ray task failed for good: {type(e).__name__}: {str(e)[:200]}")
      progress.update(finished(index.counts()))
      if on_poll is not None:
        on_poll()
    left = _todo_groups(index)
    if not left or round_ == 2:
      break
    refs = [task.remote(sweep_dir, ids, max_attempts, stale_after_s) for ids in left]
  progress.close()
  counts = index.counts()
  log(f"sweep {sweep_dir}: {format_counts(counts)}"
      + (f"; {lost} task(s) lost (relaunch to retry)" if lost else ""))
  index.close()
  return counts

