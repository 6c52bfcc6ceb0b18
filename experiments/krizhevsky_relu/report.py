"""Epochs to the target training error per activation and learning rate, and the ratios.

    python experiments/krizhevsky_relu/report.py --sweep_dir=sweeps/krizhevsky_relu

Writes ``table.md`` (epochs per activation × learning rate; each activation's fastest
learning rate and its epochs as a multiple of ReLU's) and ``curves.png`` (training
error per epoch at each activation's fastest rate: the paper's Figure 1) here.
"""

import argparse
import math
import os
import sys

from cnnlab.report import tables
from cnnlab.train.metrics import read_metrics

HERE = os.path.dirname(os.path.abspath(__file__))


def _epochs(record):
  """Epochs to the target, ``inf`` when not reached, None when the run gave no result."""
  if record["status"] == "diverged":
    return "diverged"
  result = record["result"]
  if record["status"] != "done" or result is None or result.target is None:
    return None
  hit = result.target.reached_at_epoch
  return float(hit) if hit is not None else math.inf


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--sweep_dir", required=True)
  p.add_argument("--out_dir", default=HERE)
  a = p.parse_args(argv)
  records = tables.collect(a.sweep_dir)
  if not records:
    print(f"no runs in {a.sweep_dir}", file=sys.stderr)
    return 2
  acts = list(dict.fromkeys(r["config"]["model"]["act"] for r in records))
  lrs = sorted({r["config"]["optim"]["lr"] for r in records})
  targets = sorted({r["config"]["train"]["target_value"] for r in records})
  max_epochs = records[0]["config"]["train"]["num_epochs"]

  def show(e):
    if e is None:
      return "—"
    if e == "diverged":
      return "diverged"
    return f"> {max_epochs}" if e == math.inf else f"{e:g}"

  lines, fastest_at = [], {}
  for target in targets:
    grid = {(r["config"]["model"]["act"], r["config"]["optim"]["lr"]): r for r in records
            if r["config"]["train"]["target_value"] == target}
    fastest = {}
    for act in acts:
      options = [(_epochs(grid[(act, lr)]), lr) for lr in lrs if (act, lr) in grid]
      options = [(e, lr) for e, lr in options if isinstance(e, float)]
      if options:
        fastest[act] = min(options)
    fastest_at[target] = (grid, fastest)
    relu = fastest.get("relu", (None, None))[0]
    lines += [f"Epochs until the training error (mean over the epoch's batches) is ≤ "
              f"{100 * (1 - target):g}%, per learning rate; the fastest rate per activation, "
              f"and its epochs as a multiple of ReLU's", "",
              "| activation | " + " | ".join(f"lr {lr:g}" for lr in lrs)
              + " | fastest lr | epochs | × ReLU |",
              "|---|" + "---|" * (len(lrs) + 3)]
    for act in acts:
      if not any((act, lr) in grid for lr in lrs):
        continue
      cells = [show(_epochs(grid[(act, lr)])) if (act, lr) in grid else "—" for lr in lrs]
      e, lr = fastest.get(act, (None, None))
      if e is None:
        tail = ["—", "—", "—"]
      else:
        ratio = "—" if relu in (None, math.inf) else (
            f"> {max_epochs / relu:.1f}" if e == math.inf else f"{e / relu:.1f}")
        tail = [f"{lr:g}", show(e), ratio]
      lines.append(f"| {act} | " + " | ".join(cells + tail) + " |")
    lines.append("")
  text = "\n".join(lines)
  os.makedirs(a.out_dir, exist_ok=True)
  with open(os.path.join(a.out_dir, "table.md"), "w") as f:
    f.write(text)
  print(text)
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  fig, ax = plt.subplots(figsize=(5.5, 3.8))
  for act in acts:  # its fastest run at the strictest target it was run to: the longest curve
    target = max((t for t in targets if act in fastest_at[t][1]), default=None)
    if target is None:
      continue
    grid, fastest = fastest_at[target]
    lr = fastest[act][1]
    rows = [m for m in read_metrics(grid[(act, lr)]["workdir"]) if m["split"] == "train_epoch"]
    ax.plot([m["step"] / rows[0]["step"] for m in rows], [100 * (1 - m["accuracy"]) for m in rows],
            marker=".", label=f"{act} (lr {lr:g}, to {100 * (1 - target):g}%)")
  for t in targets:
    ax.axhline(100 * (1 - t), color="grey", lw=0.8, ls="--")
  ax.set_xlabel("epoch")
  ax.set_ylabel("training error (%)")
  ax.set_title("Training error per epoch at each activation's fastest rate")
  ax.legend()
  fig.tight_layout()
  fig.savefig(os.path.join(a.out_dir, "curves.png"), dpi=120)
  print(f"wrote {a.out_dir}/table.md, curves.png")
  return 0


if __name__ == "__main__":
  sys.exit(main())
