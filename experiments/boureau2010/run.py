"""Boureau, Ponce & LeCun (ICML 2010): max vs average pooling of Bernoulli features.

    python experiments/boureau2010/run.py

Writes ``table.md`` (closed form and Monte Carlo separability for pool sizes 1–256, each
simulation with its 95% bootstrap interval, and the computed verdict on whether the
closed forms and the simulation agree) and ``separability.png`` here. Closed forms:
:mod:`cnnlab.analysis.pooling_theory`. Run time: about half a minute on a 2-core CPU (20,000
simulated pools per point, 999 bootstrap resamples each).
"""

import os

import jax
import numpy as np

from cnnlab.analysis import pooling_theory as pt

HERE = os.path.dirname(os.path.abspath(__file__))
SETTINGS = ((0.4, 0.2), (0.05, 0.02))  # a frequent and a rare feature
SIZES = (1, 2, 4, 8, 16, 32, 64, 128, 256)


def _cell(closed, mc, low, high):
  if np.isnan(low):
    return f"{closed:.3f} · {mc:.3f} —"
  mark = "" if low <= closed <= high else " †"
  return f"{closed:.3f} · {mc:.3f} [{low:.3f}, {high:.3f}]{mark}"


def verdict_line(closed, low, high):
  """The computed agreement of the closed forms with the simulation, over every point."""
  outside, points, p = pt.agreement(closed, low, high)
  unresolved = len(closed) - points
  word = "agree" if p >= 0.05 else "disagree"
  return (f"Agreement: the closed form lies outside the Monte Carlo's 95% interval at "
          f"{outside} of {points} points ({unresolved} without an interval: every simulated "
          f"pool saturated); were the closed forms exact, P(≥ {outside} of {points} outside) = "
          f"{p:.2f} → the closed forms and the simulation **{word}** (α = 0.05).")


def main():
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  lines = ["Separability |μ₁−μ₂|/(σ₁+σ₂) of one pooled Bernoulli feature: closed form · Monte "
           "Carlo (20,000 pools per class) [95% percentile bootstrap interval]; † closed form "
           "outside the interval; — every simulated pool saturated (no interval)", ""]
  fig, axes = plt.subplots(1, len(SETTINGS), figsize=(10, 3.8))
  every = ([], [], [])
  for n, (ax, (alpha, beta)) in enumerate(zip(axes, SETTINGS)):
    t = pt.table(alpha, beta, SIZES, key=jax.random.fold_in(jax.random.PRNGKey(0), n))
    best = pt.best_max_pool_size(alpha, beta)
    lines += [f"α = {alpha}, β = {beta}; max pooling separates best at P = {best}", "",
              "| P | average | max |", "|---|---|---|"]
    for i, p in enumerate(t["pool"]):
      lines.append(f"| {p} | " + " | ".join(
          _cell(*(t[f"{kind}_{f}"][i] for f in ("closed", "mc", "mc_low", "mc_high")))
          for kind in ("avg", "max")) + " |")
    lines.append("")
    for kind in ("avg", "max"):
      for acc, f in zip(every, ("closed", "mc_low", "mc_high")):
        acc += t[f"{kind}_{f}"]
    dense = np.unique(np.round(np.logspace(0, np.log10(SIZES[-1]), 200)).astype(int))
    for kind, colour in (("avg", "C0"), ("max", "C1")):
      ax.plot(dense, pt.separability(alpha, beta, dense, kind), colour,
              label=f"{kind} (closed form)")
      ax.plot(t["pool"], t[f"{kind}_mc"], colour + "o", label=f"{kind} (Monte Carlo)")
    ax.axvline(best, color="C1", linestyle=":", linewidth=1)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("pool size P")
    ax.set_ylabel("separability")
    ax.set_title(f"α = {alpha}, β = {beta}")
    ax.legend(fontsize=7)
  lines.append(verdict_line(*every))
  fig.tight_layout()
  fig.savefig(os.path.join(HERE, "separability.png"), dpi=120)
  with open(os.path.join(HERE, "table.md"), "w") as f:
    f.write("\n".join(lines) + "\n")
  print("\n".join(lines))


if __name__ == "__main__":
  main()
