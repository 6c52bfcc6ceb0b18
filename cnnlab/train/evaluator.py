"""The evaluator: every evaluated split of a run, as typed :class:`SplitMetrics`.

Splits: ``test``, ``validation`` (when carved out), ``train_set`` (the whole training
set in eval mode, with ``train.eval_train_set``), each also as ``<split>_ema`` for the
EMA parameters (``train.ema_decay > 0``). Every example is evaluated exactly once: the
last batch is padded to a multiple of the device count and masked. Runs trained side by
side (replicas of one program) each get their own metrics.
"""

from __future__ import annotations

from typing import Dict, List, Optional

import jax
import jax.numpy as jnp
import numpy as np

from cnnlab.data.pipeline import eval_batch_indices
from cnnlab.train.record import split_metrics
from cnnlab.train.result import SplitMetrics
from cnnlab.train.run import Compiled, Feeder, Run
from cnnlab.train.steps import make_eval_loop


class Evaluator:
  def __init__(self, run: Run):
    self.run = run
    t = run.config.train
    self.loops = {"": Compiled(make_eval_loop(run.eval_step, mesh=run.mesh))}
    if run.ema:
      self.loops["_ema"] = Compiled(make_eval_loop(run.eval_step, mesh=run.mesh, use_ema=True))
    self.feeds = {k: run.feeds[k] for k in ("test", "validation") if k in run.feeds}
    if t.eval_train_set:  # training error in eval mode (Zeiler & Fergus, Krizhevsky Fig. 1)
      self.feeds["train_set"] = run.feeds["train"]
    n = run.num_devices  # evaluation batches: a multiple of the device count
    self.batch_size = -(-t.eval_batch_size // n) * n

  @property
  def compile_s(self) -> float:
    return sum(loop.compile_s for loop in self.loops.values())

  def splits(self) -> List[str]:
    return [name + suffix for suffix in self.loops for name in self.feeds]

  def __call__(self, state, step: int) -> List[Dict[str, SplitMetrics]]:
    """Each run's metrics of every split (one run, or the replicas side by side)."""
    splits = {name + suffix: self.split(loop, feed, state, step)
              for suffix, loop in self.loops.items() for name, feed in self.feeds.items()}
    return [{k: v[r] for k, v in splits.items()} for r in range(len(self.run.seeds))]

  def split(self, loop: Compiled, feed: Feeder, state, step: int) -> List[SplitMetrics]:
    """One split's metrics, per run: sums over its batches, finalised by the loss."""
    m, devices = len(feed), self.run.num_devices
    idx, mask = eval_batch_indices(m, min(self.batch_size, -(-m // devices) * devices))
    chunks = [slice(0, len(idx))] if self.run.loop_form == "scan" else \
        [slice(i, i + 1) for i in range(len(idx))]
    sums, outputs = None, []
    for c in chunks:
      out, outs = loop(state, *feed(idx[c]), mask[c])
      sums = out if sums is None else jax.tree_util.tree_map(jnp.add, sums, out)
      if outs is not None:
        outputs.append(np.asarray(outs))
    sums = jax.device_get(sums)
    count = int(np.asarray(sums["count"], np.float64).reshape(-1)[0])
    return [split_metrics(step, own, count)
            for own in self._finalize(sums, self._outputs(outputs, m), feed)]

  def _outputs(self, outputs: list, m: int) -> Optional[np.ndarray]:
    """The stacked outputs ``(batches, [R,] B, K)`` as ``([R,] examples, K)``, padding dropped."""
    if not outputs:
      return None
    o = np.concatenate(outputs)
    if self.run.replicated:
      o = np.moveaxis(o, 1, 0)
    return o.reshape(o.shape[:-3] + (-1, o.shape[-1]))[..., :m, :]

  def _finalize(self, sums, outputs: Optional[np.ndarray], feed: Feeder
                ) -> List[Dict[str, object]]:
    finalize = self.run.loss.finalize
    targets = None if outputs is None else np.asarray(feed.split.labels)[:len(feed)]
    if not self.run.replicated:
      return [finalize(sums, outputs, targets)]
    return [finalize(jax.tree_util.tree_map(lambda a, r=r: a[r], sums),
                     None if outputs is None else outputs[r], targets)
            for r in range(len(self.run.seeds))]
