"""Metric writers: JSON lines always, TensorBoard event files when tensorboardX is installed.

``metrics.jsonl`` holds one :class:`~cnnlab.train.result.SplitMetrics` row per line,
``{"step": ..., "split": ..., "count": ..., name: value, ...}``;
non-finite values are the strings ``"nan"``, ``"inf"``, ``"-inf"`` (the file is standard
JSON). A resumed run first drops the rows logged after its checkpoint (they are logged
again, identically), so no (split, step) row is ever repeated; TensorBoard is told the
same with ``purge_step``. Only process 0 of a multi-process job writes.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any, Dict, List, Optional

from cnnlab.train.result import SplitMetrics, dumps, read_rows

METRICS_FILE = "metrics.jsonl"


def _tensorboard(logdir: str, purge_step: Optional[int]):
  try:
    from tensorboardX import SummaryWriter  # optional; writes without TensorFlow
  except ImportError:
    return None
  return SummaryWriter(logdir, purge_step=purge_step)


def _step_of(line: str) -> Optional[int]:
  try:
    return int(json.loads(line)["step"])
  except (ValueError, KeyError, TypeError):  # a partly written line (JSONDecodeError)
    return None


def truncate_after(path: str, step: int) -> int:
  """Drops the rows of ``path`` logged after ``step`` (and a partly written last line);
  returns how many were dropped. The file is replaced atomically."""
  if not os.path.exists(path):
    return 0
  with open(path) as f:
    lines = f.readlines()
  keep = [line for line in lines
          if line.endswith("\n") and (_step_of(line) is not None and _step_of(line) <= step)]
  if len(keep) != len(lines):
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
      f.writelines(keep)
    os.replace(tmp, path)
  return len(lines) - len(keep)


class MetricWriter:
  """Appends metric rows; ``resume_step`` first drops what was logged after it."""

  def __init__(self, workdir: str, tensorboard: bool = True, resume_step: Optional[int] = None,
               enabled: bool = True):
    self.enabled = enabled
    self._jsonl = self._tb = None
    if not enabled:
      return
    os.makedirs(workdir, exist_ok=True)
    path = os.path.join(workdir, METRICS_FILE)
    if resume_step is not None:
      truncate_after(path, resume_step)
    self._jsonl = open(path, "a")
    if tensorboard:
      self._tb = _tensorboard(os.path.join(workdir, "tensorboard"),
                              None if resume_step is None else resume_step + 1)

  @property
  def tensorboard(self) -> bool:
    return self._tb is not None

  def write(self, split: str, metrics: SplitMetrics) -> None:
    if not self.enabled:
      return
    self._jsonl.write(dumps({**metrics.row(split), "time": round(time.time(), 3)}) + "\n")
    self._jsonl.flush()
    if self._tb is not None:
      for k, v in metrics.values.items():
        self._tb.add_scalar(f"{split}/{k}", float(v), int(metrics.step))

  def hparams(self, config: Dict[str, Any], metrics: Dict[str, float]) -> None:
    """The run's hyperparameters (a flat ``{"optim.lr": 0.01, ...}``) with its final
    metrics, for TensorBoard's HParams dashboard."""
    if self._tb is None:
      return
    from tensorboardX.summary import hparams
    flat = {k: v if isinstance(v, (int, float, str, bool)) else str(v)
            for k, v in config.items()}
    final = {f"hparam/{k}": float(v) for k, v in metrics.items()}
    for summary in hparams(flat, final):  # into this run's own event file
      self._tb.file_writer.add_summary(summary)
    for k, v in final.items():
      self._tb.add_scalar(k, v)

  def close(self) -> None:
    if self._jsonl is not None:
      self._jsonl.close()
      self._jsonl = None
    if self._tb is not None:
      self._tb.close()
      self._tb = None


def read_metrics(workdir: str) -> List[Dict[str, Any]]:
  """The rows of a run's ``metrics.jsonl`` as dicts (non-finite strings read as floats)."""
  return read_rows(os.path.join(workdir, METRICS_FILE))
