"""Pruning inside one program against rungs as processes: one search, three ways.

    python benchmarks/prune_in_program.py [--trials=12] [--out=/tmp/prune_in_program.md]

The search (``python -m cnnlab.search``): MNIST-1D ConvPooling at 1,000 training examples,
AdamW, learning rate × weight decay (both packable), 3 seeds a trial, TPE (seed 0) with
successive halving (rungs at 250 and 750 of 2,000 steps, η = 3), two trials a round, two
worker processes. It runs

- ``apart``: every run its own program (``--pack=none``), each rung ending its process
  (the CPU default);
- ``packed``: a round's two trials × 3 seeds as one vmapped program (``--pack=seed,
  optim.lr,optim.weight_decay``), each rung ending it (``--prune_in_program=off``): the
  survivors' program is built, compiled and restored again at every rung;
- ``held``: the same program held at its rungs (``--prune_in_program=on``): pruned
  trials masked inside it, nothing compiled again.

Reported: the search's wall time, its runs' summed compute (CPU-seconds: each run's
``wall_time_s``; a program's time is shared among its runs while they train), their
compile time, how many programs started, the trials' outcomes (the same three ways?) and
the best objective. One search at a time, nothing else running.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
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
          "--sampler=tpe", "--seed=0", "--seeds=3", "--metric=best.test.accuracy",
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
          "best": out["best"]["value"] if out["best"] else None}


def table(rows: dict) -> str:
  ref = rows.get("apart", next(iter(rows.values())))
  lines = ["| mode | search wall s | runs' CPU-s | × apart | compile s | programs started "
           "| trials' outcomes as apart | best |", "|---|---|---|---|---|---|---|---|"]
  for mode, r in rows.items():
    lines.append(f"| {mode} | {r['wall_s']:.0f} | {r['cpu_s']:.0f} | "
                 f"{r['cpu_s'] / ref['cpu_s']:.2f} | {r['compile_s']:.0f} | {r['programs']} | "
                 f"{'yes' if r['outcomes'] == ref['outcomes'] else 'no'} | {r['best']:.4f} |")
  return "\n".join(lines)


def main() -> None:
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--trials", type=int, default=12)
  p.add_argument("--modes", default=",".join(MODES))
  p.add_argument("--out", default=None, help="also write the table (markdown) here")
  a = p.parse_args()
  root = tempfile.mkdtemp(prefix="prune_in_program")
  try:
    rows = {m: measure(m, a.trials, root) for m in a.modes.split(",")}
  finally:
    shutil.rmtree(root, ignore_errors=True)
  text = table(rows)
  states = rows.get("apart", next(iter(rows.values())))["outcomes"]
  text += (f"\n\n{a.trials} trials: {sum(s == 'complete' for s, _ in states)} complete, "
           f"{sum(s == 'pruned' for s, _ in states)} pruned (apart).")
  print(text)
  if a.out:
    with open(a.out, "w") as f:
      f.write(text + "\n")


if __name__ == "__main__":
  main()
