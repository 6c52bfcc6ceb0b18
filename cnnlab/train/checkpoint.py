"""Checkpoints: the train state and the run record, with orbax, committed atomically together.

A checkpoint is ``checkpoints/<step>/`` holding two items, ``state`` (the train state's
arrays) and ``record`` (the run record as JSON: bests, targets, timing; see
:mod:`cnnlab.train.record`). Orbax writes the directory under a temporary name and
renames it once both items are complete, so a run killed mid-write (even by SIGKILL)
leaves the previous checkpoint intact, and the half-written one is removed on the next
start. Saves are asynchronous: training goes on while the arrays are written; the
trainer waits for the last save before it exits. The newest ``keep`` are kept.

A checkpoint that cannot be read (files truncated by a full disk or a dying node) is
skipped with a warning: :meth:`Checkpointer.restore_latest` falls back to the newest
readable one and moves the unreadable ones to ``<workdir>/unreadable_checkpoints/``.
Checkpoints written before the run record existed (one item, ``default``) restore their
state with no record.
"""

from __future__ import annotations

import gc
import os
import shutil
import sys
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

import jax
import numpy as np
import orbax.checkpoint as ocp

from cnnlab.errors import CheckpointError

STATE, RECORD, LEGACY = "state", "record", "default"


class Checkpointer:
  """Saves and restores (train state, run record) pairs in one directory (over orbax)."""

  def __init__(self, directory: str, keep: int = 2, async_save: bool = True):
    self.directory = os.path.abspath(directory)
    self._options = ocp.CheckpointManagerOptions(
        max_to_keep=keep, create=True, cleanup_tmp_directories=True,
        enable_async_checkpointing=async_save)
    self._manager = ocp.CheckpointManager(self.directory, options=self._options)

  def latest_step(self) -> Optional[int]:
    return self._manager.latest_step()

  def all_steps(self) -> List[int]:
    return sorted(self._manager.all_steps())

  def save(self, step: int, state: Any, record: Dict[str, Any]) -> None:
    """Starts saving ``state`` and the JSON ``record`` as ``step`` (returns before the
    write completes); a step already saved is left as it is."""
    if step in self._manager.all_steps():
      return
    self._manager.save(step, args=ocp.args.Composite(
        **{STATE: ocp.args.StandardSave(state), RECORD: ocp.args.JsonSave(record)}), force=True)

  def restore(self, template: Any, step: Optional[int] = None
              ) -> Tuple[Any, Optional[Dict[str, Any]]]:
    """``(state, record)`` of ``step`` (default: the latest); record None for a checkpoint
    from before run records. ``template`` gives the state's structure, dtypes and shardings."""
    step = self.latest_step() if step is None else step
    if step is None:
      raise FileNotFoundError(f"no checkpoint in {self.directory}")
    abstract = jax.tree_util.tree_map(ocp.utils.to_shape_dtype_struct, template)
    if os.path.isdir(os.path.join(self.directory, str(step), LEGACY)):
      return self._manager.restore(step, args=ocp.args.Composite(
          **{LEGACY: ocp.args.StandardRestore(abstract)}))[LEGACY], None
    got = self._manager.restore(step, args=ocp.args.Composite(
        **{STATE: ocp.args.StandardRestore(abstract), RECORD: ocp.args.JsonRestore()}))
    return got[STATE], got[RECORD]

  def restore_latest(self, template: Any, log: Callable[[str], None] = print
                     ) -> Tuple[Optional[int], Any, Optional[Dict[str, Any]]]:
    """``(step, state, record)`` of the newest readable checkpoint; ``(None, template, None)``
    when there is none. Unreadable newer ones are moved aside with a one-line warning; when
    none is readable, :class:`CheckpointError` says which directory to remove."""
    steps = self.all_steps()
    if steps:  # a failing restore's stray callbacks come during its unwinding already
      _quiet_closed_loop_callbacks()
    for i, step in enumerate(reversed(steps)):
      try:
        state, record = self.restore(template, step)
      except Exception as e:  # noqa: BLE001 -- any read failure: try the previous one
        why = f"{type(e).__name__}: {_first_line(e)}"
        _drop_failed_reads(e)
        log(f"warning: checkpoint {os.path.join(self.directory, str(step))} is unreadable "
            f"({why}); "
            + ("falling back to the previous one" if i + 1 < len(steps) else "none left"))
        continue
      self._move_aside([s for s in steps if s > step])
      return step, state, record
    if steps:
      raise CheckpointError(
          f"no checkpoint in {self.directory} can be read (steps {steps}); remove that "
          f"directory to start the run again from step 0")
    return None, template, None

  def _move_aside(self, steps: List[int]) -> None:
    """Moves unreadable step directories out of orbax's sight (kept for inspection)."""
    if not steps:
      return
    aside = os.path.join(os.path.dirname(self.directory), "unreadable_checkpoints")
    os.makedirs(aside, exist_ok=True)
    for step in steps:
      shutil.move(os.path.join(self.directory, str(step)),
                  os.path.join(aside, f"{step}-{int(time.time())}"))
    self._manager.reload()

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


def _drop_failed_reads(e: BaseException) -> None:
  """Collects what a failed restore left (the frames of its traceback hold the futures of
  reads still in flight) while their callbacks are quieted, not at the process's exit."""
  _FAILED_RESTORES.append(1)
  seen = set()
  while e is not None and id(e) not in seen:
    seen.add(id(e))
    e.__traceback__ = None
    e = e.__cause__ or e.__context__
  gc.collect()


_FAILED_RESTORES: List[int] = []  # one entry per failed restore in this process


def _quiet_closed_loop_callbacks() -> None:
  """When a restore fails, TensorStore's reads still in flight call back into orbax's
  event loop, which the failure closed; Python prints each as an unraisable
  ``RuntimeError: Event loop is closed`` traceback (24 for one small state; some through
  ``sys.excepthook``), which reads as a crash beside the one warning that matters. Those,
  and only those, are dropped from the first restore on: they come while the failed
  restore unwinds, and after it returned."""
  previous, previous_except = sys.unraisablehook, sys.excepthook
  if getattr(previous, "cnnlab_quiet", False):
    return

  def stray(e) -> bool:
    return isinstance(e, RuntimeError) and str(e) == "Event loop is closed"

  def hook(unraisable):
    if not stray(unraisable.exc_value):
      previous(unraisable)

  def excepthook(kind, value, tb):  # TensorStore's threads print some through PyErr_Print
    if not stray(value):
      previous_except(kind, value, tb)
  hook.cnnlab_quiet = True
  sys.unraisablehook, sys.excepthook = hook, excepthook


def quiet_exit_after_failed_restore() -> None:
  """For a command's last act: after a failed restore, some of those callbacks come only
  when Python tears the process down, past any hook; standard error is closed for that
  teardown (everything the command printed is flushed first)."""
  if not _FAILED_RESTORES:
    return
  sys.stdout.flush()
  sys.stderr.flush()
  os.dup2(os.open(os.devnull, os.O_WRONLY), 2)


def _first_line(e: BaseException) -> str:
  text = str(e).strip().splitlines()
  return text[0][:200] if text else ""


def latest_step(directory: str) -> Optional[int]:
  """The newest complete checkpoint's step in ``directory`` (None if there is none)."""
  if not os.path.isdir(directory):
    return None
  steps = [int(d) for d in os.listdir(directory)
           if d.isdigit() and os.path.isdir(os.path.join(directory, d))]
  return max(steps) if steps else None


def load_raw(directory: str, step: Optional[int] = None) -> Any:
  """A checkpoint's train state as nested dicts of NumPy arrays, with no template."""
  step = latest_step(directory) if step is None else step
  if step is None:
    raise FileNotFoundError(f"no checkpoint in {directory}")
  base = os.path.join(os.path.abspath(directory), str(step))
  item = os.path.join(base, STATE if os.path.isdir(os.path.join(base, STATE)) else LEGACY)
  # As NumPy arrays on the host, whatever devices (or processes) saved them.
  from absl import logging
  verbosity = logging.get_verbosity()
  logging.set_verbosity(logging.ERROR)  # orbax warns of a metadata file it does not need
  try:
    return _load_numpy(item)
  finally:
    logging.set_verbosity(verbosity)


def _load_numpy(item: str) -> Any:
  with ocp.PyTreeCheckpointer() as ckpt:
    meta = ckpt.metadata(item)
    meta = getattr(meta, "item_metadata", meta)
    tree = getattr(meta, "tree", meta)
    args = jax.tree_util.tree_map(lambda _: ocp.RestoreArgs(restore_type=np.ndarray), tree)
    return ckpt.restore(item, restore_args=args)


def load_record(directory: str, step: Optional[int] = None) -> Optional[Dict[str, Any]]:
  """A checkpoint's run record (JSON), None for one from before run records."""
  import json
  step = latest_step(directory) if step is None else step
  path = os.path.join(os.path.abspath(directory), str(step), RECORD)
  if step is None or not os.path.isdir(path):
    return None
  files = [f for f in os.listdir(path) if not f.startswith("_")]
  with open(os.path.join(path, files[0])) as f:
    return json.load(f)
