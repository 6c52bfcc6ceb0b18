"""Epochs to the target training error per activation and learning rate, and the ratios.

    python experiments/krizhevsky_relu/report.py --sweep_dir=sweeps/krizhevsky_relu

Writes ``table.md`` (epochs per activation × learning rate and seed; each activation's
fastest learning rate and its epochs as a multiple of ReLU's, paired by seed, with a 95%
interval where there are 3 seeds; at the 20% target the computed verdict on the paper's
≈ 6× for tanh) and ``curves.png`` (training error per epoch at each activation's fastest
rate: the paper's Figure 1) here.
"""

import argparse
import math
import os
import sys
from typing import Dict, Optional, Tuple

from cnnlab.report import stats, tables
from cnnlab.train.metrics import read_metrics

HERE = os.path.dirname(os.path.abspath(__file__))


# The paper's claim: tanh needs ≈ 6× ReLU's epochs to 25% training error on CIFAR-10.
# Its analogue here is the 20% target (the sweep's first); the verdict is computed there.
PUBLISHED_RATIO, PUBLISHED_ACT, PUBLISHED_TARGET = 6.0, "tanh", 0.80


def _epochs(record):
  """Epochs to the target, ``inf`` when not reached, None when the run gave no result."""
  if record["status"] == "diverged":
    return "diverged"
  result = record["result"]
  if record["status"] != "done" or result is None or result.target is None:
    return None
  hit = result.target.reached_at_epoch
  return float(hit) if hit is not None else math.inf


def _cell(record) -> Tuple[float, str, float]:
  c = record["config"]
  return c["train"]["target_value"], c["model"]["act"], c["optim"]["lr"]


def cells(records) -> Dict[Tuple[float, str, float], Dict[int, object]]:
  """``{(target, activation, lr): {seed: epochs}}`` (epochs as :func:`_epochs` gives them)."""
  out = {}
  for r in records:
    out.setdefault(_cell(r), {})[r["config"].get("seed", 0)] = _epochs(r)
  return out


def at_target(grid_all, target: float) -> Dict[Tuple[str, float], Dict[int, object]]:
  """``{(activation, lr): {seed: epochs}}``: the cells of one target."""
  return {(a, lr): v for (t, a, lr), v in grid_all.items() if t == target}


def _mean(per_seed: Dict[int, object]) -> Optional[float]:
  """Mean epochs over the seeds (``inf`` if a seed did not reach the target); None when a
  seed diverged or has no result."""
  values = list(per_seed.values())
  if not values or not all(isinstance(e, float) for e in values):
    return None
  return math.inf if math.inf in values else sum(values) / len(values)


def fastest(grid, act: str, lrs) -> Optional[Tuple[float, float]]:
  """``(mean epochs, lr)`` of ``act``'s fastest learning rate (ties: the smaller rate)."""
  options = [(_mean(grid[(act, lr)]), lr) for lr in lrs if (act, lr) in grid]
  options = [(e, lr) for e, lr in options if e is not None and e != math.inf]
  return min(options) if options else None


def ratio_to_relu(grid, act: str, lrs) -> Optional[stats.Estimate]:
  """``act``'s epochs over ReLU's, each at its fastest rate, paired by seed: the mean of the
  per-seed ratios with its 95% t interval (none below 3 seeds); None when either has no
  fastest rate or a paired seed did not reach the target."""
  a, r = fastest(grid, act, lrs), fastest(grid, "relu", lrs)
  if a is None or r is None:
    return None
  ea, er = grid[(act, a[1])], grid[("relu", r[1])]
  seeds = sorted(set(ea) & set(er))
  ratios = [ea[s] / er[s] for s in seeds]
  if not ratios or not all(math.isfinite(x) for x in ratios):
    return None
  return stats.estimate(ratios)


def _show_ratio(e: Optional[stats.Estimate]) -> str:
  if e is None:
    return "—"
  if not e.has_interval:
    return f"{e.value:.1f} (n = {e.n})"
  return f"{e.value:.1f} [{e.low:.1f}, {e.high:.1f}]"


def verdict_line(grid, lrs, target: float) -> str:
  """The computed verdict on the paper's ratio (``stats.verdict``: ``reproduced`` when 6
  lies in the measured ratio's interval, ``lower`` / ``higher`` when the measured ratio lies
  below / above it, ``n too small`` below 3 seeds)."""
  e = ratio_to_relu(grid, PUBLISHED_ACT, lrs)
  if e is None:
    return f"Verdict: no {PUBLISHED_ACT} / ReLU ratio at this target (no finished pair)."
  return (f"Verdict ({PUBLISHED_ACT} / ReLU epochs to {100 * (1 - target):g}% training "
          f"error, paired by seed, against the paper's ≈ {PUBLISHED_RATIO:g}× to 25% on "
          f"CIFAR-10): measured {_show_ratio(e)} over {e.n} seed(s) → "
          f"**{stats.verdict(e, PUBLISHED_RATIO)}**.")


def table(records, grid_all) -> str:
  """The Markdown this script writes to ``table.md`` (``grid_all``: :func:`cells`)."""
  acts = list(dict.fromkeys(r["config"]["model"]["act"] for r in records))
  lrs = sorted({k[2] for k in grid_all})
  targets = sorted({k[0] for k in grid_all})
  max_epochs = records[0]["config"]["train"]["num_epochs"]

  def show(e):
    if e is None:
      return "—"
    if e == "diverged":
      return "diverged"
    return f"> {max_epochs}" if e == math.inf else f"{e:g}"

  lines = []
  for target in targets:
    grid = at_target(grid_all, target)
    lines += [f"Epochs until the training error (mean over the epoch's batches) is ≤ "
              f"{100 * (1 - target):g}%, per learning rate (one value per seed); each "
              f"activation's fastest rate (the lowest mean), its mean epochs, and its epochs "
              f"as a multiple of ReLU's: the mean of the per-seed ratios [95% t interval; "
              f"none below 3 seeds]", "",
              "| activation | " + " | ".join(f"lr {lr:g}" for lr in lrs)
              + " | fastest lr | epochs | × ReLU |",
              "|---|" + "---|" * (len(lrs) + 3)]
    for act in acts:
      if not any((act, lr) in grid for lr in lrs):
        continue
      row = [" / ".join(show(e) for _, e in sorted(grid[(act, lr)].items()))
             if (act, lr) in grid else "—" for lr in lrs]
      best = fastest(grid, act, lrs)
      if best is None:  # "> 30" only once every run has ended without reaching the target
        ended = all(e is not None for lr in lrs for e in grid.get((act, lr), {}).values())
        row += ["—", f"> {max_epochs}" if ended else "—", "—"]
      else:
        row += [f"{best[1]:g}", f"{best[0]:.3g}", _show_ratio(ratio_to_relu(grid, act, lrs))]
      lines.append(f"| {act} | " + " | ".join(row) + " |")
    lines.append("")
    if target == PUBLISHED_TARGET:
      lines += [verdict_line(grid, lrs, target), ""]
  return "\n".join(lines)


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--sweep_dir", required=True)
  p.add_argument("--out_dir", default=HERE)
  a = p.parse_args(argv)
  records = tables.collect(a.sweep_dir)
  if not records:
    print(f"no runs in {a.sweep_dir}", file=sys.stderr)
    return 2
  grid_all = cells(records)
  text = table(records, grid_all)
  os.makedirs(a.out_dir, exist_ok=True)
  with open(os.path.join(a.out_dir, "table.md"), "w") as f:
    f.write(text)
  print(text)
  plot_curves(records, grid_all, os.path.join(a.out_dir, "curves.png"))
  print(f"wrote {a.out_dir}/table.md, curves.png")
  return 0


def plot_curves(records, grid_all, path: str) -> None:
  """Training error per epoch of each activation's fastest rate (its first seed)."""
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  lrs = sorted({k[2] for k in grid_all})
  targets = sorted({k[0] for k in grid_all})
  workdir = {_cell(r) + (r["config"].get("seed", 0),): r["workdir"] for r in records}
  fig, ax = plt.subplots(figsize=(5.5, 3.8))
  for act in dict.fromkeys(k[1] for k in grid_all):
    # its fastest rate at the strictest target it reached: the longest curve (first seed)
    for target in reversed(targets):
      grid = at_target(grid_all, target)
      best = fastest(grid, act, lrs)
      if best is not None:
        break
    else:
      continue
    lr = best[1]
    seed = min(grid[(act, lr)])
    rows = [m for m in read_metrics(workdir[(target, act, lr, seed)])
            if m["split"] == "train_epoch"]
    ax.plot([m["step"] / rows[0]["step"] for m in rows], [100 * (1 - m["accuracy"]) for m in rows],
            marker=".", label=f"{act} (lr {lr:g}, to {100 * (1 - target):g}%)")
  for t in targets:
    ax.axhline(100 * (1 - t), color="grey", lw=0.8, ls="--")
  ax.set_xlabel("epoch")
  ax.set_ylabel("training error (%)")
  ax.set_title("Training error per epoch at each activation's fastest rate (first seed)")
  ax.legend()
  fig.tight_layout()
  fig.savefig(path, dpi=120)


if __name__ == "__main__":
  sys.exit(main())
