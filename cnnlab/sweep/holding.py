"""A worker holding its program across a search's rung (``--prune_in_program``).

Where a search stops runs at rungs (:mod:`cnnlab.search.rungs`), a worker may keep its
program alive at a rung instead of ending it: the runs' results at the rung are written,
the index has them ``paused`` and *held* (the worker's pid kept), and the worker waits
for the search's decision. A run the search raises (``running`` again, with its next
``stop_at``) trains on in the same program; a pruned one is masked inside it (its updates
stop; nothing is compiled again: :meth:`cnnlab.train.run.Run.mask`); when none goes on,
the program ends. The worker lets go — the runs then wait unheld, or are ``preempted``
once raised, and the next worker resumes them from their checkpoints, as without
holding — when a signal arrives or other runs wait to be claimed: a search decides a
round's rung once all its trials are there, so a held program must not keep the others
from training.

Modes (the index's meta ``prune_in_program``, set by the search): ``on``; ``off`` (each
rung ends its program; the next resumes from checkpoints, a process of its own); ``auto``
(the default): on for runs trained side by side on an accelerator, where one program
trains several trials and compiling again costs most; off on XLA's CPU backend.
"""

from __future__ import annotations

import os
import time
from typing import Dict, List, Optional, Sequence

from cnnlab.sweep.index import TERMINAL, Index

MODES = ("auto", "on", "off")
META = "prune_in_program"


def holds(index: Index, group_size: int) -> bool:
  """Whether a worker holds a program of ``group_size`` runs at its rungs (the modes)."""
  mode = index.meta(META, "off")
  if mode == "auto":
    import jax
    return group_size > 1 and jax.default_backend() != "cpu"
  return mode == "on"


class Hold:
  """``at_stop`` for :func:`cnnlab.train.train_together`, answering from the index.

  ``left``: the runs whose status in the index the hold set last (pruned while held, or
  let go), with the status the worker reports for them; it records no other for them.
  """

  def __init__(self, index: Index, run_ids: Sequence[str], stops: Dict[str, Optional[int]],
               max_attempts: int = 2, stale_after_s: float = 900.0, poll_s: float = 0.2,
               log=print):
    self.index, self.ids, self.stops = index, list(run_ids), dict(stops)
    self.max_attempts, self.stale_after_s, self.poll_s, self.log = \
        max_attempts, stale_after_s, poll_s, log
    self.left: Dict[str, str] = {}

  def __call__(self, step: int, results, stop) -> List[Optional[int]]:
    nexts: List[Optional[int]] = [None] * len(self.ids)
    held = []
    for i, (rid, r) in enumerate(zip(self.ids, results)):
      if r is None or r.status != "preempted" or r.step != step:
        continue  # ended before (diverged, pruned): it stays as it is
      if self.stops.get(rid) == step:  # at its rung: it waits for the search
        self.index.finish(rid, "paused", r.to_json(), hold=True)
        held.append(i)
      else:  # another run's stop: it goes on to its own
        nexts[i] = self.stops.get(rid) or 0
    waited = time.time()
    while held:
      rows = {i: self.index.rows(run_id=self.ids[i])[0] for i in held}
      if any(row["status"] == "paused" for row in rows.values()):
        if stop.received or self.index.outstanding(self.max_attempts,
                                                   self.stale_after_s)["runnable"]:
          return self._let_go(held, "a signal" if stop.received else "runs waiting")
        time.sleep(self.poll_s)
        continue
      for i, row in rows.items():
        rid = self.ids[i]
        if row["status"] == "running" and row["pid"] == os.getpid():  # raised: on it goes
          nexts[i] = self.stops[rid] = row["stop_at"] or 0
          self.left.pop(rid, None)
        else:  # pruned (or taken from us: a decision while we looked stale)
          self.left[rid] = row["status"] if row["status"] in TERMINAL else "paused"
      self.log(f"held {time.time() - waited:.1f} s at step {step}: "
               f"{sum(n is not None for n in nexts)} of {len(self.ids)} run(s) go on")
      break
    return nexts

  def _let_go(self, held: List[int], why: str) -> List[Optional[int]]:
    """Releases the held runs (the module's notes): the program ends."""
    ids = [self.ids[i] for i in held]
    self.index.release(ids)
    for rid in ids:
      self.left[rid] = "preempted" if why == "a signal" else "paused"
    self.log(f"let go of {len(ids)} run(s) at their rung ({why})")
    return [None] * len(self.ids)
