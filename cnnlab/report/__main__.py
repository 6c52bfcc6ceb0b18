"""``python -m cnnlab.report``: tables and plots from a sweep directory, with conclusions.

    python -m cnnlab.report --sweep_dir=sweeps/mnist1d_pool_act --rows=model.pool \\
        --cols=model.act --metric=best.test.accuracy --baseline=model.pool=max --plots

Writes ``table.md``, ``table.tex``, ``table.csv``, ``runs.csv`` (every run's value: a
report can be made again from it, ``cnnlab/report/raw.py``; and with ``--plots``
``heatmap.png``, ``curves.png``, ``metric_vs_<rows>.png`` for numeric rows,
``filters.png`` of the best run) into ``--out_dir`` (default ``<sweep_dir>/report``)
and prints the Markdown table. Each cell is an estimate over seeds with its 95% interval
(``--estimator``, ``--interval``); ``--baseline=<path>=<value>`` adds each cell's
difference to the baseline cell paired by seed, the probability of improvement, a ``†``
where the difference survives ``--correction`` over the table's comparisons, and the
seeds each difference needs (``cnnlab/report/conclusions.py``). ``--published=file.json``
(``{"row": {"col": value}}``) adds the published numbers and whether each lies in the
measured interval (``reproduced``, or the measurement is ``higher`` / ``lower``); a file
whose numbers come from another task (``"_other_task": "CIFAR-10"``, say, for a Fashion-MNIST
sweep) shows them with that task's name and no verdict.
Several ``--sweep_dir`` (with ``--label``) make one table with a ``sweep`` axis.
"""

import json
import os
import sys

from absl import flags

from cnnlab.config import flags as cli_flags
from cnnlab.errors import USER_ERRORS, ReportError, check_dir, report
from cnnlab.report import html, labels, plots, provenance, raw, render, stats, tables
from cnnlab.report.conclusions import Options


def _define(fv: flags.FlagValues) -> None:
  define = cli_flags.definer(fv)
  define("multi_string", "sweep_dir", [], "a sweep directory (or a report's runs.csv: its "
         "runs' values); several (each with a --label) make one table with a 'sweep' axis "
         "for --rows, --cols or --baseline")
  define("multi_string", "label", [], "each --sweep_dir's name in the table (default: its "
         "folder name)")
  define("string", "rows", None, "config path for the rows, e.g. model.pool")
  define("string", "cols", None, "config path for the columns, e.g. model.act; 'metric': "
         "one column per comma-separated --metric")
  define("string", "metric", "test_accuracy", "a result path <section>.<split>.<metric>: "
         "best.test.accuracy, final.test.accuracy (short: test_accuracy) or "
         "last.train_epoch.accuracy (the last logged value); or a result.json field")
  define("bool", "as_error", False,
         "report 1 − metric (error rates from accuracies), lower is better")
  define("bool", "best_of_seeds", False,
         "also print each cell's best single run (for papers that report it)")
  define("string", "published", None, "JSON file of published numbers")
  define("enum", "estimator", "mean", "the point estimate over seeds (iqm: the 25%-trimmed "
         "mean)", enum_values=list(stats.ESTIMATORS))
  define("enum", "interval", "auto", "auto: Student t for the mean, order statistics for "
         "the median, BCa bootstrap for the IQM; bca or percentile force a bootstrap",
         enum_values=list(stats.INTERVALS))
  define("float", "level", 0.95, "the intervals' confidence level")
  define("string", "baseline", None, "<config path>=<value> of the rows or columns every "
         "other cell is compared with, paired by seed (e.g. model.pool=max; the value typed "
         "by the field, as an override: cnnlab/config/overrides.py)")
  define("enum", "correction", "holm", "over the table's comparisons: holm (family-wise "
         "error), bh (Benjamini-Hochberg, false discovery rate) or none",
         enum_values=list(stats.CORRECTIONS))
  define("float", "alpha", 0.05, "the comparisons' error level")
  define("float", "power", 0.8, "for the seeds-needed table")
  define("string", "out_dir", None, "default: <first sweep_dir>/report")
  define("bool", "plots", False, "also write the figures")
  define("bool", "html", False, "also write report.html: what the sweep was (overrides, "
         "budget, code), the tables and the plots")
  define("string", "labels", None, "names for config paths in figures and headings, e.g. "
         "'model.pool=pooling type,optim.lr=step size' (defaults: cnnlab/report/labels.py)")


def main(argv=None) -> int:
  argv = sys.argv[1:] if argv is None else argv
  try:
    a, _, _ = cli_flags.parse(_define, argv, prog="python -m cnnlab.report", doc=__doc__,
                              required=("sweep_dir", "rows", "cols"))
  except USER_ERRORS as e:
    return report("report", e)
  out = a.out_dir or os.path.join(a.sweep_dir[0], "report")
  try:
    renamed = labels.parse(a.labels)
    records, t = _table(a)
    names = _names(renamed, records)
    check_dir(out, "--out_dir")
  except USER_ERRORS as e:
    return report("report", e)
  os.makedirs(out, exist_ok=True)
  md = render.markdown(t)
  files = (("table.md", md), ("table.tex", render.latex(t)), ("table.csv", render.csv_text(t)),
           ("runs.csv", raw.runs_csv(t)))
  for name, text in files:
    with open(os.path.join(out, name), "w") as f:
      f.write(text)
  print(md)
  written = [os.path.join(out, n) for n, _ in files]
  name = " + ".join(_labels(a))
  images = []
  if a.plots and a.cols == tables.METRIC_AXIS:
    print("--plots needs a config axis as --cols, not 'metric'; tables only", file=sys.stderr)
  elif a.plots:
    images = _plots(a, t, records, out, name, names)
  written += images + [os.path.splitext(i)[0] + ".pdf" for i in images]
  if a.html:
    command = "python -m cnnlab.report " + " ".join(argv if argv is not None else sys.argv[1:])
    header = provenance.facts(a.sweep_dir, _labels(a), records)
    written.append(html.write(os.path.join(out, "report.html"), t,
                              f"{names.metric(t.metric)} — sweep {name}", images, command,
                              header=header, labels=names))
  print("wrote " + ", ".join(w for w in written if w))
  return 0


def _plots(a, t, records, out: str, name: str, names: labels.Labels):
  """The report's figures (PNG, and PDF beside each): heatmap, metric against a numeric
  axis, learning curves of the metric's split and the first-layer filters of the best
  run, each titled with the metric, its split and the sweep (the filters with the run)."""
  x_key = plots.numeric_axis(t) or a.rows
  axis = x_key.split(".")[-1]
  split = a.metric.split(".")[1] if a.metric.count(".") >= 2 else "test"
  split = split if split in ("test", "validation") else "test"  # the curves' split
  what = plots.metric_label(t, names)
  est = t.conclusions.options
  images = [plots.heatmap(t, os.path.join(out, "heatmap.png"),
                          f"{what}: {est.estimator} over seeds — sweep {name}", names),
            plots.metric_vs_axis(t, os.path.join(out, f"metric_vs_{axis}.png"),
                                 f"{what} against {names.axis(x_key)}: {est.estimator} over "
                                 f"seeds, {est.level:.0%} interval — sweep {name}", names),
            plots.learning_curves(records, a.rows, a.cols, os.path.join(out, "curves.png"),
                                  split=split, order=(t.rows, t.cols), scale=t.scale,
                                  as_error=a.as_error, labels=names,
                                  title=f"{labels.SPLITS[split]} "
                                        f"{'error' if a.as_error else 'accuracy'}"
                                        f"{' (%)' if t.scale == 100 else ''} during training: "
                                        f"mean over seeds (n), band ± std — sweep {name}")]
  done = [r for r in records if r["status"] == "done" and r["workdir"]
          and tables.record_value(r, a.metric) is not None]  # (runs.csv: no checkpoints)
  if done:
    low = t.lower_is_better and not a.as_error  # (the raw value's way: an accuracy's)
    pick = (min if low else max)(done, key=lambda r: tables.record_value(r, a.metric))
    value = tables.record_value(pick, a.metric)
    shown = (1 - value if a.as_error else value) * t.scale
    images.append(plots.first_layer_filters(
        pick["workdir"], os.path.join(out, "filters.png"),
        f"run {pick['run_id']}, the best by {names.metric(t.metric)} "
        f"({shown:.{1 if t.scale == 100 else 4}f}{'%' if t.scale == 100 else ''}) — sweep {name}"))
  return [i for i in images if i]


def _names(renamed, records) -> labels.Labels:
  """The figures' labels with ``--labels``'s, each of whose paths some run's config has (a
  misspelled one would be silently unused)."""
  for path in renamed:
    if path != tables.METRIC_AXIS:
      tables.check_path([r["config"] for r in records], path, "--labels path", "config field")
  return labels.Labels(renamed)


def _labels(a):
  return a.label or [os.path.basename(os.path.normpath(d)) for d in a.sweep_dir]


def _table(a):
  """The sweeps' records and the table the arguments ask for (ReportError when they can't)."""
  labels = _labels(a)
  if len(labels) != len(a.sweep_dir):
    raise ReportError(f"{len(a.sweep_dir)} --sweep_dir but {len(labels)} --label: give one "
                      f"label per sweep directory, or none")
  if len(set(labels)) != len(labels):
    raise ReportError(f"the sweeps' labels must differ (got {', '.join(labels)}): pass --label")
  if len(labels) > 1 and "sweep" not in (a.rows.split(",") + a.cols.split(",")):
    raise ReportError("several --sweep_dir: put 'sweep' on --rows or --cols (e.g. "
                      "--cols=sweep) so that their runs are not pooled")
  records = []
  for d, label in zip(a.sweep_dir, labels):
    if os.path.isfile(d) and d.endswith(".csv"):  # a report's runs.csv
      found = raw.read_runs_csv(d)
    elif not os.path.isdir(d):
      raise ReportError(f"--sweep_dir {d!r} is neither a directory nor a report's runs.csv")
    else:
      found = tables.collect(d)
    if not found:
      raise ReportError(f"no runs in {d} (neither an index.sqlite nor runs/*/config.json)")
    for r in found:  # (a runs.csv of compared sweeps keeps its own sweep labels)
      r["config"] = {"sweep": label, **r["config"]}
    records += found
  published = None
  if a.published:
    try:
      with open(a.published) as f:
        published = json.load(f)
    except (OSError, ValueError) as e:
      raise ReportError(f"--published {a.published!r}: {e}") from None
  options = Options(a.estimator, a.interval, a.level, a.baseline, a.correction, a.alpha,
                    a.power)
  return records, tables.build(records, a.rows, a.cols, a.metric,
                               published=published,
                               as_error=a.as_error, best_of_seeds=a.best_of_seeds,
                               options=options)


if __name__ == "__main__":
  sys.exit(main())
