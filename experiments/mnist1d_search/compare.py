"""The search against its grid, measured: issue 29's "≤ 25% of the grid's CPU-seconds".

    python experiments/mnist1d_search/compare.py --grid_dir=sweeps/mnist1d_search_grid \\
        --search_dir=sweeps/mnist1d_search --fraction=0.25 --run \\
        --out=experiments/mnist1d_search/results.md

``--run`` first runs (or resumes) the search with a compute budget of ``--fraction`` of
the grid's: ``python -m cnnlab.search --config=experiments/mnist1d_search/sweep.py
--sampler=tpe --pruner=sha --min_steps=250 --reduction_factor=3 --seeds=3 --workers=2
--trials=1000 --budget_s=<fraction × the grid's CPU-seconds>`` (it stops asking once its
runs' summed wall time passes the budget; the round in flight finishes). A run's
CPU-seconds are its ``wall_time_s`` (its ``time_breakdown_s`` summed: set-up, compiling,
training, evaluation, checkpoints; a worker process holds one core, two workers on the
2-core machine), summed over every run, pruned ones included.

Then it compares: the grid's best point (the mean of ``best.test.accuracy`` over its 3
seeds, with its 95% Student t interval), the search's best trial (the same), whether the
search's best mean lies within the grid best's interval (or above it), the compute the
search had spent when it first got there, and the search's whole compute, each as a
share of the grid's. ``results.md`` says it in a table; the search's own report (trials,
importances, best-so-far against compute beside the grid's) goes to ``--report_dir``.
"""

import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, REPO)

from cnnlab.report import stats, tables  # noqa: E402
from cnnlab.trees import flatten  # noqa: E402

METRIC = "best.test.accuracy"
SEARCH = ["--config=experiments/mnist1d_search/sweep.py", "--sampler=tpe", "--pruner=sha",
          "--min_steps=250", "--reduction_factor=3", "--seeds=3", "--workers=2",
          "--trials=1000", f"--metric={METRIC}"]


def cpu_seconds(records) -> float:
  return sum(float(r["result"].wall_time_s) for r in records if r.get("result") is not None)


def grid_best(records):
  """``(point, Estimate)`` of the grid's best point by its mean over seeds."""
  groups = {}
  for r in records:
    if r["status"] != "done":
      continue
    point = {k: v for k, v in flatten(r["config"]).items() if k != "seed"}
    key = json.dumps(point, sort_keys=True, default=str)
    groups.setdefault(key, []).append((r["config"]["seed"], tables.record_value(r, METRIC)))
  key, values = max(groups.items(), key=lambda kv: stats.point([v for _, v in kv[1]]))
  values = [v for _, v in sorted(values)]  # by seed
  return json.loads(key), stats.estimate(values), len(groups), values


def search_best(search_dir: str):
  from cnnlab.search import report as search_report
  study, search, records = search_report.load(search_dir)
  import optuna
  best = study.best_trial
  from cnnlab.search import driver
  ids = set(driver._run_ids(search, best.params))
  values = [tables.record_value(r, METRIC) for r in sorted(
      (records[i] for i in ids), key=lambda r: r["config"]["seed"])]  # by seed
  curve = search_report.best_so_far(study, search, records)
  done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
  pruned = [t for t in study.trials if t.state == optuna.trial.TrialState.PRUNED]
  return (driver.spaces.point(best.params, search.space), stats.estimate(values), values, curve,
          len(done), len(pruned), len(driver.asked_trials(study)), list(records.values()))


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--grid_dir", default="sweeps/mnist1d_search_grid")
  p.add_argument("--search_dir", default="sweeps/mnist1d_search")
  p.add_argument("--fraction", type=float, default=0.25)
  p.add_argument("--run", action="store_true", help="run (or resume) the search first")
  p.add_argument("--out", default=os.path.join(HERE, "results.md"))
  p.add_argument("--report_dir", default=os.path.join(HERE, "report"))
  a = p.parse_args(argv)
  grid = tables.collect(a.grid_dir)
  grid_s = cpu_seconds(grid)
  if a.run:
    budget = a.fraction * grid_s
    subprocess.run([sys.executable, "-m", "cnnlab.search", *SEARCH,
                    f"--budget_s={budget:.1f}", f"--sweep_dir={a.search_dir}"], cwd=REPO,
                   check=True)
    subprocess.run([sys.executable, "-m", "cnnlab.search.report",
                    f"--sweep_dir={a.search_dir}", f"--grid_dir={a.grid_dir}",
                    f"--out_dir={a.report_dir}", "--html"], cwd=REPO, check=True)
  g_point, g, n_points, g_values = grid_best(grid)
  s_point, s, s_values, curve, n_done, n_pruned, n_trials, records = search_best(a.search_dir)
  c = stats.compare(s_values, g_values, paired=True)
  search_s = cpu_seconds(records)
  reached = next((spent for spent, best in curve if best is not None and best >= g.low),
                 None)
  pct = lambda x: f"{100 * x:.2f}"  # noqa: E731
  within = s.value >= g.low
  lines = [
      "| | point | best.test.accuracy, mean [95% CI] over 3 seeds | CPU-seconds |",
      "|---|---|---|---|",
      f"| grid ({n_points} points, {len(grid)} runs) | {_show(g_point)} | {pct(g.value)} "
      f"[{pct(g.low)}, {pct(g.high)}] | {grid_s:,.0f} |",
      f"| search ({n_trials} trials: {n_done} complete, {n_pruned} pruned) | "
      f"{_show(s_point)} | {pct(s.value)} [{pct(s.low)}, {pct(s.high)}] | {search_s:,.0f} "
      f"({100 * search_s / grid_s:.1f}% of the grid's) |",
      "",
      f"The search's best mean is {'within' if s.value <= g.high else 'above'} the grid "
      f"best's interval: {'yes' if within else 'no'}"
      + (f"; it got there after {reached:,.0f} CPU-seconds, {100 * reached / grid_s:.1f}% "
         f"of the grid's" if reached is not None else "; it never got there") + ".",
      f"The search's best against the grid's, paired by seed: {100 * c.diff.value:+.2f} "
      f"points [{100 * c.diff.low:+.2f}, {100 * c.diff.high:+.2f}] (95% Student t, "
      f"{c.test} p = {c.p_value:.2f}).",
  ]
  with open(a.out, "w") as f:
    f.write("\n".join(lines) + "\n")
  print("\n".join(lines))
  return 0


def _show(point) -> str:
  return ", ".join(f"{k.split('.')[-1]} {v:g}" if isinstance(v, float) else
                   f"{k.split('.')[-1]} {v}" for k, v in point.items()
                   if k in ("optim.lr", "optim.weight_decay", "model.pool", "model.act"))


if __name__ == "__main__":
  sys.exit(main())
