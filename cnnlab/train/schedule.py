"""The training schedule: chunks of steps between events (log, eval, checkpoint, epoch end).

    for chunk in chunks(Events(...), start=record.step, one_step=on_cpu):
      state, metrics = run.train(state, chunk)
      if chunk.log: ...
      if chunk.eval: ...

A chunk ends at the next step where something happens, so each periodic job is one
``if`` in the loop. The boundaries are a function of the step alone, so a resumed run
compiles the same chunks as an uninterrupted one. ``one_step`` makes every chunk one
step (XLA's CPU backend, where one program per step measured fastest).
"""

from __future__ import annotations

import dataclasses
from typing import Iterator


@dataclasses.dataclass(frozen=True)
class Events:
  """The periods of a run's events, in steps (0: never)."""
  total: int
  steps_per_epoch: int
  log_every: int = 0
  eval_every: int = 0           # 0: at the end of each epoch
  checkpoint_every: int = 0
  scan_chunk: int = 0           # the longest scanned chunk (0: up to the next event)
  stop_after: int = 0           # preempt the run when it passes this step (0: never)

  @property
  def eval_period(self) -> int:
    return self.eval_every or self.steps_per_epoch


@dataclasses.dataclass(frozen=True)
class Chunk:
  """Steps ``start .. end - 1``; the flags say what happens after step ``end``."""
  start: int
  length: int
  log: bool
  eval: bool
  checkpoint: bool
  epoch_end: bool
  stop: bool
  last: bool

  @property
  def end(self) -> int:
    return self.start + self.length


def _due(step: int, every: int) -> bool:
  return bool(every) and step % every == 0


def chunk_at(e: Events, start: int, one_step: bool) -> Chunk:
  """The chunk that starts at step ``start``."""
  if one_step:
    length = 1
  else:
    periods = [p for p in (e.log_every, e.eval_period, e.checkpoint_every, e.scan_chunk) if p]
    limits = [e.steps_per_epoch - start % e.steps_per_epoch, e.total - start]
    limits += [p - start % p for p in periods]
    if e.stop_after > start:
      limits.append(e.stop_after - start)
    length = min(limits)
  end = start + length
  last = end == e.total
  return Chunk(start, length, log=_due(end, e.log_every) or last,
               eval=_due(end, e.eval_period) or last,
               checkpoint=_due(end, e.checkpoint_every) or last,
               epoch_end=_due(end, e.steps_per_epoch),
               stop=start < e.stop_after <= end and not last, last=last)


def chunks(e: Events, start: int, one_step: bool) -> Iterator[Chunk]:
  """The chunks from step ``start`` to the end of the run."""
  step = start
  while step < e.total:
    chunk = chunk_at(e, step, one_step)
    yield chunk
    step = chunk.end
