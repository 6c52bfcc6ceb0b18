"""Metric writers: JSON lines always, TensorBoard event files when tensorboardX is installed.

``metrics.jsonl`` holds one object per line, ``{"step": ..., "split": ..., name: value}``;
it is appended to, so a resumed run continues the same file.
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict


class MetricWriter:
  def __init__(self, workdir: str, tensorboard: bool = True):
    os.makedirs(workdir, exist_ok=True)
    self._jsonl = open(os.path.join(workdir, "metrics.jsonl"), "a")
    self._tb = None
    if tensorboard:
      try:
        from tensorboardX import SummaryWriter  # optional; writes without TensorFlow
        self._tb = SummaryWriter(os.path.join(workdir, "tensorboard"))
      except ImportError:
        pass

  def write(self, step: int, split: str, values: Dict[str, Any]) -> None:
    row = {"step": int(step), "split": split, **{k: float(v) for k, v in values.items()}}
    self._jsonl.write(json.dumps(row) + "\n")
    self._jsonl.flush()
    if self._tb is not None:
      for k, v in values.items():
        self._tb.add_scalar(f"{split}/{k}", float(v), int(step))

  def close(self) -> None:
    self._jsonl.close()
    if self._tb is not None:
      self._tb.close()


def read_metrics(workdir: str):
  path = os.path.join(workdir, "metrics.jsonl")
  if not os.path.exists(path):
    return []
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]
