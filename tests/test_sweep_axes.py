"""Sweeps from the command line: ``--axis`` (values typed by the field, or a range),
``--seeds`` and ``--only`` (narrowing a shipped sweep), stored in the sweep's spec."""

import json
import os

import pytest

from cnnlab.config import ConfigError
from cnnlab.sweep import __main__ as sweep_cli
from cnnlab.sweep.definition import SweepSpec
from cnnlab.sweep.index import Index
from cnnlab.sweep.planning import split_values
from test_cli import CONFIG, SWEEP


@pytest.fixture(scope="module")
def files(tmp_path_factory):
  root = tmp_path_factory.mktemp("axes")
  (root / "cfg.py").write_text(CONFIG)
  (root / "sweep.py").write_text(SWEEP % "model.pool")  # max, avg × 1 seed
  return root


def _points(config, **kw):
  return [r.overrides for r in SweepSpec.from_args(str(config), **kw).runs(check=False)]


def test_command_line_axes_are_the_sweep_a_file_would_define(files, tmp_path):
  by_cli = SweepSpec.from_args(str(files / "cfg.py"), axes=["model.pool=max,avg",
                                                             "model.act=relu,tanh"], seeds=2)
  file = tmp_path / "same.py"
  file.write_text(CONFIG + "\nfrom cnnlab.sweep import product, seeds, sweep\n"
                  "def get_sweep():\n  return product(sweep('model.pool', ['max', 'avg']), "
                  "sweep('model.act', ['relu', 'tanh']), seeds(2))\n")
  by_file = SweepSpec.from_args(str(file))
  assert [r.run_id for r in by_cli.runs()] == [r.run_id for r in by_file.runs()]


def test_values_are_typed_by_their_field_and_ranges_expand(files):
  points = _points(files / "cfg.py", axes=["optim.lr=log:1e-3:1e-1:3",
                                           "train.batch_size=lin:8:16:3"])
  assert sorted({p["optim.lr"] for p in points}) == [0.001, 0.01, 0.1]
  assert sorted({p["train.batch_size"] for p in points}) == [8, 12, 16]
  assert all(type(p["train.batch_size"]) is int for p in points)
  points = _points(files / "cfg.py", axes=["model.pool=lp_sum(p=4),max",
                                           "train.shuffle=true,false"])
  assert {(p["model.pool"], p["train.shuffle"]) for p in points} == {
      ("lp_sum(p=4)", True), ("lp_sum(p=4)", False), ("max", True), ("max", False)}
  assert split_values("lp_sum(p=4, q=2),max, 'a,b'") == ["lp_sum(p=4, q=2)", "max", "'a,b'"]


def test_only_narrows_a_shipped_sweep_and_bad_axes_say_why(files):
  assert _points(files / "sweep.py", only=["model.pool=avg"]) == [{"model.pool": "avg",
                                                                    "seed": 0}]
  for kw, says in ((dict(only=["model.pool=maxx"]), "never sets model.pool to 'maxx'; its "
                    "values: max, avg"),
                   (dict(only=["model.act=relu"]), "does not vary 'model.act'"),
                   (dict(axes=["model.pool=max"]), "varies model.pool already; --only"),
                   (dict(seeds=2), "sets the seeds already"),
                   (dict(axes=["optim.lr=log:0:1:3"]), "positive ends"),
                   (dict(axes=["model.pol=max"]), "config.model has no field 'pol'"),
                   (dict(only=["model.pool"]), "give <path>=<values>"),
                   (dict(axes=["model.act"]), "give <path>=<values>")):
    with pytest.raises(ConfigError, match=says):
      _points(files / "sweep.py", **kw)
  with pytest.raises(ConfigError, match="defines no get_sweep"):
    _points(files / "cfg.py")


def test_a_command_line_sweep_runs_resumes_and_keeps_its_axes(files, tmp_path, capsys):
  out = str(tmp_path / "sweep")
  argv = [f"--config={files / 'cfg.py'}", f"--sweep_dir={out}", "--workers=1",
          "--axis=model.pool=max,avg"]
  assert sweep_cli.main(argv) == 0
  index = Index(os.path.join(out, "index.sqlite"), readonly=True)
  assert index.meta("spec")["axes"] == ["model.pool=max,avg"]
  assert sorted(r["config"]["model"]["pool"] for r in index.rows(status="done")) == \
      ["avg", "max"]
  stamps = {r["run_id"]: r["updated"] for r in index.rows()}
  index.close()
  capsys.readouterr()
  assert sweep_cli.main(argv) == 0  # the same command: nothing trains again
  index = Index(os.path.join(out, "index.sqlite"), readonly=True)
  assert {r["run_id"]: r["updated"] for r in index.rows()} == stamps
  index.close()
  assert json.loads(json.dumps(SweepSpec.from_args(str(files / "cfg.py"), axes=["a=1"])
                               .to_json()))["axes"] == ["a=1"]
