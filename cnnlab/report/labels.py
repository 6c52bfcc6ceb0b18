"""Human names for config paths and metrics in the report's figures and page.

Tables keep the config paths (they are what ``--rows`` and ``--baseline`` take, and the
committed tables quote them); figures and the HTML headings say ``pooling`` for
``model.pool`` and ``training examples`` for ``data.options.num_train``. ``--labels``
renames more or overrides these: ``--labels='model.pool=pooling type,optim.lr=step size'``.
A path with no label reads as its last part, underscores as spaces (``model.conv_stride``
→ ``conv stride``).
"""

from __future__ import annotations

from typing import Dict, Optional

from cnnlab.errors import ReportError

AXES: Dict[str, str] = {
    "model.pool": "pooling", "model.act": "activation", "model.norm": "normalization",
    "model.depth": "depth", "model.width": "width", "model.shortcut": "shortcut",
    "model.name": "model", "model.conv_stride": "convolution stride",
    "model.dropout": "dropout", "data.options.num_train": "training examples",
    "data.train_size": "training examples", "data.name": "data set",
    "data.augment": "augmentation", "optim.name": "optimizer", "optim.lr": "learning rate",
    "optim.l2": "L2 penalty", "optim.weight_decay": "weight decay",
    "optim.momentum": "momentum", "train.batch_size": "batch size",
    "train.num_epochs": "epochs", "train.num_steps": "steps", "seed": "seed",
    "sweep": "sweep", "metric": "metric",
}
SPLITS: Dict[str, str] = {"train_epoch": "training (epoch mean)", "train": "training",
                          "test": "test", "validation": "validation"}
SECTIONS: Dict[str, str] = {"best": "best", "last": "last", "final": "final"}


class Labels:
  """The label of each config path (defaults, then ``--labels``) and of each metric."""

  def __init__(self, overrides: Optional[Dict[str, str]] = None):
    self.axes = {**AXES, **(overrides or {})}

  def axis(self, path: str) -> str:
    """A config path's label; several (``model.pool,model.conv_stride``, a composite
    axis) joined by " / "."""
    if "," in path:
      return " / ".join(self.axis(p) for p in path.split(","))
    if path in self.axes:
      return self.axes[path]
    return path.split(".")[-1].replace("_", " ")

  def metric(self, metric: str) -> str:
    """``best.test.accuracy`` → "best test accuracy", ``last.train_epoch.loss`` → "last
    training (epoch mean) loss", ``test_accuracy`` → "test accuracy"; an error
    (``error = 1 − (m)``) → "error (m's label)"."""
    if metric.startswith("error = 1 − (") and metric.endswith(")"):
      inner = self.metric(metric[len("error = 1 − ("):-1])
      return inner.replace("accuracy", "error") if "accuracy" in inner else f"1 − {inner}"
    parts = metric.split(".")
    if len(parts) == 3:
      section, split, name = parts
      return " ".join([SECTIONS.get(section, section), SPLITS.get(split, split),
                       name.replace("_", " ")])
    for split, words in SPLITS.items():  # test_accuracy, validation_loss
      if metric.startswith(split + "_"):
        return f"{words} {metric[len(split) + 1:].replace('_', ' ')}"
    return metric.replace("_", " ")


def parse(spec: Optional[str]) -> Dict[str, str]:
  """``"model.pool=pooling type,optim.lr=step size"`` → a dict; ReportError naming the
  entry without ``=``."""
  out: Dict[str, str] = {}
  for item in (spec or "").split(","):
    if not item.strip():
      continue
    path, eq, label = item.partition("=")
    if not eq or not path.strip() or not label.strip():
      raise ReportError(f"--labels: {item.strip()!r} is not <config path>=<label> "
                        f"(e.g. --labels='model.pool=pooling type,optim.lr=step size')")
    out[path.strip()] = label.strip()
  return out
