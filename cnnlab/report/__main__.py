"""``python -m cnnlab.report``: tables and plots from a sweep directory.

    python -m cnnlab.report --sweep_dir=sweeps/mnist1d_pool_act --rows=model.pool \\
        --cols=model.act --metric=best.test.accuracy --plots

Writes ``table.md``, ``table.tex``, ``table.csv`` (and with ``--plots`` ``heatmap.png``,
``curves.png``, ``metric_vs_<rows>.png`` for numeric rows, ``filters.png`` of the
best run) into ``--out_dir`` (default ``<sweep_dir>/report``) and prints the
Markdown table. ``--published=file.json`` (``{"row": {"col": value}}``) adds the
published numbers to the cells.
"""

import json
import os
import sys

from cnnlab.errors import USER_ERRORS, ArgumentParser, ReportError, check_dir, report
from cnnlab.report import html, plots, tables


def main(argv=None) -> int:
  p = ArgumentParser(prog="python -m cnnlab.report", description=__doc__.splitlines()[0],
                     what="report")
  p.add_argument("--sweep_dir", required=True)
  p.add_argument("--rows", required=True, help="config path for the rows, e.g. model.pool")
  p.add_argument("--cols", required=True,
                 help="config path for the columns, e.g. model.act; 'metric': one column "
                      "per comma-separated --metric")
  p.add_argument("--metric", default="test_accuracy",
                 help="a final metric (test_accuracy), a result.json path (best.test.accuracy) "
                      "or the last logged value of a split's metric (last.train_epoch.accuracy)")
  p.add_argument("--lower_is_better", action="store_true")
  p.add_argument("--as_error", action="store_true",
                 help="report 1 − metric (error rates from accuracies), lower is better")
  p.add_argument("--best_of_seeds", action="store_true",
                 help="also print each cell's best single run (for papers that report it)")
  p.add_argument("--published", default=None, help="JSON file of published numbers")
  p.add_argument("--out_dir", default=None)
  p.add_argument("--plots", action="store_true")
  p.add_argument("--html", action="store_true",
                 help="also write report.html: the table and the plots side by side")
  a = p.parse_args(argv)
  out = a.out_dir or os.path.join(a.sweep_dir, "report")
  try:
    records, t = _table(a)
    check_dir(out, "--out_dir")
  except USER_ERRORS as e:
    return report("report", e)
  os.makedirs(out, exist_ok=True)
  md = tables.markdown(t)
  for name, text in (("table.md", md), ("table.tex", tables.latex(t)),
                     ("table.csv", tables.csv_text(t))):
    with open(os.path.join(out, name), "w") as f:
      f.write(text)
  print(md)
  written = [os.path.join(out, n) for n in ("table.md", "table.tex", "table.csv")]
  name = os.path.basename(os.path.normpath(a.sweep_dir))
  images = []
  if a.plots and a.cols == tables.METRIC_AXIS:
    print("--plots needs a config axis as --cols, not 'metric'; tables only", file=sys.stderr)
  elif a.plots:
    images = _plots(a, t, records, out, name)
  written += images
  if a.html:
    command = "python -m cnnlab.report " + " ".join(argv if argv is not None else sys.argv[1:])
    written.append(html.write(os.path.join(out, "report.html"), t,
                              f"{t.metric} — sweep {name}", images, command))
  print("wrote " + ", ".join(w for w in written if w))
  return 0


def _plots(a, t, records, out: str, name: str):
  """The report's PNGs: heatmap, metric against a numeric row axis, learning curves and
  the first-layer filters of the best run."""
  x_key = plots.numeric_axis(t) or a.rows
  axis = x_key.split(".")[-1]
  split = a.metric.split(".")[1] if a.metric.count(".") >= 2 else "test"
  split = split if split in ("test", "validation") else "test"  # the curves' split
  images = [plots.heatmap(t, os.path.join(out, "heatmap.png"), f"{t.metric} — sweep {name}"),
            plots.metric_vs_axis(t, os.path.join(out, f"metric_vs_{axis}.png"),
                                 f"{t.metric} against {x_key}: mean ± std over seeds — "
                                 f"sweep {name}"),
            plots.learning_curves(records, a.rows, a.cols, os.path.join(out, "curves.png"),
                                  split=split,
                                  title=f"{split} accuracy during training: mean over seeds "
                                        f"(n), band ± std — sweep {name}",
                                  order=(t.rows, t.cols))]
  done = [r for r in records if r["status"] == "done"
          and tables.record_value(r, a.metric) is not None]
  if done:
    pick = (min if a.lower_is_better else max)(done, key=lambda r: tables.record_value(r, a.metric))
    images.append(plots.first_layer_filters(pick["workdir"], os.path.join(out, "filters.png")))
  return [i for i in images if i]


def _table(a):
  """The sweep's records and the table the arguments ask for (ReportError when they can't)."""
  if not os.path.isdir(a.sweep_dir):
    raise ReportError(f"--sweep_dir {a.sweep_dir!r} is not a directory")
  records = tables.collect(a.sweep_dir)
  if not records:
    raise ReportError(f"no runs in {a.sweep_dir} (neither an index.sqlite nor runs/*/config.json)")
  published = None
  if a.published:
    try:
      with open(a.published) as f:
        published = json.load(f)
    except (OSError, ValueError) as e:
      raise ReportError(f"--published {a.published!r}: {e}") from None
  return records, tables.build(records, a.rows, a.cols, a.metric,
                               lower_is_better=a.lower_is_better, published=published,
                               as_error=a.as_error, best_of_seeds=a.best_of_seeds)


if __name__ == "__main__":
  sys.exit(main())
