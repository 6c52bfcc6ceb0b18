"""He et al.'s Fig. 6 from a sweep: training error per epoch, plain (left) vs residual (right).

    python experiments/he2016_depth/report.py --sweep_dir=sweeps/he2016_depth_cpu

Writes ``curves.png`` here: for each depth, the training error (split ``train_epoch``,
the mean over each epoch's augmented batches, as the paper's thin curves) against the
epoch, one panel per shortcut kind, averaged over seeds. The tables come from
``python -m cnnlab.report`` (the command in ``sweep.py``).
"""

import argparse
import os
import sys

import numpy as np

from cnnlab.report import tables
from cnnlab.report.plots import _plt
from cnnlab.train.metrics import read_metrics
from cnnlab.train.migrations import MEMBER
from cnnlab.train.result import split_metrics_of_row

HERE = os.path.dirname(os.path.abspath(__file__))
PANELS = (("none", "plain"), ("A", "ResNet (option A)"))


def curves(records):
  """``{(shortcut, depth): {epoch: [train error per seed]}}`` of the finished runs."""
  out = {}
  for rec in records:
    if rec["status"] != "done":
      continue
    cfg = rec["config"]
    key = (tables.get(cfg, "model.shortcut"), tables.get(cfg, "model.depth"))
    per_epoch = rec["result"].step / rec["result"].epochs
    for row in read_metrics(rec["workdir"]):
      split, m = split_metrics_of_row(row, rec.get(MEMBER))  # (a member of an old run)
      if split == "train_epoch":
        epoch = round(m.step / per_epoch)
        out.setdefault(key, {}).setdefault(epoch, []).append(1.0 - m.value("accuracy"))
  return out


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--sweep_dir", required=True)
  p.add_argument("--out_dir", default=HERE)
  a = p.parse_args(argv)
  data = curves(tables.collect(a.sweep_dir))
  if not data:
    print(f"no finished runs in {a.sweep_dir}", file=sys.stderr)
    return 2
  plt = _plt()
  fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), sharey=True)
  for ax, (shortcut, title) in zip(axes, PANELS):
    for depth in sorted(d for s, d in data if s == shortcut):
      points = sorted(data[(shortcut, depth)].items())
      ax.plot([e for e, _ in points], [100 * np.mean(v) for _, v in points], marker="o",
              label=f"{title.split(' ')[0]}-{depth}")
    ax.set_title(title)
    ax.set_xlabel("epoch")
    ax.legend(fontsize=8)
  axes[0].set_ylabel("training error (%)")
  fig.tight_layout()
  path = os.path.join(a.out_dir, "curves.png")
  fig.savefig(path, dpi=120)
  plt.close(fig)
  print(f"wrote {path}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
