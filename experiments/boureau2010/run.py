"""Boureau, Ponce & LeCun (ICML 2010): max vs average pooling of Bernoulli features.

    python experiments/boureau2010/run.py

Writes ``table.md`` (closed form and Monte Carlo separability for pool sizes 1–256)
and ``separability.png`` here. Closed forms: :mod:`cnnlab.analysis.pooling_theory`.
Run time: about half a minute on a 2-core CPU (20,000 simulated pools per point).
"""

import os

import numpy as np

from cnnlab.analysis import pooling_theory as pt

HERE = os.path.dirname(os.path.abspath(__file__))
SETTINGS = ((0.4, 0.2), (0.05, 0.02))  # a frequent and a rare feature
SIZES = (1, 2, 4, 8, 16, 32, 64, 128, 256)


def main():
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  lines = ["Separability |μ₁−μ₂|/(σ₁+σ₂) of one pooled Bernoulli feature: closed form "
           "(Monte Carlo, 20,000 pools per class)", ""]
  fig, axes = plt.subplots(1, len(SETTINGS), figsize=(10, 3.8))
  for ax, (alpha, beta) in zip(axes, SETTINGS):
    t = pt.table(alpha, beta, SIZES)
    best = pt.best_max_pool_size(alpha, beta)
    lines += [f"α = {alpha}, β = {beta}; max pooling separates best at P = {best}", "",
              "| P | average | max |", "|---|---|---|"]
    lines += [f"| {p} | {a:.3f} ({am:.3f}) | {m:.3f} ({mm:.3f}) |" for p, a, am, m, mm in
              zip(t["pool"], t["avg_closed"], t["avg_mc"], t["max_closed"], t["max_mc"])]
    lines.append("")
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
  fig.tight_layout()
  fig.savefig(os.path.join(HERE, "separability.png"), dpi=120)
  with open(os.path.join(HERE, "table.md"), "w") as f:
    f.write("\n".join(lines))
  print("\n".join(lines))


if __name__ == "__main__":
  main()
