"""The config room (``cnnlab/config``): one override parser behind every entry point,
``--print_config`` and ``--dry_run``, absl flags with ``--help``, and imports without
circles (the config room and sweep planning load no model, data set or trainer)."""

import ast
import json
import os
import subprocess
import sys
import types

import pytest

from cnnlab import main as train_cli
from cnnlab.config import ConfigError, overrides
from cnnlab.report import __main__ as report_cli
from cnnlab.report.conclusions import baseline_value
from cnnlab.sweep import __main__ as sweep_cli
from cnnlab.sweep.definition import SweepSpec
from cnnlab.trees import get
from test_cli import CONFIG
from test_results import loaded_modules

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
  root = tmp_path_factory.mktemp("room")
  (root / "cfg.py").write_text(CONFIG)
  (root / "seeds.py").write_text(CONFIG + "\nfrom cnnlab.sweep import seeds\n"
                                 "def get_sweep():\n  return seeds(2)\n")
  return root


# (path, text, the typed value): the field's type decides, as the module's notes say
SAME = [("train.num_steps", "7", 7), ("optim.lr", "1e-2", 0.01),
        ("train.shuffle", "false", False), ("model.pool", "lp_sum(p=4)", "lp_sum(p=4)"),
        ("data.augment", "flip", ("flip",)), ("data.augment", "('flip', 'crop')",
                                               ("flip", "crop")),
        ("model.num_classes", "10", 10), ("data.validation_size", "0.1", 0.1),
        ("train.label_smoothing", "0", 0.0)]


@pytest.mark.parametrize("path,text,want", SAME, ids=[f"{p}={t}" for p, t, _ in SAME])
def test_one_override_string_means_one_value_in_main_sweep_and_report(files, path, text,
                                                                      want):
  item = f"--config.{path}={text}"
  by_main = train_cli.parse(["cnnlab.main", f"--config={files / 'cfg.py'}", item])
  main_value = by_main.overrides[path]
  run = SweepSpec.from_args(str(files / "seeds.py"), [item]).runs(check=False)[0]
  sweep_value = get(run.config.to_dict(), path)
  # the report reads a run's config as its run record stores it: JSON
  stored = json.loads(train_cli.parse(["m", f"--config={files / 'cfg.py'}"]).config
                      .to_json_best_effort())
  table = types.SimpleNamespace(cells={0: types.SimpleNamespace(configs=[stored])})
  report_path, report_value = baseline_value(table, f"{path}={text}")
  assert report_path == path
  for value in (main_value, sweep_value, report_value):
    assert value == want and type(value) is type(want), (value, want)


def test_the_report_compares_with_the_typed_baseline(tmp_path, capsys):
  """``--baseline=optim.lr=1e-1`` is the row labelled 0.1: typed as the field, not text."""
  lines = ["run_id,status,metric,value,error,optim.lr,seed"]
  lines += [f"r{lr}-{s},done,test_accuracy,{0.5 + lr + s / 100!r},,{lr},{s}"
            for lr in (0.01, 0.1) for s in range(3)]
  (tmp_path / "runs.csv").write_text("\n".join(lines) + "\n")
  argv = [f"--sweep_dir={tmp_path / 'runs.csv'}", "--rows=optim.lr", "--cols=seed",
          f"--out_dir={tmp_path / 'out'}"]
  assert report_cli.main(argv[:2] + ["--cols=metric", argv[3], "--baseline=optim.lr=1e-1"]) == 0
  out = capsys.readouterr().out
  assert "differs from the baseline (optim.lr=0.1)" in out and "| 0.1 | baseline |" in out, out
  assert report_cli.main(argv[:2] + ["--cols=metric", argv[3], "--baseline=optim.lr=0.5"]) == 2
  assert "no row has optim.lr = 0.5" in capsys.readouterr().err


def test_typing_edge_cases_and_errors_that_name_the_override():
  assert overrides.typed_value("3", None, int) == 3          # None until set, typed int
  assert overrides.typed_value("", (), tuple) == ()
  assert overrides.typed_value("{'shape': (8, 8, 1)}", {}) == {"shape": (8, 8, 1)}
  assert overrides.parse("--config.train.shuffle") == ("train.shuffle", "true")
  assert overrides.split_argv(["--config.optim.lr", "0.5", "--config.train.shuffle",
                               "--workdir=x"]) == ((("optim.lr", "0.5"), ("train.shuffle",
                                                                         "true")),
                                                   ["--workdir=x"])
  for text, current, says in (("abc", 16, "not an int like its current value 16"),
                              ("maybe", True, "not a bool"), ("2", 0.5, None)):
    if says is None:
      assert overrides.typed_value(text, current) == 2.0
      continue
    with pytest.raises(ConfigError, match=says):
      overrides.typed_value(text, current, where="config.x")
  with pytest.raises(ConfigError, match="is not <path>=<value>"):
    overrides.parse("--config.=3")


def test_print_config_and_dry_run_write_nothing(files, tmp_path, capsys, monkeypatch):
  monkeypatch.chdir(tmp_path)
  cfg = f"--config={files / 'cfg.py'}"
  assert train_cli.cli(["m", cfg, "--config.optim.lr=0.25", "--print_config"]) == 0
  assert json.loads(capsys.readouterr().out)["optim"]["lr"] == 0.25
  assert train_cli.cli(["m", cfg, "--config.model.name=lenet5", "--print_config"]) == 0
  model = json.loads(capsys.readouterr().out)["model"]
  assert model["name"] == "lenet5" and model["width"] != 0.25  # the section rebuilt
  assert train_cli.cli(["m", cfg, "--config.model.pool=avg", "--dry_run"]) == 0
  assert "config valid" in capsys.readouterr().out
  bad = ["--config.model.pool=stochastic", "--config.model.act=tanh", "--dry_run"]
  assert train_cli.cli(["m", cfg, *bad]) == 2
  assert "layer 'pool1'" in capsys.readouterr().err
  assert not os.path.exists(tmp_path / "runs")  # nothing written either way


@pytest.mark.parametrize("cli", [lambda a: train_cli.cli(["m", *a]), sweep_cli.main,
                                 report_cli.main], ids=["main", "sweep", "report"])
def test_every_entry_point_lists_its_flags(cli, capsys):
  with pytest.raises(SystemExit) as e:
    cli(["--help"])
  out = capsys.readouterr().out
  assert e.value.code == 0 and "flags:" in out and "--" in out.split("flags:")[1]


def _imports(path: str, module: str, modules) -> set:
  """Every cnnlab module ``path`` imports, at its top or inside a function."""
  found = set()
  package = module if path.endswith("__init__.py") else module.rpartition(".")[0]
  for node in ast.walk(ast.parse(open(path).read())):
    names = []
    if isinstance(node, ast.Import):
      names = [a.name for a in node.names]
    elif isinstance(node, ast.ImportFrom):
      base = node.module or ""
      if node.level:
        parent = package
        for _ in range(node.level - 1):
          parent = parent.rpartition(".")[0]
        base = f"{parent}.{base}" if base else parent
      names = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
               for a in node.names]
    for name in names:
      while name and name not in modules:
        name = name.rpartition(".")[0]
      if name and name != module:
        found.add(name)
  return found


def test_no_import_circle_in_cnnlab():
  modules = {}
  for folder, _, names in os.walk(os.path.join(REPO, "cnnlab")):
    for n in names:
      if n.endswith(".py"):
        path = os.path.join(folder, n)
        name = os.path.relpath(path, REPO)[:-3].replace(os.sep, ".")
        modules[name[:-len(".__init__")] if name.endswith(".__init__") else name] = path
  graph = {m: _imports(p, m, modules) for m, p in modules.items()}
  circles = []
  for start in graph:  # a module that reaches itself again
    seen, todo = set(), list(graph[start])
    while todo:
      m = todo.pop()
      if m == start:
        circles.append(start)
        break
      if m not in seen:
        seen.add(m)
        todo += graph[m]
  assert not circles, f"modules in an import circle: {sorted(circles)}"


# Where runs trained side by side ("replicas" of one program, "packed") may be named: the
# executor that trains them, the planning that groups them, the config that requests them
# (and cnnlab.main's help for that field), and the reader of the old one-directory layout.
SIDE_BY_SIDE_ROOMS = {
    "cnnlab/train/together.py", "cnnlab/train/loop.py", "cnnlab/train/run.py",
    "cnnlab/train/steps.py", "cnnlab/train/evaluator.py",      # the executor
    "cnnlab/sweep/planning.py",                                # the planning module
    "cnnlab/config/base.py", "cnnlab/config/validate.py",      # the config requesting it
    "cnnlab/main.py",
    "cnnlab/train/migrations.py",                              # results of schema 1-3
}


def test_runs_side_by_side_are_named_only_where_they_are_trained_planned_or_requested():
  found = set()
  for folder, _, names in os.walk(os.path.join(REPO, "cnnlab")):
    for n in names:
      if n.endswith(".py"):
        path = os.path.join(folder, n)
        text = open(path).read().lower()
        if "replica" in text or "packed" in text:
          found.add(os.path.relpath(path, REPO).replace(os.sep, "/"))
  assert found - SIDE_BY_SIDE_ROOMS == set(), "the result schema, the index, the reports " \
      "and the inspect tools know runs only"
  assert {"cnnlab/train/together.py", "cnnlab/sweep/planning.py"} <= found


def test_the_config_room_and_sweep_planning_load_no_model_data_or_trainer():
  out = loaded_modules("cnnlab.config, cnnlab.sweep.planning, cnnlab.sweep.definition",
                       names=("jax", "flax", "optax"), prefixes=(
                           "cnnlab.models", "cnnlab.data", "cnnlab.train", "cnnlab.ops"))
  assert out == "[]", out


def test_workers_read_each_runs_config_from_the_index_not_from_the_file(files, tmp_path):
  """The index is the one source of truth: a config file edited (here: broken) after the
  launch changes nothing of the runs its workers train."""
  from cnnlab.sweep import runner
  from cnnlab.sweep.index import Index
  path = tmp_path / "sweep.py"
  path.write_text((files / "seeds.py").read_text())
  out = str(tmp_path / "sweep")
  runner.prepare(SweepSpec.from_args(str(path), ["--config.train.num_steps=2"]), out,
                 log=lambda *_: None).close()
  path.write_text(path.read_text() + "\ndef get_config():\n  raise RuntimeError('edited')\n")
  proc = subprocess.run([sys.executable, "-m", "cnnlab.sweep.worker", f"--sweep_dir={out}"],
                        cwd=REPO, capture_output=True, text=True, timeout=300,
                        env={**os.environ, "PYTHONPATH": REPO})
  assert proc.returncode == 0, proc.stdout + proc.stderr
  index = Index(os.path.join(out, "index.sqlite"), readonly=True)
  rows = index.rows()
  index.close()
  assert [r["status"] for r in rows] == ["done", "done"], proc.stdout
  assert {r["result"]["step"] for r in rows} == {2}  # the override the launch stored
