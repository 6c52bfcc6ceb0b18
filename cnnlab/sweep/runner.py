"""The sweep launcher: expands a config's ``get_sweep()``, indexes the runs, runs them.

    python -m cnnlab.sweep --config=configs/sweeps/mnist1d_pool_act.py --workers=2
    python -m cnnlab.sweep --config=... --dry_run             # list the points

Locally it starts ``--workers`` worker processes (:mod:`cnnlab.sweep.worker`); with
accelerators each worker sees one device (``CUDA_VISIBLE_DEVICES``), or
``--runs_per_device`` workers share one. Relaunching the same command resumes the
sweep: finished runs are skipped, interrupted ones resume from their checkpoints,
failed ones are retried up to ``--max_attempts``. Several runners may share one
sweep directory (e.g. on two machines with a shared disk): each returns once the
whole sweep is finished, taking over the runs of any runner that dies. Ctrl-C / SIGTERM stop every
worker cleanly (checkpointed). ``--launcher=ray`` runs the same workers as Ray
tasks on a cluster (:mod:`cnnlab.sweep.ray_launcher`).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from typing import Dict, List, Optional

from cnnlab.sweep.index import Index, finished, format_counts
from cnnlab.sweep.spec import expand, run_id, sweep_of
from cnnlab.sweep.worker import INDEX_FILE
from cnnlab.train.config import ConfigError
from cnnlab.train.progress import Progress


def count_accelerators() -> int:
  """GPUs visible to workers, without starting JAX here (it would take GPU memory)."""
  visible = os.environ.get("CUDA_VISIBLE_DEVICES")
  if visible is not None:
    return len([d for d in visible.split(",") if d.strip()])
  if shutil.which("nvidia-smi"):
    try:
      out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20)
      return len([line for line in out.stdout.splitlines() if line.startswith("GPU")])
    except (OSError, subprocess.SubprocessError):
      return 0
  return 0


def default_sweep_dir(config_spec: str) -> str:
  path, _, arg = config_spec.partition(":")
  stem = os.path.splitext(os.path.basename(path))[0]
  return os.path.join("sweeps", f"{stem}_{arg}" if arg else stem)


def pack_seeds(points: List[Dict]) -> List[Dict]:
  """Points that differ only in consecutive seeds become one ``num_replicas`` run.

  ``{"model.pool": "max", "seed": 0}, {…, "seed": 1}, {…, "seed": 2}`` →
  ``{"model.pool": "max", "seed": 0, "train.num_replicas": 3}``: the seeds train side
  by side in one vmapped program, each as its separate run would (see the trainer);
  reports unpack the replicas into one row per seed.
  """
  groups: Dict[str, List[Dict]] = {}
  for p in points:
    key = json.dumps({k: v for k, v in p.items() if k != "seed"}, sort_keys=True, default=str)
    groups.setdefault(key, []).append(p)
  out = []
  for group in groups.values():
    seeds = sorted(p["seed"] for p in group if "seed" in p)
    if len(group) > 1 and len(seeds) == len(group) and \
        seeds == list(range(seeds[0], seeds[0] + len(seeds))):
      rest = {k: v for k, v in group[0].items() if k != "seed"}
      out.append({**rest, "seed": seeds[0], "train.num_replicas": len(seeds)})
    else:
      out.extend(group)
  return out


def prepare(config_spec: str, sweep_dir: str, packed: bool = False) -> Index:
  """Expands and validates the sweep and registers its runs in the sweep's index.

  A relaunch may add points (an extended sweep); existing runs are kept as they are.
  ``packed`` packs each point's seeds into one vmapped run (:func:`pack_seeds`).
  """
  base, points = sweep_of(config_spec)
  if packed:
    points = pack_seeds(points)
  runs = expand(base, points)  # every point validated before anything runs
  index = Index(os.path.join(sweep_dir, INDEX_FILE))
  if index.meta("packed", packed) != packed:
    raise ConfigError(f"{sweep_dir} holds this sweep {'with' if not packed else 'without'} "
                      f"--pack_seeds; relaunch it the same way (or use a new --sweep_dir)")
  index.set_meta("packed", packed)
  known = index.meta("points", [])
  ids = {run_id(p) for p in known}
  merged = known + [json.loads(json.dumps(r.overrides, default=str)) for r in runs
                    if r.run_id not in ids]
  path, _, arg = config_spec.partition(":")
  index.set_meta("config", os.path.abspath(path) + (f":{arg}" if arg else ""))
  index.set_meta("points", merged)
  index.add_runs(runs)
  return index


def describe(config_spec: str, packed: bool = False) -> List[str]:
  base, points = sweep_of(config_spec)
  points = pack_seeds(points) if packed else points
  return [f"{r.run_id}  {json.dumps(r.overrides, default=str)}" for r in expand(base, points)]


class _Stop:
  def __init__(self):
    self.signal = None

  def __call__(self, signum, frame):
    self.signal = signal.Signals(signum).name


def launch(config_spec: str, sweep_dir: str, workers: int = 1, runs_per_device: int = 1,
           devices: Optional[int] = None, max_attempts: int = 2, stale_after_s: float = 900.0,
           poll_s: float = 1.0, packed: bool = False, log=print) -> Dict[str, int]:
  """Runs the sweep to completion (or until stopped); returns the status counts."""
  index = prepare(config_spec, sweep_dir, packed)
  total = index.count()
  devices = count_accelerators() if devices is None else devices
  logs = os.path.join(sweep_dir, "logs")
  os.makedirs(logs, exist_ok=True)
  stop = _Stop()
  old = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
  procs: List[subprocess.Popen] = []
  idle = [0, -1]  # respawns without progress, finished count at the last respawn

  def start_workers():
    for k in range(workers):
      env = dict(os.environ)
      if devices:
        env["CUDA_VISIBLE_DEVICES"] = str((k // runs_per_device) % devices)
        if runs_per_device > 1:  # several runs share a GPU: no up-front allocation
          env["XLA_PYTHON_CLIENT_PREALLOCATE"] = "false"
      out = open(os.path.join(logs, f"worker-{k}.log"), "a")
      procs.append(subprocess.Popen(
          [sys.executable, "-m", "cnnlab.sweep.worker", f"--sweep_dir={sweep_dir}",
           f"--max_attempts={max_attempts}", f"--stale_after_s={stale_after_s}"],
          env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True))
      out.close()

  def working() -> bool:
    """Whether to keep watching: a worker of ours runs, or (another runner sharing this
    sweep) someone holds a run, which our workers take over should its holder die."""
    if any(p.poll() is None for p in procs):
      return True
    if stop.signal:
      return False
    left = index.outstanding(max_attempts, stale_after_s)
    if left["orphaned"]:  # a holder died (another runner's worker, or ours): take over
      done = finished(index.counts())
      # Respawning workers that make no progress (e.g. crash on start) is capped.
      idle[0] = 0 if done > idle[1] else idle[0] + 1
      idle[1] = done
      if idle[0] <= 3:
        procs.clear()
        start_workers()
        return True
    return left["held"] > 0 and not left["runnable"]

  try:
    start_workers()
    done_at_start = finished(index.counts())
    log(f"sweep {sweep_dir}: {total} runs, {done_at_start} already finished; "
        f"{workers} worker(s){f' over {devices} accelerator(s)' if devices else ''}; "
        f"logs in {logs}/")
    progress = Progress(total, start=done_at_start)
    forwarded, last = False, None
    while working():
      time.sleep(poll_s)
      if stop.signal and not forwarded:
        log(f"{stop.signal}: stopping the workers (each checkpoints its run)")
        for p in procs:
          if p.poll() is None:
            p.send_signal(signal.SIGTERM)
        forwarded = True
      counts = index.counts()
      progress.update(finished(counts))
      line = format_counts(counts)
      if not progress.enabled and line != last:
        log(f"[{finished(counts)}/{total}] {line}")
        last = line
    progress.close()
  finally:
    for s, h in old.items():
      signal.signal(s, h)
  counts = index.counts()
  log(f"sweep {sweep_dir}: {format_counts(counts)}")
  index.close()
  return counts
