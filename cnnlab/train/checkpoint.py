"""Checkpoints: the whole train state with orbax, saved in the background, committed atomically.

A checkpoint is ``checkpoints/<step>/``. Orbax writes it under a temporary name and
renames it once complete, so a run killed mid-write (even by SIGKILL) leaves the
previous checkpoint intact, and the half-written one is removed on the next start.
Saves are asynchronous: training goes on while the arrays are written; the
trainer waits for the last save before it exits. The newest ``keep`` checkpoints
are kept. Restoring needs a template state (built from the same config), whose
structure, dtypes and shardings the stored arrays are loaded into.
"""

from __future__ import annotations

import os
from typing import Any, Optional

import jax
import orbax.checkpoint as ocp


class Checkpointer:
  """Saves and restores train states in one directory (a thin layer over orbax)."""

  def __init__(self, directory: str, keep: int = 2, async_save: bool = True):
    self.directory = os.path.abspath(directory)
    options = ocp.CheckpointManagerOptions(
        max_to_keep=keep, create=True, cleanup_tmp_directories=True,
        enable_async_checkpointing=async_save)
    self._manager = ocp.CheckpointManager(self.directory, options=options)

  def latest_step(self) -> Optional[int]:
    return self._manager.latest_step()

  def save(self, step: int, state: Any) -> None:
    """Starts saving ``state`` as ``step`` (returns before the write completes)."""
    if step in self._manager.all_steps():
      return
    self._manager.save(step, args=ocp.args.StandardSave(state), force=True)

  def restore(self, template: Any, step: Optional[int] = None) -> Any:
    step = self.latest_step() if step is None else step
    if step is None:
      raise FileNotFoundError(f"no checkpoint in {self.directory}")
    abstract = jax.tree_util.tree_map(ocp.utils.to_shape_dtype_struct, template)
    return self._manager.restore(step, args=ocp.args.StandardRestore(abstract))

  def wait(self) -> None:
    self._manager.wait_until_finished()

  def close(self) -> None:
    """Waits for the last save to finish; safe to call more than once."""
    if self._manager is not None:
      self._manager.wait_until_finished()
      self._manager.close()
      self._manager = None

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    self.close()


def latest_step(directory: str) -> Optional[int]:
  """The newest complete checkpoint's step in ``directory`` (None if there is none)."""
  if not os.path.isdir(directory):
    return None
  steps = [int(d) for d in os.listdir(directory)
           if d.isdigit() and os.path.isdir(os.path.join(directory, d))]
  return max(steps) if steps else None


def load_raw(directory: str, step: Optional[int] = None) -> Any:
  """A checkpoint as nested dicts of NumPy arrays, with no template (for inspection)."""
  step = latest_step(directory) if step is None else step
  if step is None:
    raise FileNotFoundError(f"no checkpoint in {directory}")
  with ocp.StandardCheckpointer() as ckpt:
    tree = ckpt.restore(os.path.join(os.path.abspath(directory), str(step), "default"))
  return jax.tree_util.tree_map(lambda a: jax.device_get(a), tree)
