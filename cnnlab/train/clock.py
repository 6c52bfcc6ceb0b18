"""A run's clock: where its wall time went, over every process that ran it.

    clock = Clock(record.timing, start=t0)         # earlier processes' time, restored
    with clock("eval", minus=lambda: evaluator.compile_s):
      evals = evaluator(state, step)                # compiling is counted as compile time
    clock.trained(record.timing, images, seconds)  # at each sync of the host and device
    clock.stamp(record.timing, compile_s, data_s)   # before each save and at the end

The parts (``Timing.breakdown``) sum to the wall time: data, setup, compile, train, eval,
checkpoint and the rest (logging, the host loop). Each process's first chunk of steps
(its warm-up) counts as training time but not for throughput.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from typing import Callable, Dict, Iterator

from cnnlab.train.record import Timing


class Clock:
  """This process's time by job, added to the earlier processes' (see the module's notes)."""

  def __init__(self, timing: Timing, start: float):
    self.base = dataclasses.replace(timing)  # what the processes before this one spent
    self.start = start                       # this process's start (before the set-up)
    self.jobs: Dict[str, float] = {"eval": 0.0, "checkpoint": 0.0}
    self.setup_s = 0.0
    self.warm = False                        # this process's first chunk has run

  @contextlib.contextmanager
  def __call__(self, job: str, minus: Callable[[], float] = lambda: 0.0) -> Iterator[None]:
    """Times the block as ``job``, less what ``minus`` grew by meanwhile (compiling)."""
    start, before = time.time(), minus()
    try:
      yield
    finally:
      self.jobs[job] += time.time() - start - (minus() - before)

  def set_up(self, data_s: float) -> None:
    """The set-up ends here (model, steps, initialisation, restore; the data apart)."""
    self.setup_s = time.time() - self.start - data_s

  def trained(self, timing: Timing, images: int, seconds: float) -> None:
    """Steps trained in ``seconds``; their ``images`` count for throughput unless they are
    this process's first chunk (its warm-up)."""
    timing.train_s += seconds
    if self.warm:
      timing.images += images
      timing.images_s += seconds
    self.warm = True

  def stamp(self, timing: Timing, compile_s: float, data_s: float) -> None:
    """``timing`` (the record's) set to the earlier processes' time plus this one's."""
    base = self.base
    timing.wall_s = base.wall_s + (time.time() - self.start)
    timing.compile_s = base.compile_s + compile_s
    timing.data_s = base.data_s + data_s
    timing.setup_s = base.setup_s + self.setup_s
    timing.eval_s = base.eval_s + self.jobs["eval"]
    timing.checkpoint_s = base.checkpoint_s + self.jobs["checkpoint"]
