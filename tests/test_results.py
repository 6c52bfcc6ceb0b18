"""The result schema: typed, versioned, standard JSON; old sweeps report the same tables."""

import json
import math
import os
import re
import subprocess
import sys

import pytest

from cnnlab.errors import ReportError
from cnnlab.report import tables
from cnnlab.train.metrics import MetricWriter, read_metrics, truncate_after
from cnnlab.train import migrations
from cnnlab.train.result import (Best, Point, Result, SplitMetrics, Target, load_result,
                                 split_metrics_of_row)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OLD = os.path.join(REPO, "tests", "data", "schema1")


@pytest.fixture
def old(tmp_path):
  """A copy of the schema-1 sweeps (opening an index may convert its journal)."""
  import shutil
  shutil.copytree(OLD, tmp_path / "schema1")
  return str(tmp_path / "schema1")


def _expected(name):
  """The cells the old code printed: ``{(row, col): (mean, std, n, published, bold)}`` from
  its ``mean ± std (n) · paper p`` Markdown (tables now print intervals; the numbers
  behind them must not move)."""
  with open(os.path.join(OLD, "expected", name)) as f:
    lines = [line for line in f.read().splitlines() if line.startswith("| ")]
  cols = [c.strip() for c in lines[0].strip("|").split("|")][1:]
  cells = {}
  for line in lines[1:]:
    row, *texts = [c.strip() for c in line.strip("|").split("|")]
    for col, text in zip(cols, texts):
      m = re.fullmatch(r"(\*\*)?([\d.]+) ± ([\d.]+) \((\d+)\)(?: · paper ([\d.]+))?\**", text)
      cells[(row, col)] = (m.group(2), m.group(3), int(m.group(4)), m.group(5), bool(m.group(1)))
  return cells


def _printed(t):
  """The same fields of a table built now."""
  best = t.best()
  out = {}
  for (r, c), cell in t.cells.items():
    pub = t.published.get((str(r), str(c)))
    out[(str(r), str(c))] = (f"{cell.mean * t.scale:.1f}", f"{cell.std * t.scale:.1f}",
                             len(cell.values), None if pub is None else f"{pub:g}",
                             best.get(c) == r)
  return out


def test_the_mnist1d_table1_sweep_of_schema_1_reports_the_same_table(old):
  t = tables.build(tables.collect(os.path.join(old, "mnist1d_table1")), "model.name",
                   "data.options.shuffle_seq", "best.test.accuracy",
                   published=json.load(open(os.path.join(
                       REPO, "experiments", "mnist1d_table1", "published.json"))))
  assert _printed(t) == _expected("mnist1d_table1.md")
  assert t.text("conv1d_base", False) == "94.2 [90.1, 98.3] (3) · paper 94 reproduced"


@pytest.mark.parametrize("metric", ["best.test.accuracy", "best.test_at_best_validation.accuracy",
                                    "final.test_accuracy", "last.test.ensemble_vote_accuracy",
                                    "last.validation_ema.accuracy"])
def test_packed_runs_of_schema_1_report_the_same_tables(old, metric):
  t = tables.build(tables.collect(os.path.join(old, "packed")), "model.name", "seed", metric)
  assert _printed(t) == _expected(f"packed_{metric}.md")


def test_a_schema_1_result_of_three_side_by_side_seeds_reads_as_three_runs():
  path = next(os.path.join(OLD, "packed", "runs", r) for r in
              sorted(os.listdir(os.path.join(OLD, "packed", "runs"))))
  raw = json.load(open(os.path.join(path, "result.json")))
  runs = [Result.from_json(d) for d in migrations.members(raw)]
  assert [r.seed for r in runs] == [0, 1, 2] and all(r.schema == 4 for r in runs)
  own = [x["test_accuracy"] for x in raw["final"]["per_replica"]]  # (schema 1's layout)
  assert [r.value("final.test.accuracy") for r in runs] == own
  assert [r.value("test_accuracy") for r in runs] == own
  # the ensemble is one value for the three: the first run carries it, once
  assert runs[0].value("test_ensemble_vote_accuracy") == raw["final"]["test_ensemble_vote_accuracy"]
  assert runs[1].value("test_ensemble_vote_accuracy") is None
  r = load_result(path)  # the directory alone reads as its first run
  assert r == runs[0] and r.directions["accuracy"] == "higher" and r.directions["loss"] == "lower"
  assert set(r.final) == {"test", "test_ema", "validation", "validation_ema"}
  assert Result.from_json(r.to_json()) == r


def _result():
  return Result(status="done", step=20, total_steps=20, epochs=2.0, primary_metric="accuracy",
                best={"test": Best("accuracy", Point(0.9, 10))},
                final={"test": SplitMetrics(20, {"accuracy": 0.85, "loss": math.inf}, 30)},
                target=Target("test.accuracy", 0.85, 10, 1.0, 3.5),
                seed=1, wall_time_s=3.0, resumed_from=10)


def test_a_result_round_trips_through_standard_json(tmp_path):
  r = _result()
  path = r.write(str(tmp_path))
  text = open(path).read()
  json.loads(text, parse_constant=lambda c: pytest.fail(f"non-standard JSON token {c}"))
  assert '"loss": "inf"' in text
  back = load_result(str(tmp_path))
  assert back == r and back.final["test"].values["loss"] == math.inf


def test_values_by_path_and_legacy_name():
  r = _result()
  assert r.value("best.test.accuracy") == 0.9 and r.value("best.test.step") == 10
  assert r.value("final.test.accuracy") == 0.85 and r.value("final.test.loss") == math.inf
  assert r.value("test_accuracy") == r.value("final.test_accuracy") == 0.85
  assert r.value("target.reached_at_step") == 10 and r.value("seed") == 1
  assert r.value("wall_time_s") == 3.0 and r.value("test_nothing") is None
  assert "wall_time_s" not in r.comparable() and "train_time_s" not in r.comparable()["target"]


def test_a_newer_schema_is_refused_with_a_message():
  d = _result().to_json()
  d["schema"] = 99
  with pytest.raises(ValueError, match="result schema 99 is newer"):
    Result.from_json(d)


def test_metric_rows_are_standard_json_and_legacy_columns_read_per_run(tmp_path):
  w = MetricWriter(str(tmp_path), tensorboard=False)
  w.write("train", SplitMetrics(3, {"loss": 1.0, "grad_norm": math.inf}))
  w.close()
  line = open(tmp_path / "metrics.jsonl").read()
  json.loads(line, parse_constant=lambda c: pytest.fail(f"non-standard JSON token {c}"))
  assert read_metrics(str(tmp_path))[0]["grad_norm"] == math.inf
  old = {"step": 4, "split": "test", "accuracy": 0.5, "accuracy_r0": 0.4, "accuracy_r1": 0.6,
         "ensemble_vote_accuracy": 0.7}  # a schema-1 row of two side-by-side runs
  split, m = split_metrics_of_row(old, 1)
  assert split == "test" and m.values == {"accuracy": 0.6} and m.step == 4
  assert split_metrics_of_row(old, 0)[1].values == {"accuracy": 0.4,
                                                    "ensemble_vote_accuracy": 0.7}
  assert split_metrics_of_row(old)[1].values == {"accuracy": 0.5, "ensemble_vote_accuracy": 0.7}


def test_a_resumed_writer_drops_rows_after_its_checkpoint_and_a_torn_last_line(tmp_path):
  path = tmp_path / "metrics.jsonl"
  rows = [{"step": s, "split": "test", "accuracy": 0.1 * s} for s in (2, 4, 6)]
  path.write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"step": 8, "spl')
  assert truncate_after(str(path), 4) == 2
  assert [r["step"] for r in read_metrics(str(tmp_path))] == [2, 4]
  w = MetricWriter(str(tmp_path), tensorboard=False, resume_step=2)
  w.write("test", SplitMetrics(4, {"accuracy": 0.4}))
  w.close()
  assert [r["step"] for r in read_metrics(str(tmp_path))] == [2, 4]


def loaded_modules(imports: str, names=(), prefixes=()) -> str:
  """The modules a fresh process has after ``import <imports>`` whose top-level name is
  one of ``names`` or that start with one of ``prefixes`` (printed as a list)."""
  code = (f"import sys, {imports}\n"
          f"print([m for m in sys.modules if m.split('.')[0] in {tuple(names)!r} or "
          f"m.startswith({tuple(prefixes)!r})])")
  return subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                        text=True, env={**os.environ, "PYTHONPATH": REPO},
                        check=True).stdout.strip()


def test_reading_results_and_reports_does_not_load_orbax_or_the_model_zoo():
  assert loaded_modules("cnnlab.report.tables, cnnlab.train.result", prefixes=(
      "orbax", "cnnlab.models", "cnnlab.ops", "flax", "optax", "cnnlab.data")) == "[]"


def _loss_run(root, run_id, pool, seed, loss, directions=None):
  wd = os.path.join(root, "runs", run_id)
  os.makedirs(wd)
  with open(os.path.join(wd, "config.json"), "w") as f:
    json.dump({"seed": seed, "model": {"pool": pool}}, f)
  result = {"schema": 3 if directions else 2, "status": "done", "primary_metric": "rmse",
            "best": {}, "final": {"test": {"step": 10, "rmse": loss, "loss": loss, "r2": 0.9}}}
  if directions:
    result["directions"] = directions
  with open(os.path.join(wd, "result.json"), "w") as f:
    json.dump(result, f)


@pytest.mark.parametrize("declared", [{"rmse": "lower", "loss": "lower", "r2": "higher"}, None],
                         ids=["schema3", "schema2-upgraded"])
def test_a_metric_better_low_is_reported_so_from_what_the_runs_declare(tmp_path, declared):
  """The run's loss declares rmse and loss better low: the best cell, the baseline
  comparison and the best run read it from result.json (schema 2 by its old rule), and a
  re-report from runs.csv from the losses' declaration — with no flag."""
  from cnnlab.report import raw, tables
  from cnnlab.report.conclusions import Options
  root = str(tmp_path / "sweep")
  for s in range(3):
    _loss_run(root, f"max{s}", "max", s, 0.5 + s / 100, declared)
    _loss_run(root, f"avg{s}", "avg", s, 0.4 + s / 100, declared)
  records = tables.collect(root)
  assert records[0]["result"].directions["rmse"] == "lower"
  for metric in ("final.test.rmse", "test_loss"):
    t = tables.build(records, "model.pool", "seed", metric,
                     options=Options(baseline="model.pool=max"))
    assert t.lower_is_better and t.best()[0] == "avg"
    assert t.conclusions.comparisons[("avg", 0)].diff.value < 0
  csv = tmp_path / "runs.csv"
  csv.write_text(raw.runs_csv(tables.build(records, "model.pool", "seed", "final.test.rmse")))
  again = tables.build(raw.read_runs_csv(str(csv)), "model.pool", "seed", "final.test.rmse")
  assert again.lower_is_better and again.best()[0] == "avg"
  with pytest.raises(ReportError, match="opposite ways"):
    tables.build(records, "model.pool", "metric", "final.test.rmse,final.test.r2")


def test_one_grammar_of_result_paths_with_the_short_spellings_read_as_their_full_form():
  from cnnlab.train.result import split_path
  final = {"test": {"accuracy": 1, "loss": 1}, "test_ema": {"accuracy": 1},
           "train_set": {"accuracy": 1}}
  for path, want in [("best.test.accuracy", ("best", "test", "accuracy")),
                     ("best.test", ("best", "test", "")),
                     ("last.train_epoch.loss", ("last", "train_epoch", "loss")),
                     ("final.test.loss", ("final", "test", "loss")),
                     ("final.test_ema_accuracy", ("final", "test_ema", "accuracy")),
                     ("test_ema_accuracy", ("final", "test_ema", "accuracy")),
                     ("test_accuracy", ("final", "test", "accuracy")),
                     ("test.accuracy", ("final", "test", "accuracy")),
                     ("train_set_accuracy", ("final", "train_set", "accuracy")),
                     ("train_time_s", None), ("params", None),
                     ("target.reached_at_epoch", None)]:
    assert split_path(path, final) == want, path
  r = _result()
  for short, full in (("test_accuracy", "final.test.accuracy"),
                      ("best.test", "best.test.accuracy")):
    assert r.value(short) == r.value(full) is not None
