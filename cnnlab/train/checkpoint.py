"""Checkpoints: the whole train state as msgpack, written atomically.

A checkpoint is ``checkpoints/ckpt_<step>.msgpack``; it is written to a temporary
file and renamed, so a run killed mid-write leaves the previous checkpoint intact.
The newest ``keep`` checkpoints are kept. Restoring needs a template state (from
the same config), whose structure the stored arrays are loaded into.
"""

from __future__ import annotations

import glob
import os
import re
import tempfile
from typing import Any, Optional

import jax
from flax import serialization


def _path(directory: str, step: int) -> str:
  return os.path.join(directory, f"ckpt_{step:09d}.msgpack")


def latest_step(directory: str) -> Optional[int]:
  steps = [int(m.group(1)) for f in glob.glob(os.path.join(directory, "ckpt_*.msgpack"))
           if (m := re.search(r"ckpt_(\d+)\.msgpack$", f))]
  return max(steps) if steps else None


def save(directory: str, state: Any, step: int, keep: int = 2) -> str:
  os.makedirs(directory, exist_ok=True)
  data = serialization.to_bytes(jax.device_get(state))
  fd, tmp = tempfile.mkstemp(dir=directory, suffix=".tmp")
  with os.fdopen(fd, "wb") as f:
    f.write(data)
    f.flush()
    os.fsync(f.fileno())
  path = _path(directory, step)
  os.replace(tmp, path)
  for old in sorted(glob.glob(os.path.join(directory, "ckpt_*.msgpack")))[:-keep]:
    os.remove(old)
  return path


def restore(directory: str, template: Any, step: Optional[int] = None) -> Any:
  step = latest_step(directory) if step is None else step
  if step is None:
    raise FileNotFoundError(f"no checkpoint in {directory}")
  with open(_path(directory, step), "rb") as f:
    return serialization.from_bytes(template, f.read())
