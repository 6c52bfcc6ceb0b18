"""Process-level setup for a run: compilation cache, determinism, multi-host, device mesh.

These touch global JAX state, so the entry point (:mod:`cnnlab.main`) calls them
once, before the first computation; :func:`cnnlab.train.train` only records what
was in effect.

Multi-host (one process per host, e.g. a TPU pod slice or a SLURM job over GPU
nodes)::

    python -m cnnlab.main --config=... --workdir=<shared path> \\
        --coordinator_address=host0:1234 --num_processes=4 --process_id=$RANK

or with no flags where JAX detects the cluster itself (Cloud TPU, SLURM, Open
MPI): pass ``--distributed``. Every process then sees all devices of the job;
the trainer shards each global batch over them (see :func:`make_mesh`). Every
host loads the data set and computes the same (seed, epoch) order, so no data
is exchanged between hosts; orbax writes one checkpoint from all processes.
"""

from __future__ import annotations

import os
from typing import Dict, Optional, Tuple

import jax
import numpy as np
from jax.sharding import Mesh

# XLA flags that make GPU runs reproducible run to run: no atomics-based
# reductions or scatters, and no timing-dependent autotuning choices.
DETERMINISTIC_XLA_FLAGS = ("--xla_gpu_deterministic_ops=true",)

_state: Dict[str, object] = {"deterministic": False, "compilation_cache_dir": None,
                             "distributed": False}


def default_cache_dir() -> str:
  """``$CNNLAB_COMPILATION_CACHE`` or ``~/.cache/cnnlab/xla``."""
  return os.environ.get("CNNLAB_COMPILATION_CACHE") or os.path.join(
      os.path.expanduser("~"), ".cache", "cnnlab", "xla")


def backends_initialized() -> bool:
  """Whether JAX has already created its backends (after which XLA flags are fixed)."""
  from jax._src import xla_bridge
  return bool(getattr(xla_bridge, "_backends", None))


def checks_on_the_cpu() -> None:
  """A process that only checks configs (shapes, traced abstractly: the sweep launcher,
  ``cnnlab.main --dry_run``) does so on the CPU, so that it never takes the accelerator
  memory the runs need. (Process-local: the workers it starts inherit nothing of it.)"""
  if not backends_initialized():
    import jax
    jax.config.update("jax_platforms", "cpu")


def enable_compilation_cache(directory: Optional[str]) -> None:
  """Persists compiled programs in ``directory`` (None or "" leaves the cache off).

  A rerun or a resumed run then loads its train step instead of compiling it again.
  """
  if not directory:
    return
  os.makedirs(directory, exist_ok=True)
  jax.config.update("jax_compilation_cache_dir", directory)
  # Cache every program that took over half a second to compile (JAX's default is 1 s).
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
  _state["compilation_cache_dir"] = directory


def set_deterministic() -> bool:
  """Adds :data:`DETERMINISTIC_XLA_FLAGS` to ``XLA_FLAGS``; True if they take effect.

  XLA reads its flags when the backends start, so this must run before the first
  JAX computation; afterwards it returns False and changes nothing.
  """
  if backends_initialized():
    return False
  flags = os.environ.get("XLA_FLAGS", "").split()
  flags += [f for f in DETERMINISTIC_XLA_FLAGS if f not in flags]
  os.environ["XLA_FLAGS"] = " ".join(flags)
  _state["deterministic"] = True
  return True


def initialize_distributed(coordinator_address: str = "", num_processes: int = 0,
                           process_id: int = -1, auto: bool = False) -> bool:
  """``jax.distributed.initialize`` from explicit values, or auto-detected with ``auto``.

  Returns whether it ran. With neither an address nor ``auto``, a single process.
  """
  if not coordinator_address and not auto:
    return False
  kwargs = {}
  if coordinator_address:
    kwargs["coordinator_address"] = coordinator_address
  if num_processes:
    kwargs["num_processes"] = num_processes
  if process_id >= 0:
    kwargs["process_id"] = process_id
  jax.distributed.initialize(**kwargs)
  _state["distributed"] = True
  return True


def make_mesh(data_parallel: bool) -> Optional[Mesh]:
  """A 1-D ``("data",)`` mesh over all devices of the job, or None for one device."""
  devices = jax.devices()
  if not data_parallel or len(devices) == 1:
    return None
  return Mesh(np.asarray(devices), ("data",))


def choose_cpu_devices(requested: int, batch_size: int, cores: Optional[int] = None
                       ) -> Tuple[int, str]:
  """How many host devices a run on XLA's CPU backend splits its batch over, and why.

  ``requested`` 0 means one per core the process may use, or the largest count below
  that divides the batch (each device must get an equal share). On two cores a
  FashionNet epoch takes 12.4 s on two host devices against 17.3 s on one
  (``benchmarks/RESULTS.md``); tiny 1-D nets gain nothing, so it is a per-config choice.
  """
  cores = cores or len(os.sched_getaffinity(0))
  if requested:
    return requested, "requested"
  n = next(k for k in range(min(cores, batch_size), 0, -1) if batch_size % k == 0)
  why = f"one per core ({cores})" if n == cores else \
      f"{n}: the largest count up to {cores} cores that divides the batch of {batch_size}"
  return n, why


def set_cpu_devices(requested: int, batch_size: int) -> Optional[int]:
  """Gives XLA's CPU backend the devices :func:`choose_cpu_devices` picks; returns the
  count, or None when JAX's backends already started (the count is then fixed)."""
  if backends_initialized():
    return None
  n, why = choose_cpu_devices(requested, batch_size)
  # The XLA flag, not jax_num_cpu_devices: with the latter (jax 0.10.2) FashionNet's
  # all-reduce over two host devices deadlocked within 200 steps; with the flag it runs.
  flags = [f for f in os.environ.get("XLA_FLAGS", "").split()
           if not f.startswith("--xla_force_host_platform_device_count")]
  os.environ["XLA_FLAGS"] = " ".join(flags + [f"--xla_force_host_platform_device_count={n}"])
  _state["cpu_devices"] = {"requested": requested, "chosen": n, "why": why}
  return n


def cpu_devices_note(requested: int) -> Optional[str]:
  """A warning when a config's ``train.cpu_devices`` could not take effect in this process
  (a sweep worker or a notebook started JAX before the run was known); else None."""
  if requested == 1 or _state.get("cpu_devices") or jax.default_backend() != "cpu":
    return None
  return (f"warning: train.cpu_devices={requested} is applied by cnnlab.main before JAX "
          f"starts; this process has {jax.local_device_count()} CPU device(s) and uses them")


def cpu_threads() -> Optional[int]:
  """The size of XLA's CPU thread pool, or None off CPU: the cores the process may use
  (JAX sizes the pool to them when its backends start; cnnlab pins only before that). It
  sets how the CPU kernels split their work, hence the rounding of every result."""
  if jax.default_backend() != "cpu":
    return None
  return len(os.sched_getaffinity(0))


def pin_to_cpus(cpus) -> None:
  """Restricts this process to ``cpus`` before JAX starts, so that XLA's CPU thread pool
  is sized to them (a sweep worker's share of the machine)."""
  if backends_initialized():
    raise RuntimeError("pin_to_cpus must run before JAX starts its backends (the thread "
                       "pool is sized then)")
  os.sched_setaffinity(0, set(cpus))


def describe() -> Dict[str, object]:
  """What the process runs with, for ``result.json``."""
  return {"xla_flags": os.environ.get("XLA_FLAGS", ""),
          "deterministic_xla_flags": _state["deterministic"] or all(
              f in os.environ.get("XLA_FLAGS", "") for f in DETERMINISTIC_XLA_FLAGS),
          "compilation_cache_dir": _state["compilation_cache_dir"],
          "cpu_devices": _state.get("cpu_devices"),
          "cpu_affinity": sorted(os.sched_getaffinity(0)), "cpu_threads": cpu_threads(),
          "process_index": jax.process_index(), "process_count": jax.process_count(),
          "device_count": jax.device_count(), "local_device_count": jax.local_device_count()}
