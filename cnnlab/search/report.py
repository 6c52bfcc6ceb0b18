"""A search's report: what it found, what it cost, and which dimensions mattered.

    python -m cnnlab.search.report --sweep_dir=sweeps/mnist1d_conv1d_pool_search \\
        [--grid_dir=sweeps/the_grid --grid_rows=...] [--html]

Writes into ``<sweep_dir>/search_report/``: ``trials.md`` (every trial: its point, state
and objective, best first), ``importance.md`` (each dimension's share of the objective's
variance, Optuna's fANOVA; PED-ANOVA where fANOVA cannot run), ``best_so_far.png`` (the
best objective against the compute spent, the summed ``wall_time_s`` of the trials'
runs, in the order the trials finished; with ``--grid_dir`` the grid's curve beside it,
its runs taken in index order), ``slices.png`` (the objective against each dimension)
and, with ``--html``, ``report.html`` with all of them.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any, Dict, List, Optional, Tuple

from absl import flags

from cnnlab.config import flags as cli_flags
from cnnlab.errors import USER_ERRORS, ReportError, report
from cnnlab.search import driver
from cnnlab.search import space as spaces
from cnnlab.trees import flatten

OUT = "search_report"


def load(sweep_dir: str):
  """``(study, search, records)`` of a search's sweep directory."""
  import optuna
  from cnnlab.report import tables
  path = os.path.join(sweep_dir, driver.STORAGE)
  if not os.path.exists(path):
    raise ReportError(f"--sweep_dir={sweep_dir}: no {driver.STORAGE} (not a search's "
                      f"directory; python -m cnnlab.search makes one)")
  optuna.logging.set_verbosity(optuna.logging.WARNING)
  study = optuna.load_study(study_name=driver.STUDY, storage=f"sqlite:///{os.path.abspath(path)}")
  a = study.user_attrs["search"]
  space = {p: spaces.Dimension(d["kind"], d["low"], d["high"], tuple(d["values"]))
           for p, d in a["space"].items()}
  search = driver.Search("", space, a["sampler"], 0, a["seeds"], a["metric"], a["objective"],
                         a["seed"])
  return study, search, {r["run_id"]: r for r in tables.collect(sweep_dir)}


def _cost(records: Dict[str, Dict], run_ids: List[str]) -> float:
  """The compute of some runs: their summed wall time (every process of each run)."""
  return sum(float(records[i]["result"].wall_time_s) for i in run_ids
             if i in records and records[i].get("result") is not None)


def best_so_far(study, search, records) -> List[Tuple[float, Optional[float]]]:
  """``(compute so far, best objective so far)`` after each finished trial, in order."""
  import optuna
  sign = -1.0 if study.direction == optuna.study.StudyDirection.MINIMIZE else 1.0
  out, spent, best = [], 0.0, None
  for t in sorted(driver.asked_trials(study), key=lambda t: t.number):
    if t.state == optuna.trial.TrialState.RUNNING:
      continue
    spent += _cost(records, driver._run_ids(search, t.params))
    if t.state == optuna.trial.TrialState.COMPLETE:
      best = t.value if best is None or sign * t.value > sign * best else best
    out.append((spent, best))
  return out


def grid_so_far(grid_dir: str, search, lower: bool) -> List[Tuple[float, Optional[float]]]:
  """The same curve for a grid sweep: its points (seeds pooled by the search's objective)
  in the order the index lists them."""
  from cnnlab.report import tables
  groups: Dict[str, List[Dict]] = {}
  for r in tables.collect(grid_dir):  # a point: its config but the seed
    key = json.dumps({k: v for k, v in flatten(r["config"]).items() if k != "seed"},
                     sort_keys=True, default=str)
    groups.setdefault(key, []).append(r)
  out, spent, best = [], 0.0, None
  for runs in groups.values():
    spent += sum(float(r["result"].wall_time_s) for r in runs if r.get("result"))
    values = [tables.record_value(r, search.metric) if r["status"] == "done" else None
              for r in runs]
    score = driver._score(search, values)
    if score is not None and (best is None or (score < best if lower else score > best)):
      best = score
    out.append((spent, best))
  return out


def importances(study) -> Tuple[str, Dict[str, float]]:
  """Each dimension's share of the objective's variance: fANOVA (Optuna's), or PED-ANOVA
  where fANOVA cannot run (few trials, no scikit-learn)."""
  from optuna.importance import (FanovaImportanceEvaluator, PedAnovaImportanceEvaluator,
                                 get_param_importances)
  try:
    return "fANOVA", get_param_importances(study, evaluator=FanovaImportanceEvaluator(seed=0))
  except (ImportError, RuntimeError, ValueError):
    return "PED-ANOVA", get_param_importances(study, evaluator=PedAnovaImportanceEvaluator())


def trials_markdown(study, search) -> str:
  """Every trial, the best first: its point, its state and its objective."""
  import optuna
  lower = study.direction == optuna.study.StudyDirection.MINIMIZE
  asked = driver.asked_trials(study)
  complete = optuna.trial.TrialState.COMPLETE
  done = sorted((t for t in asked if t.state == complete), key=lambda t: t.value,
                reverse=not lower)
  rest = [t for t in asked if t.state != complete]
  paths = list(search.space)
  what = f"{search.objective} of {search.metric} over {search.seeds} seed(s)"
  lines = [f"| trial | {' | '.join(paths)} | state | {what} |",
           "|" + "---|" * (len(paths) + 3)]
  for t in done + rest:
    point = spaces.point(t.params, search.space) if t.params else {}
    cells = [_fmt(point.get(p)) for p in paths]
    value = f"{t.value:.4f}" if t.value is not None else "—"
    state = t.state.name.lower()
    if t.state == optuna.trial.TrialState.PRUNED and t.intermediate_values:
      step = max(t.intermediate_values)  # where it stopped, and its value there
      state, value = f"pruned at step {step}", f"({t.intermediate_values[step]:.4f})"
    lines.append(f"| {t.number} | {' | '.join(cells)} | {state} | {value} |")
  return "\n".join(lines) + "\n"


def _fmt(v: Any) -> str:
  return f"{v:.4g}" if isinstance(v, float) else str(v)


def importance_markdown(method: str, found: Dict[str, float]) -> str:
  lines = [f"Importance of each dimension ({method}, Optuna; shares of the objective's "
           f"variance, summing to 1)", "", "| dimension | importance |", "|---|---|"]
  lines += [f"| {p} | {v:.3f} |" for p, v in found.items()]
  return "\n".join(lines) + "\n"


def plot_best_so_far(curves: Dict[str, List], path: str, what: str) -> str:
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  fig, ax = plt.subplots(figsize=(6, 4))
  for label, curve in curves.items():
    xs = [c for c, b in curve if b is not None]
    ys = [b for _, b in curve if b is not None]
    ax.step(xs, ys, where="post", marker="o", markersize=3, label=label)
  ax.set_xlabel("compute spent (summed wall time of the runs, s)")
  ax.set_ylabel(f"best {what} so far")
  ax.legend()
  ax.set_title("best so far against compute")
  fig.tight_layout()
  fig.savefig(path, dpi=120)
  plt.close(fig)
  return path


def plot_slices(study, search, path: str, what: str) -> str:
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  import optuna
  done = [t for t in driver.asked_trials(study) if t.state == optuna.trial.TrialState.COMPLETE]
  dims = list(search.space.items())
  fig, axes = plt.subplots(1, len(dims), figsize=(4 * len(dims), 3.5), squeeze=False)
  for ax, (p, d) in zip(axes[0], dims):
    xs = [t.params[p] for t in done]
    if d.kind == "choice":
      labels = [str(v) for v in d.values]
      ax.set_xticks(range(len(labels)), labels, rotation=30)
      xs = [labels.index(str(x)) for x in xs]
    elif "log" in d.kind:
      ax.set_xscale("log")
    ax.scatter(xs, [t.value for t in done], c=[t.number for t in done], cmap="viridis", s=18)
    ax.set_xlabel(p)
  axes[0][0].set_ylabel(what)
  fig.suptitle("the objective against each dimension (colour: trial order)")
  fig.tight_layout()
  fig.savefig(path, dpi=120)
  plt.close(fig)
  return path


def _define(fv: flags.FlagValues) -> None:
  define = cli_flags.definer(fv)
  define("string", "sweep_dir", None, "a search's sweep directory")
  define("string", "grid_dir", None, "a grid sweep over the same space, for the "
         "best-so-far curve beside the search's")
  define("string", "out_dir", None, f"default: <sweep_dir>/{OUT}")
  define("bool", "html", False, "also write report.html")


def main(argv=None) -> int:
  argv = sys.argv[1:] if argv is None else argv
  try:
    a, _, _ = cli_flags.parse(_define, argv, prog="python -m cnnlab.search.report",
                              doc=__doc__, required=("sweep_dir",))
    study, search, records = load(a.sweep_dir)
    out = a.out_dir or os.path.join(a.sweep_dir, OUT)
    os.makedirs(out, exist_ok=True)
    written = _write(a, study, search, records, out)
  except USER_ERRORS as e:
    return report("search report", e)
  print("wrote " + ", ".join(written))
  return 0


def _write(a, study, search, records, out: str) -> List[str]:
  import optuna
  what = f"{search.objective} {search.metric}"
  files = {"trials.md": trials_markdown(study, search)}
  complete = [t for t in driver.asked_trials(study) if t.state == optuna.trial.TrialState.COMPLETE]
  if len(complete) >= 2:
    files["importance.md"] = importance_markdown(*importances(study))
  for name, text in files.items():
    with open(os.path.join(out, name), "w") as f:
      f.write(text)
  print(files["trials.md"])
  curves = {f"search ({search.sampler})": best_so_far(study, search, records)}
  if a.grid_dir:
    lower = study.direction == optuna.study.StudyDirection.MINIMIZE
    curves["grid"] = grid_so_far(a.grid_dir, search, lower)
  images = [plot_best_so_far(curves, os.path.join(out, "best_so_far.png"), what)]
  if complete:
    images.append(plot_slices(study, search, os.path.join(out, "slices.png"), what))
  written = [os.path.join(out, n) for n in files] + images
  if a.html:
    written.append(_html(out, files, images, " ".join(["python -m cnnlab.search.report",
                                                        *sys.argv[1:]])))
  return written


def _html(out: str, files: Dict[str, str], images: List[str], command: str) -> str:
  import html
  parts = [f"<h1>Search report</h1><p><code>{html.escape(command)}</code></p>"]
  parts += [f"<h2>{html.escape(n)}</h2><pre>{html.escape(t)}</pre>" for n, t in files.items()]
  parts += [f'<img src="{os.path.basename(i)}" style="max-width:100%">' for i in images]
  path = os.path.join(out, "report.html")
  with open(path, "w") as f:
    f.write("<!doctype html><meta charset='utf-8'><title>search report</title>"
            + "\n".join(parts))
  return path


if __name__ == "__main__":
  sys.exit(main())
