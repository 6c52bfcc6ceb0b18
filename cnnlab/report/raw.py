"""The raw numbers behind a report: ``runs.csv``, one row per run and metric, and the
records read back from it, so that a committed table can be re-analysed (another
estimator, another baseline) and re-checked without its sweep directory:

    python -m cnnlab.report --sweep_dir=experiments/mnist1d_table1/runs.csv \\
        --rows=model.name --cols=data.options.shuffle_seq --metric=best.test.accuracy \\
        --estimator=median --out_dir=/tmp/again

Columns: ``run_id, status, metric, value`` (the metric as the run reported it, before
``--as_error`` and without the percent scale), ``error`` (an invalid run's reason), then
one column per config field the table depends on — its axes and every field that varies
within a cell (the seed: what pairs runs) — each a JSON value, so that types survive.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any, Dict, List

from cnnlab.errors import ReportError
from cnnlab.report.tables import Table
from cnnlab.trees import flatten, nest

FIXED = ["run_id", "status", "metric", "value", "error"]


def config_fields(t: Table) -> List[str]:
  """The axes' fields and those that vary within any cell."""
  axes = [p.strip() for key in (t.row_key, t.col_key) if key != "metric"
          for p in key.split(",")]
  varying = set()
  for cell in t.cells.values():
    flat = [flatten(run["config"]) for run in cell.runs]
    for path in {k for f in flat for k in f}:
      if len({json.dumps(f.get(path), sort_keys=True, default=str) for f in flat}) > 1:
        varying.add(path)
  return axes + sorted(varying - set(axes))


def runs_csv(t: Table) -> str:
  fields = config_fields(t)
  out = io.StringIO()
  w = csv.writer(out, lineterminator="\n")
  w.writerow(FIXED + fields)
  for key in ((r, c) for r in t.rows for c in t.cols):
    for run in t.cells[key].runs if key in t.cells else []:
      flat = flatten(run["config"])
      w.writerow([run["run_id"], run["status"], run["metric"],
                  "" if run["value"] is None else repr(float(run["value"])),
                  " ".join(str(run["error"]).split()) if run["error"] else ""]
                 + [json.dumps(flat.get(f)) for f in fields])
  return out.getvalue()


def read_runs_csv(path: str) -> List[Dict[str, Any]]:
  """The records of a ``runs.csv`` (the shape :func:`cnnlab.report.tables.collect`
  returns, each run's values under ``values``)."""
  records: Dict[tuple, Dict[str, Any]] = {}
  with open(path, newline="") as f:
    reader = csv.DictReader(f)
    missing = [c for c in FIXED if c not in (reader.fieldnames or [])]
    if missing:
      raise ReportError(f"{path} is not a report's runs.csv: no column "
                        f"{', '.join(missing)} (its columns: "
                        f"{', '.join(reader.fieldnames or []) or 'none'})")
    for line, row in enumerate(reader, start=2):
      fields = {k: v for k, v in row.items() if k not in FIXED}
      try:
        config = nest({k: json.loads(v) for k, v in fields.items()})
      except (TypeError, ValueError) as e:
        raise ReportError(f"{path}, line {line}: a config column is not JSON ({e})") from None
      # a run is its id and its config (compared sweeps may share run ids); its metrics
      # (a 'metric' axis) are rows of their own
      key = (row["run_id"], tuple(sorted(fields.items())))
      rec = records.setdefault(key, {
          "run_id": row["run_id"], "status": row["status"], "config": config, "values": {},
          "rows": set(), "result": None, "workdir": "",
          "error": row["error"] or None})
      rec["rows"].add(row["metric"])
      if row["value"] != "":
        rec["values"][row["metric"]] = float(row["value"])
  return list(records.values())
