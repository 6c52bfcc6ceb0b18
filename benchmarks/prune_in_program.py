"""Pruning inside one program against rungs as processes: one search, three ways.

    python benchmarks/prune_in_program.py [--trials=12] [--out=/tmp/prune_in_program.md]

The search (``python -m cnnlab.search``): MNIST-1D ConvPooling at 1,000 training examples,
AdamW, learning rate × weight decay (both packable), 3 seeds a trial, quasi-random
(Sobol, seed 0: the same points whatever the values, so the three ways can be compared
trial by trial) with successive halving (rungs at 250 and 750 of 2,000 steps, η = 3), two
trials a round, two worker processes. It runs

- ``apart``: every run its own program (``--pack=none``), each rung ending its process
  (the CPU default);
- ``packed``: a round's two trials × 3 seeds as one vmapped program (``--pack=seed,
  optim.lr,optim.weight_decay``), each rung ending it (``--prune_in_program=off``): the
  survivors' program is built, compiled and restored again at every rung;
- ``held``: the same program held at its rungs (``--prune_in_program=on``): pruned
  trials masked inside it, nothing compiled again.

Reported (medians over ``--repeats``, the modes alternating; one search at a time,
nothing else running): the search's wall time; its runs' summed wall time (each run's
``wall_time_s``: the compute measure of ``experiments/mnist1d_search``; a packed
program's time is shared among its runs, and counted once, while two runs apart are two
processes on the two cores); their compile time; the programs started; whether the
trials ended as apart (states and rungs; values to 1e-3: packed programs round apart
from runs alone) and the best objective.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

PACK = "seed,optim.lr,optim.weight_decay"
MODES = {"apart": ["--pack=none", "--prune_in_program=off"],
         "packed": [f"--pack={PACK}", "--prune_in_program=off"],
         "held": [f"--pack={PACK}", "--prune_in_program=on"]}
SEARCH = ["--config=configs/mnist1d.py:conv1d_pool", '--config.data.options={"num_train": 1000}',
          "--config.optim.name=adamw", "--config.train.num_steps=2000",
          "--config.train.eval_every_steps=250", "--config.train.checkpoint_every_steps=0",
          "--space=optim.lr=log:1e-4:1e-1", "--space=optim.weight_decay=log:1e-5:1e-2",
          "--sampler=sobol", "--seed=0", "--seeds=3", "--metric=best.test.accuracy",
          "--pruner=sha", "--min_steps=250", "--reduction_factor=3", "--workers=2"]


def measure(mode: str, trials: int, root: str) -> dict:
  sweep = os.path.join(root, mode)
  t0 = time.time()
  subprocess.run([sys.executable, "-m", "cnnlab.search", *SEARCH, f"--trials={trials}",
                  f"--sweep_dir={sweep}", *MODES[mode]], check=True, stdout=subprocess.DEVNULL)
  wall = time.time() - t0
  results = [json.load(open(os.path.join(sweep, "runs", r, "result.json")))
             for r in sorted(os.listdir(os.path.join(sweep, "runs")))]
  logs = "".join(open(os.path.join(sweep, "logs", f)).read()
                 for f in os.listdir(os.path.join(sweep, "logs")))
  out = json.load(open(os.path.join(sweep, "search.json")))
  return {"wall_s": wall, "cpu_s": sum(r["wall_time_s"] for r in results),
          "compile_s": sum(r["time_breakdown_s"]["compile"] for r in results),
          "programs": logs.count("] start"), "runs": len(results),
          "outcomes": [(t["state"], list(t.get("rungs", {}))) for t in out["trials"]],
          "values": [t.get("value") for t in out["trials"]],
          "best": out["best"]["value"] if out["best"] else None}


def _same(a: dict, b: dict) -> bool:
  return a["outcomes"] == b["outcomes"] and all(
      (x is None) == (y is None) and (x is None or abs(x - y) <= 1e-3 * abs(y))
      for x, y in zip(a["values"], b["values"]))


def table(rows: dict) -> str:
  med = lambda rs, k: statistics.median(r[k] for r in rs)  # noqa: E731
  first = next(iter(rows))
  refs = [m for m in (first, "packed") if m in rows]
  lines = ["| mode | search wall s | × " + first + " | runs' summed wall s | compile s | "
           "programs started | " + " | ".join(f"trials as {m}'s" for m in refs) + " | best |",
           "|---" * (7 + len(refs)) + "|"]
  for mode, rs in rows.items():
    same = " | ".join("yes" if _same(rs[0], rows[m][0]) else "no" for m in refs)
    lines.append(f"| {mode} | {med(rs, 'wall_s'):.0f} | "
                 f"{med(rs, 'wall_s') / med(rows[first], 'wall_s'):.2f} | "
                 f"{med(rs, 'cpu_s'):.0f} | {med(rs, 'compile_s'):.0f} | {rs[0]['programs']} | "
                 f"{same} | {rs[0]['best']:.4f} |")
  return "\n".join(lines)


def main() -> None:
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--trials", type=int, default=12)
  p.add_argument("--modes", default=",".join(MODES))
  p.add_argument("--repeats", type=int, default=2)
  p.add_argument("--out", default=None, help="also write the table (markdown) here")
  a = p.parse_args()
  root = tempfile.mkdtemp(prefix="prune_in_program")
  try:
    rows = {m: [] for m in a.modes.split(",")}
    for k in range(a.repeats):  # the modes alternate
      for m in rows:
        rows[m].append(measure(m, a.trials, os.path.join(root, str(k))))
  finally:
    shutil.rmtree(root, ignore_errors=True)
  text = table(rows)
  states = next(iter(rows.values()))[0]["outcomes"]
  text += (f"\n\n{a.trials} trials: {sum(s == 'complete' for s, _ in states)} complete, "
           f"{sum(s == 'pruned' for s, _ in states)} pruned; search wall s each time: "
           + "; ".join(f"{m} " + ", ".join(f"{r['wall_s']:.0f}" for r in rs)
                       for m, rs in rows.items()) + ".")
  print(text)
  if a.out:
    with open(a.out, "w") as f:
      f.write(text + "\n")


if __name__ == "__main__":
  main()
