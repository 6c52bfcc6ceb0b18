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
from typing import Callable, Dict, List, Optional, Sequence

from cnnlab.errors import with_imports_hint
from cnnlab.signals import StopSignal
from cnnlab.sweep.index import INDEX_FILE, Index, finished, format_counts
from cnnlab.sweep.definition import SweepSpec
from cnnlab.sweep.planning import run_id
from cnnlab.config import ConfigError
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


def pack_axes(text: Optional[str], seeds: bool = False, devices: Optional[int] = None,
              launcher: str = "local") -> tuple:
  """The axes trained side by side: ``--pack`` (comma-separated; ``none``), ``seeds``
  (``--pack_seeds``), or by default the seeds where local workers have accelerators
  (on XLA's CPU backend three seeds side by side measured slower than three runs)."""
  if text is not None:
    return tuple(x.strip() for x in text.split(",") if x.strip() and x.strip() != "none")
  if seeds:
    return ("seed",)
  devices = count_accelerators() if devices is None else devices
  return ("seed",) if devices and launcher == "local" else ()


def default_sweep_dir(config_spec: str) -> str:
  """``sweeps/<file>`` or ``sweeps/<file>_<args>`` (``budget=cpu`` → ``budget-cpu``)."""
  path, _, arg = config_spec.partition(":")
  stem = os.path.splitext(os.path.basename(path))[0]
  arg = arg.replace("=", "-").replace(",", "_")
  return os.path.join("sweeps", f"{stem}_{arg}" if arg else stem)


class InvalidPoints(ConfigError):
  """Sweep points that cannot run: ``lines`` holds one ``<run id>: <reason>`` each."""

  def __init__(self, lines: List[str], total: int):
    self.lines = lines
    super().__init__(f"{len(lines)} of {total} sweep points cannot run (nothing was launched): "
                     + "; ".join(lines))


def checked_runs(spec: SweepSpec):
  """The sweep's runs, each config checked as ``cnnlab.main`` would check it before
  training (:func:`cnnlab.train.run.check_runnable`: fields, op names and options, the
  model built on the data's shape); :class:`InvalidPoints` lists every point that fails."""
  from cnnlab.errors import INVALID_CONFIG
  from cnnlab.train.run import check_runnable
  runs = spec.runs(check=False)
  bad, models = [], {}
  for r in runs:
    try:
      check_runnable(r.config, models)
    except INVALID_CONFIG as e:
      bad.append(f"{r.run_id}: {with_imports_hint(e, spec.imports)}")
    except Exception:  # noqa: BLE001 -- a crash (a bug in a model) is no config error: the
      pass  # run records it as failed, with its traceback, and retries it
  if bad:
    raise InvalidPoints(bad, len(runs))
  return runs


def prepare(spec: SweepSpec, sweep_dir: str, log=print) -> Index:
  """Expands and checks the sweep and registers its runs in the sweep's index.

  Every point is checked before anything is written (:func:`checked_runs`). A relaunch
  may add points (an extended sweep); existing runs are kept as they are. A relaunch with
  another spec (other overrides, imports or packing) is accepted when it changes only runs
  that never ran (pending, or invalid: a corrected override); else it is refused, naming
  what differs.
  """
  if not isinstance(spec, SweepSpec):
    raise TypeError(f"a sweep is launched from a SweepSpec (SweepSpec.from_args(config, ...)),"
                    f" not {type(spec).__name__}")
  runs = checked_runs(spec)  # every point checked before anything runs
  index = Index(os.path.join(sweep_dir, INDEX_FILE))
  stored = SweepSpec.of_index(index)
  known = index.meta("points", [])
  if stored is not None and spec.differences(stored):
    try:
      known = _relaunch_otherwise(index, spec, stored, runs, known, sweep_dir, log)
    except ConfigError:
      index.close()
      raise
  ids = {run_id(p) for p in known}
  merged = known + [json.loads(json.dumps(r.overrides, default=str)) for r in runs
                    if r.run_id not in ids]
  index.set_meta("spec", spec.to_json())  # (older sweeps kept the config and a pack flag)
  index.set_meta("points", merged)
  index.add_runs(runs)
  return index


NEVER_RAN = ("pending", "invalid")


def _relaunch_otherwise(index: Index, spec: SweepSpec, stored: SweepSpec, runs, known,
                        sweep_dir: str, log) -> List[Dict]:
  """A relaunch with another spec: accepted when every run that started keeps its config
  (the never-run ones are re-registered with the new one); returns the points kept."""
  rows = {r["run_id"]: r for r in index.rows()}
  new = {r.run_id: json.loads(r.config.to_json_best_effort()) for r in runs}
  started = {rid for rid, r in rows.items() if r["status"] not in NEVER_RAN}
  changed = sorted(rid for rid in started if new.get(rid) != rows[rid]["config"])
  what = "; ".join(spec.differences(stored))
  if changed:
    raise ConfigError(f"{sweep_dir} holds this sweep launched otherwise — "
                      f"{what}; {len(changed)} run(s) that "
                      f"already started would change (e.g. {changed[0]}): relaunch it the "
                      f"same way (or use a new --sweep_dir)")
  dropped = [rid for rid, r in rows.items() if r["status"] in NEVER_RAN]
  index.remove_runs(dropped)
  log(f"sweep {sweep_dir}: relaunched with {what}: "
      + (f"the {len(dropped)} run(s) that never ran take the new settings" if dropped else
         "no run changes"))
  return [p for p in known if run_id(p) in started]


def describe(spec: SweepSpec, sweep_dir: Optional[str] = None, workers: int = 1) -> List[str]:
  """The points with their run ids, an estimate of the time left from the sweep
  directory's finished runs (when there are any), and the programs they train in when
  the spec packs them."""
  runs = checked_runs(spec)
  lines = [f"{r.run_id}  {json.dumps(r.overrides, default=str)}" for r in runs]
  lines.append(f"{len(runs)} runs; " + estimate(sweep_dir, [r.run_id for r in runs], workers))
  if spec.pack:
    groups = spec.groups(runs)
    sizes = sorted({len(g) for g in groups})
    lines.append(f"trained side by side by {', '.join(spec.pack)}: {len(groups)} "
                 f"program(s) of {'/'.join(map(str, sizes))} run(s)")
  return lines


def estimate(sweep_dir: Optional[str], run_ids: List[str], workers: int) -> str:
  path = os.path.join(sweep_dir, INDEX_FILE) if sweep_dir else None
  if not path or not os.path.exists(path):
    return "no time estimate (no finished run in this sweep directory yet)"
  index = Index(path, readonly=True)
  rows = {r["run_id"]: r for r in index.rows()}
  index.close()
  times = [r["result"]["wall_time_s"] for r in rows.values()
           if r["status"] == "done" and r["result"] and r["result"].get("wall_time_s")]
  left = [rid for rid in run_ids if rows.get(rid, {}).get("status") not in ("done", "diverged",
                                                                            "invalid")]
  if not times:
    return f"{len(left)} to run; no time estimate (no finished run yet)"
  mean = sum(times) / len(times)
  return (f"{len(left)} to run; about {mean * len(left) / max(workers, 1) / 60:.1f} min with "
          f"{workers} worker(s) ({mean:.0f} s a run, the mean of {len(times)} finished)")


PIN_CHOICES = ("off", "share")


def worker_cpus(workers: int, devices: int, pin: str = "off",
                cpus: Optional[Sequence[int]] = None) -> List[Optional[List[int]]]:
  """The cores each local worker is pinned to (None: not pinned), on XLA's CPU backend.

  Unpinned (``off``, the default), every worker's XLA thread pool spans all cores.
  ``share`` pins each worker to its share of the cores before JAX starts, which sizes its
  thread pool to the share: the 60-run MNIST-1D pooling benchmark took 345 s against
  385 s on 2 cores (``benchmarks/RESULTS.md``, NOTES §8), but the pool's size sets the CPU
  kernels' rounding, so a run's numbers are those of a run on that many cores
  (``taskset -c 0 python -m cnnlab.main ...`` reproduces one), not those of an unpinned
  run. More workers than cores get one core each. result.json records
  ``runtime.cpu_affinity`` and ``runtime.cpu_threads``.
  """
  if pin not in PIN_CHOICES:
    raise ConfigError(f"--pin_workers: unknown {pin!r}; valid: {', '.join(PIN_CHOICES)}")
  cpus = sorted(cpus if cpus is not None else os.sched_getaffinity(0))
  n = len(cpus)
  if pin == "off" or devices or workers < 2:
    return [None] * workers
  if workers > n:
    return [[cpus[k % n]] for k in range(workers)]
  return [cpus[k * n // workers:(k + 1) * n // workers] for k in range(workers)]


class _Workers:
  """The runner's worker processes, each logging to ``<sweep_dir>/logs/worker-<k>.log``."""

  def __init__(self, sweep_dir: str, workers: int, runs_per_device: int, devices: int,
               max_attempts: int, stale_after_s: float, pin: str = "off"):
    self.sweep_dir, self.workers, self.runs_per_device = sweep_dir, workers, runs_per_device
    self.devices, self.max_attempts, self.stale_after_s = devices, max_attempts, stale_after_s
    self.cpus = worker_cpus(workers, devices, pin)
    self.logs = os.path.join(sweep_dir, "logs")
    os.makedirs(self.logs, exist_ok=True)
    self.procs: List[subprocess.Popen] = []

  def start(self) -> None:
    self.procs = []
    for k in range(self.workers):
      env = dict(os.environ)
      if self.devices:
        env["CUDA_VISIBLE_DEVICES"] = str((k // self.runs_per_device) % self.devices)
        if self.runs_per_device > 1:  # several runs share a GPU: no up-front allocation
          env["XLA_PYTHON_CLIENT_PREALLOCATE"] = "false"
      pin = [f"--cpus={','.join(map(str, self.cpus[k]))}"] if self.cpus[k] else []
      with open(os.path.join(self.logs, f"worker-{k}.log"), "a") as out:
        self.procs.append(subprocess.Popen(
            [sys.executable, "-m", "cnnlab.sweep.worker", f"--sweep_dir={self.sweep_dir}",
             f"--max_attempts={self.max_attempts}", f"--stale_after_s={self.stale_after_s}",
             *pin],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True))

  def alive(self) -> bool:
    return any(p.poll() is None for p in self.procs)

  def stop(self) -> None:
    """SIGTERM to every live worker: each checkpoints its run and exits."""
    for p in self.procs:
      if p.poll() is None:
        p.send_signal(signal.SIGTERM)


def _keep_watching(pool: _Workers, index: Index, stopping: bool, respawns: List[int]) -> bool:
  """Whether to keep watching: a worker of ours runs, or (another runner sharing this
  sweep) someone holds a run, which our workers take over should its holder die."""
  if pool.alive():
    return True
  if stopping:
    return False
  left = index.outstanding(pool.max_attempts, pool.stale_after_s)
  if left["orphaned"]:  # a holder died (another runner's worker, or ours): take over
    done = finished(index.counts())
    # Respawning workers that make no progress (e.g. crash on start) is capped at 3.
    respawns[0] = 0 if done > respawns[1] else respawns[0] + 1
    respawns[1] = done
    if respawns[0] <= 3:
      pool.start()
      return True
  return left["held"] > 0 and not left["runnable"]


def launch(spec: SweepSpec, sweep_dir: str, workers: int = 1, runs_per_device: int = 1,
           devices: Optional[int] = None, max_attempts: int = 2, stale_after_s: float = 900.0,
           poll_s: float = 1.0, pin: str = "off", log=print,
           on_poll: Optional[Callable[[], None]] = None) -> Dict[str, int]:
  """Runs the sweep to completion (or until stopped); returns the status counts.
  ``pin``: :func:`worker_cpus`; ``on_poll`` is called every ``poll_s`` while workers run
  (a search deciding its rungs)."""
  index = prepare(spec, sweep_dir, log=log)
  total = index.count()
  devices = count_accelerators() if devices is None else devices
  pool = _Workers(sweep_dir, workers, runs_per_device, devices, max_attempts, stale_after_s,
                  pin)
  respawns = [0, -1]  # respawns without progress, finished count at the last respawn
  with StopSignal() as stop:
    pool.start()
    done_at_start = finished(index.counts())
    pinned = f", pinned to cores {' | '.join(','.join(map(str, c)) for c in pool.cpus)}" \
        if pool.cpus[0] else ""
    log(f"sweep {sweep_dir}: {total} runs, {done_at_start} already finished; "
        f"{workers} worker(s){f' over {devices} accelerator(s)' if devices else ''}{pinned}; "
        f"logs in {pool.logs}/")
    progress = Progress(total, start=done_at_start, unit="run")
    forwarded, last = False, None
    while _keep_watching(pool, index, bool(stop.received), respawns):
      time.sleep(poll_s)
      if stop.received and not forwarded:
        log(f"{stop.received}: stopping the workers (each checkpoints its run)")
        pool.stop()
        forwarded = True
      counts = index.counts()
      progress.update(finished(counts))
      line = format_counts(counts)
      if not progress.enabled and line != last:
        log(f"[{finished(counts)}/{total}] {line}, {progress.suffix()}")
        last = line
      if on_poll is not None and not stop.received:
        on_poll()
    progress.close()
  counts = index.counts()
  log(f"sweep {sweep_dir}: {format_counts(counts)}")
  index.close()
  return counts
