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
from typing import Dict, Optional

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


def describe() -> Dict[str, object]:
  """What the process runs with, for ``result.json``."""
  return {"xla_flags": os.environ.get("XLA_FLAGS", ""),
          "deterministic_xla_flags": _state["deterministic"] or all(
              f in os.environ.get("XLA_FLAGS", "") for f in DETERMINISTIC_XLA_FLAGS),
          "compilation_cache_dir": _state["compilation_cache_dir"],
          "process_index": jax.process_index(), "process_count": jax.process_count(),
          "device_count": jax.device_count(), "local_device_count": jax.local_device_count()}
