"""One error path for every command line: exit 2, one line, the field, the valid values,
the closest match — never a traceback — and the corrected command then succeeds in the
same work directory.

The commands run in this process (each CLI's ``main``/``cli`` function, exactly what
its entry point calls); a few run as real processes too, to check what a user sees.
"""

import os
import subprocess
import sys

import pytest

from cnnlab import main as train_cli
from cnnlab.models import summary
from cnnlab.report import __main__ as report_cli
from cnnlab.sweep import __main__ as sweep_cli

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
pytestmark = pytest.mark.timeout(600)

CONFIG = """
from cnnlab.config import base_config
def get_config():
  c = base_config("fashionnet")
  c.model.width = 0.25
  c.data.name = "synthetic"
  c.data.options = {"shape": (8, 8, 1), "num_train": 96, "num_test": 30}
  c.train.update(batch_size=16, num_steps=4, eval_every_steps=4, log_every_steps=4,
                 checkpoint_every_steps=4)
  return c
"""

SWEEP = CONFIG + """
from cnnlab.sweep import product, seeds, sweep
def get_sweep():
  return product(sweep(%r, ["max", "avg"]), seeds(1))
"""


@pytest.fixture(scope="module")
def files(tmp_path_factory):
  root = tmp_path_factory.mktemp("cli")
  (root / "cfg.py").write_text(CONFIG)
  (root / "sweep.py").write_text(SWEEP % "model.pool")
  (root / "sweep_typo.py").write_text(SWEEP % "model.pol")
  (root / "no_sweep.py").write_text(CONFIG)
  (root / "raises.py").write_text("x = 1\ny = undefined_name\n" + SWEEP % "model.pool")
  (root / "a_file").write_text("")
  return root


@pytest.fixture(autouse=True)
def _data_dir(tmp_path, monkeypatch):
  monkeypatch.setenv("CNNLAB_DATA_DIR", str(tmp_path / "data"))


def _call(fn, argv):
  try:
    return fn(argv)
  except SystemExit as e:  # argparse's errors exit from inside
    return e.code


def _main(argv):
  return train_cli.cli(["cnnlab.main", "--compilation_cache_dir=", *argv])


def _sweep(argv):
  return sweep_cli.main(argv)


def _report(argv):
  return report_cli.main(argv)


def _summary(argv):
  return summary.main(["summary", *argv])


CLIS = {"main": _main, "sweep": _sweep, "report": _report, "summary": _summary}

# (cli, bad arguments, what the one line says, the corrected arguments)
# {cfg}, {sweep}, {dir}: the config file, the sweep config and the work/sweep directory.
CASES = [
    ("main", ["--config={cfg}", "--config.model.poool=max"],
     "config.model has no field 'poool'. Did you mean 'pool'?", ["--config={cfg}"]),
    ("main", ["--config={cfg}", "--config.trai.batch_size=8"],
     "config has no field 'trai'. Did you mean 'train'?", ["--config={cfg}",
                                                           "--config.train.batch_size=8"]),
    ("main", ["--config={cfg}", "--config.model.name=fashionnnet"],
     "unknown model 'fashionnnet'. Did you mean 'fashionnet'", ["--config={cfg}"]),
    ("main", ["--config={cfg}", "--config.model.pool=maxx"],
     "unknown pooling 'maxx'. Did you mean 'max'", ["--config={cfg}",
                                                    "--config.model.pool=max"]),
    ("main", ["--config={cfg}", "--config.model.pool=lp_sum(pp=4)"],
     "pooling 'lp_sum' has no option 'pp'. Did you mean 'p'? Its options: p",
     ["--config={cfg}", "--config.model.pool=lp_sum(p=4)"]),
    ("main", ["--config={cfg}", "--config.model.pool=lp_sum(p=0.5)"],
     "option 'p' is 0.5, outside its range 1 <= p", ["--config={cfg}",
                                                      "--config.model.pool=lp_sum(p=1)"]),
    ("main", ["--config={cfg}", "--config.model.pool=lp_sum(p=4"],
     "is not of the form name(key=value, ...)", ["--config={cfg}"]),
    ("main", ["--config={cfg}", "--config.model.act=tanhh"],
     "unknown activation 'tanhh'. Did you mean 'tanh'", ["--config={cfg}",
                                                          "--config.model.act=tanh"]),
    ("main", ["--config={cfg}", "--config.model.pool=stochastic", "--config.model.act=tanh"],
     "layer 'pool1': pooling 'stochastic' needs non-negative inputs",
     ["--config={cfg}", "--config.model.pool=stochastic"]),
    ("main", ["--config={cfg}", "--config.model.norm=lrn(size=0)"],
     "option 'size' is 0, outside its range 1 <= size", ["--config={cfg}",
                                                          "--config.model.norm=lrn(size=3)"]),
    ("main", ["--config={cfg}", "--config.model.act=leaky_relu(slope=0.2)"],
     "no option 'slope'.* Its options: negative_slope",
     ["--config={cfg}", "--config.model.act=leaky_relu(negative_slope=0.2)"]),
    ("main", ["--config={cfg}", "--config.train.num_steps=-5"],
     "config.train.num_steps: must be an int >= 0, got -5", ["--config={cfg}"]),
    ("main", ["--config={cfg}", "--config.train.batch_size=1000"],
     "config.train.batch_size: 1000 exceeds the 96 training examples", ["--config={cfg}"]),
    ("main", ["--config={cfg}", "--config.optim.name=adamm"],
     "unknown optimizer 'adamm'. Did you mean 'adam'", ["--config={cfg}"]),
    ("main", ["--config={cfg}", "--config.data.name=synthetik"],
     "unknown data set 'synthetik'. Did you mean 'synthetic'", ["--config={cfg}"]),
    ("main", ["--config={cfg}", "--config.data.validation_from=start"],
     "config.data.validation_from: must be 'end' or 'random'", ["--config={cfg}"]),
    ("main", ["--config={cfg}", "--workdirr=x"],
     "Unknown command line flag 'workdirr'. Did you mean: workdir", ["--config={cfg}"]),
    ("main", ["--config={root}/nonexistent.py"], "no config file", ["--config={cfg}"]),
    ("main", ["--config={cfg}", "--config.train.batch_size=abc"],
     "not an int like its current value 16", ["--config={cfg}"]),
    ("main", ["--config={cfg}", "extra"], "unexpected arguments ['extra']", ["--config={cfg}"]),
    ("main", ["--config=configs/mnist1d.py:conv1d_bsae"],
     "unknown model 'conv1d_bsae'. Did you mean 'conv1d_base'", ["--config={cfg}"]),
    ("main", ["--config={cfg}", "--config.model.num_classes=0"],
     "num_classes must be >= 1", ["--config={cfg}", "--config.model.num_classes=10"]),
    ("main", ["--config={root}/raises.py"],
     "config file {root}/raises.py line 2: NameError: name 'undefined_name' is not defined",
     ["--config={cfg}"]),
    ("main", ["--config={cfg}", "--config.train.cpu_devices=3"],
     "config.train.cpu_devices: 3 host devices cannot split train.batch_size=16",
     ["--config={cfg}", "--config.train.cpu_devices=1"]),
    ("sweep", ["--config={root}/raises.py", "--sweep_dir={dir}", "--dry_run"],
     "line 2: NameError: name 'undefined_name' is not defined",
     ["--config={sweep}", "--sweep_dir={dir}", "--dry_run"]),
    ("sweep", ["--config={sweep}", "--sweep_dir={root}/a_file"],
     "--sweep_dir={root}/a_file is a file, not a directory",
     ["--config={sweep}", "--sweep_dir={dir}", "--dry_run"]),
    ("summary", ["conv1d_pol"], "unknown model 'conv1d_pol'. Did you mean 'conv1d_pool'",
     ["conv1d_pool"]),
    ("summary", ["conv1d_pool", "--pool=gem"], "pool 'gem' is a global pooling",
     ["conv1d_pool", "--pool=avg"]),
    ("summary", ["conv1d_pool", "--pol=avg"], "no field 'pol'. Did you mean 'pool'",
     ["conv1d_pool", "--pool=lp_sum(p=2)"]),
    ("summary", ["conv1d_pool", "--input_shape=a,b"], "--input_shape must be integers",
     ["conv1d_pool", "--input_shape=60,1"]),
    ("summary", [], "usage: python -m cnnlab.models.summary", ["lenet5"]),
    ("sweep", ["--config={sweep}", "--sweep_dir={dir}", "--workerz=2"],
     "Unknown command line flag 'workerz'. Did you mean: workers",
     ["--config={sweep}", "--sweep_dir={dir}", "--dry_run"]),
    ("sweep", ["--config={sweep}", "--sweep_dir={dir}", "--worker=2"],
     "Unknown command line flag 'worker'. Did you mean: workers",
     ["--config={sweep}", "--sweep_dir={dir}", "--dry_run"]),
    ("sweep", ["--config={root}/sweep_typo.py", "--sweep_dir={dir}", "--dry_run"],
     "sweep path 'model.pol': config.model has no field 'pol'. Did you mean 'pool'",
     ["--config={sweep}", "--sweep_dir={dir}", "--dry_run"]),
    ("sweep", ["--config={root}/no_sweep.py", "--sweep_dir={dir}"], "defines no get_sweep()",
     ["--config={sweep}", "--sweep_dir={dir}", "--dry_run"]),
    ("sweep", ["--config={root}/nonexistent.py", "--sweep_dir={dir}"], "no config file",
     ["--config={sweep}", "--sweep_dir={dir}", "--dry_run"]),
    ("sweep", ["--config={sweep}", "--sweep_dir={dir}", "--workers=0"],
     "flag --workers=0: 0 is not a positive integer",
     ["--config={sweep}", "--sweep_dir={dir}", "--dry_run"]),
    ("report", ["--sweep_dir={root}/nonexistent", "--rows=model.pool", "--cols=seed"],
     "is neither a directory nor a report", None),
    ("report", ["--sweep_dir={root}", "--rows=model.pool"],
     "--cols is required", None),
]


def _fill(args, files, workdir):
  return [a.format(cfg=files / "cfg.py", sweep=files / "sweep.py", root=files, dir=workdir)
          for a in args]


@pytest.mark.parametrize("cli,bad,says,fixed", CASES,
                         ids=[f"{c[0]}-{'_'.join(c[1])[-40:]}" for c in CASES])
def test_bad_input_is_one_line_and_the_corrected_command_succeeds(
    tmp_path, files, capsys, cli, bad, says, fixed):
  workdir = tmp_path / "run"
  extra = ["--workdir=" + str(workdir)] if cli == "main" else []
  code = _call(CLIS[cli], _fill(bad, files, workdir) + extra)
  err = capsys.readouterr().err
  lines = [line for line in err.splitlines() if line.strip()]
  assert code == 2, err
  assert len(lines) == 1 and "Traceback" not in err, err
  assert lines[0].startswith("invalid "), lines[0]
  import re
  says = _fill([says], files, workdir)[0]
  assert re.search(says if ".*" in says else re.escape(says), lines[0]), lines[0]
  assert not os.path.exists(workdir / "checkpoints")  # nothing left behind in the workdir
  if fixed is not None:
    assert _call(CLIS[cli], _fill(fixed, files, workdir) + extra) == 0, \
        capsys.readouterr().err[-2000:]


def _one_line(capsys, says):
  err = capsys.readouterr().err
  lines = [line for line in err.splitlines() if line.strip()]
  assert len(lines) == 1 and "Traceback" not in err and says in lines[0], err
  return lines[0]


def test_a_workdir_of_another_config_names_the_fields_and_its_own_config_resumes(
    tmp_path, files, capsys):
  wd = f"--workdir={tmp_path / 'run'}"
  assert _main([f"--config={files / 'cfg.py'}", wd, "--config.train.stop_after_steps=2"]) == 0
  capsys.readouterr()
  assert _main([f"--config={files / 'cfg.py'}", wd, "--config.optim.lr=0.5"]) == 2
  _one_line(capsys, "optim.lr: 0.001 there, 0.5 now")
  assert _main([f"--config={files / 'cfg.py'}", wd]) == 0  # stop_after_steps may change


def test_variants_without_a_workdir_land_in_directories_named_by_their_overrides(
    tmp_path, files, capsys, monkeypatch):
  """Two variants of one config, no --workdir: two directories (the override named), not
  the collision message; the same variant again (another stop) resumes its own."""
  monkeypatch.chdir(tmp_path)
  cfg, stop = f"--config={files / 'cfg.py'}", "--config.train.stop_after_steps=2"
  assert _main([cfg, stop]) == 0
  assert _main([cfg, "--config.optim.lr=0.5", stop]) == 0
  capsys.readouterr()
  assert _main([cfg, "--config.optim.lr=0.5", "--config.train.stop_after_steps=3"]) == 0
  out = capsys.readouterr().out
  assert f"resumed from step 2 ({tmp_path}/runs/cfg_fashionnet_lr-0.5/checkpoints)" in out, out
  assert sorted(os.listdir(tmp_path / "runs")) == ["cfg_fashionnet", "cfg_fashionnet_lr-0.5"]


def test_report_and_sweep_errors_on_a_real_sweep_then_the_corrected_commands(
    tmp_path, files, capsys):
  sweep_dir = str(tmp_path / "sweep")
  spec = f"--config={files / 'sweep.py'}"
  assert _sweep([spec, f"--sweep_dir={sweep_dir}", "--workers=1"]) == 0
  capsys.readouterr()
  assert _call(_sweep, [spec, f"--sweep_dir={sweep_dir}", "--config.optim.lr=0.5"]) == 2
  _one_line(capsys, "overrides: none there, --config.optim.lr=0.5 now; 2 run(s) that already "
                    "started would change")
  base = [f"--sweep_dir={sweep_dir}", "--cols=seed"]
  for bad, says in ((["--rows=model.pol"], "Did you mean 'pool'"),
                    (["--rows=model.pool", "--metric=test_acc"], "Did you mean 'test_accuracy'"),
                    (["--rows=model.pool", "--metric=last.tets.accuracy"], "last.<split>"),
                    (["--rows=model.pool", f"--published={tmp_path}/none.json"],
                     "--published")):
    assert _call(_report, base + bad) == 2
    _one_line(capsys, says)
  assert _report(base + ["--rows=model.pool", "--metric=best.test.accuracy"]) == 0
  assert "| max |" in capsys.readouterr().out


@pytest.mark.parametrize("argv,says", [
    (["-m", "cnnlab.main", "--config.model.poool=max", "--workdir=RUN"],
     "invalid config: config.model.poool: config.model has no field 'poool'"),
    (["-m", "cnnlab.sweep", "--config=configs/sweeps/mnist1d_pool_act.py", "--workerz=1"],
     "invalid sweep: Unknown command line flag 'workerz'"),
    (["-m", "cnnlab.report", "--sweep_dir=RUN", "--rows=a", "--cols=b"],
     "invalid report: --sweep_dir"),
    (["-m", "cnnlab.models.summary", "conv1d_pool", "--pool=gem"], "invalid model: ConvPool1D"),
    (["-m", "cnnlab.registries", "nonsense"], "invalid registry: unknown registry 'nonsense'"),
])
def test_the_entry_points_print_one_line_and_exit_2(tmp_path, argv, says):
  argv = [a.replace("RUN", str(tmp_path / "x")) for a in argv]
  proc = subprocess.run([sys.executable, *argv], cwd=REPO, capture_output=True, text=True,
                        env={**os.environ, "PYTHONPATH": REPO}, timeout=300)
  lines = [line for line in proc.stderr.splitlines() if line.strip()]
  assert proc.returncode == 2 and len(lines) == 1 and lines[0].startswith(says), proc.stderr


def test_a_data_directory_that_is_a_file_is_an_error_not_a_skipped_source(
    tmp_path, files, capsys, monkeypatch):
  not_a_dir = tmp_path / "data.txt"
  not_a_dir.write_text("")
  monkeypatch.setenv("CNNLAB_DATA_DIR", str(not_a_dir))
  wd = f"--workdir={tmp_path / 'run'}"
  assert _main([f"--config={files / 'cfg.py'}", wd]) == 2
  _one_line(capsys, f"CNNLAB_DATA_DIR={str(not_a_dir)!r} is a file, not a directory")
  monkeypatch.setenv("CNNLAB_DATA_DIR", str(tmp_path / "data"))
  assert _main([f"--config={files / 'cfg.py'}", wd]) == 0


def test_a_workdir_that_is_a_file_is_one_line_and_a_directory_then_trains(
    tmp_path, files, capsys):
  cfg = f"--config={files / 'cfg.py'}"
  assert _main([cfg, f"--workdir={files / 'a_file'}"]) == 2
  _one_line(capsys, "--workdir=")
  assert _main([cfg, f"--workdir={files / 'a_file' / 'below'}"]) == 2
  _one_line(capsys, "is a file, not a directory")
  assert _main([cfg, f"--workdir={tmp_path / 'run'}"]) == 0


def test_a_sweep_lists_every_point_that_cannot_run_and_launches_nothing(tmp_path, files, capsys):
  sweep_dir = tmp_path / "sweep"
  base = [f"--config={files / 'sweep.py'}", f"--sweep_dir={sweep_dir}"]
  for extra in (["--dry_run"], ["--workers=1"]):
    assert _call(_sweep, base + ["--config.model.act=leaky_relu(slope=0.2)"] + extra) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert "Traceback" not in err and len(lines) == 3, err
    assert lines[0].startswith("invalid sweep: 2 point(s) cannot run; nothing was launched")
    assert all("activation 'leaky_relu' has no option 'slope'" in line and
               "Its options: negative_slope" in line for line in lines[1:]), err
    assert {line.split(":")[0].strip() for line in lines[1:]} == \
        {"pool-max_seed-0-b3387a7b", "pool-avg_seed-0-48500524"}
    assert not sweep_dir.exists()  # nothing written
  assert _call(_sweep, base + ["--config.model.act=reluu", "--dry_run"]) == 2
  assert "unknown activation 'reluu'. Did you mean 'relu'" in capsys.readouterr().err
  assert _sweep(base + ["--config.model.act=leaky_relu(negative_slope=0.2)", "--dry_run"]) == 0


def test_runs_that_end_invalid_say_why_and_a_corrected_relaunch_reruns_them(
    tmp_path, files, capsys):
  sweep_dir = tmp_path / "sweep"
  base = [f"--config={files / 'sweep.py'}", f"--sweep_dir={sweep_dir}", "--workers=1"]
  # a batch larger than the training set: known only once the data is loaded
  assert _call(_sweep, base + ["--config.train.batch_size=1000"]) == 1
  err = capsys.readouterr().err
  assert "2 run(s) ended invalid" in err and err.count("exceeds the 96 training examples") == 2
  log = (sweep_dir / "logs" / "worker-0.log").read_text()
  assert "invalid: ConfigError: config.train.batch_size: 1000 exceeds the 96" in log
  assert _report([f"--sweep_dir={sweep_dir}", "--rows=model.pool", "--cols=seed"]) == 0
  out = capsys.readouterr().out
  assert "| max | invalid (1) [1] |" in out and "[2] invalid run pool-avg_seed-0" in out
  assert "exceeds the 96 training examples" in out
  # the runs never ran: relaunching with the corrected override runs them
  assert _sweep(base + ["--config.train.batch_size=16"]) == 0
  assert "the 2 run(s) that never ran take the new settings" in capsys.readouterr().out
  from cnnlab.sweep.index import Index
  index = Index(str(sweep_dir / "index.sqlite"), readonly=True)
  assert index.counts() == {"done": 2}
  assert {r["config"]["train"]["batch_size"] for r in index.rows()} == {16}
  index.close()
  # once runs have started, another override is refused, naming what differs
  assert _call(_sweep, base + ["--config.train.batch_size=8"]) == 2
  _one_line(capsys, "would change")


def test_a_corrupted_index_is_one_line_naming_it(tmp_path, files, capsys):
  sweep_dir = tmp_path / "sweep"
  assert _sweep([f"--config={files / 'sweep.py'}", f"--sweep_dir={sweep_dir}"]) == 0
  capsys.readouterr()
  index = sweep_dir / "index.sqlite"
  good = index.read_bytes()
  index.write_bytes(b"not a database" * 100)
  args = [f"--sweep_dir={sweep_dir}", "--rows=model.pool", "--cols=seed"]
  assert _report(args) == 2
  _one_line(capsys, f"{index} is not a readable sweep index")
  index.write_bytes(good)
  assert _report(args) == 0


def _read_only(path, *commands):
  """Runs shell ``commands`` with ``path`` mounted read-only (a private mount namespace)."""
  import shutil
  if os.geteuid() != 0 or not shutil.which("unshare"):
    pytest.skip("needs root and unshare for a read-only bind mount")
  script = f"mount --bind {path} {path} && mount -o remount,bind,ro {path} && " + \
      " ; ".join(f"({c}) ; echo \"rc=$?\"" for c in commands)
  proc = subprocess.run(["unshare", "-m", "bash", "-c", script], capture_output=True,
                        text=True, timeout=280, cwd=REPO, env={**os.environ, "PYTHONPATH": REPO})
  if "mount:" in proc.stderr and "rc=" not in proc.stdout:
    pytest.skip(f"no read-only bind mount here: {proc.stderr.strip()}")
  return proc


def test_a_finished_sweep_on_a_read_only_mount_reports_and_a_read_only_workdir_is_one_line(
    tmp_path, files, capsys):
  sweep_dir = tmp_path / "sweep"
  assert _sweep([f"--config={files / 'sweep.py'}", f"--sweep_dir={sweep_dir}"]) == 0
  py = sys.executable
  report = f"{py} -m cnnlab.report --sweep_dir={sweep_dir} --rows=model.pool --cols=seed"
  proc = _read_only(sweep_dir, report, f"{report} --out_dir={tmp_path / 'out'}",
                    f"{py} -m cnnlab.main --config={files / 'cfg.py'} "
                    f"--workdir={sweep_dir / 'new_run'}")
  codes = [int(line[3:]) for line in proc.stdout.splitlines() if line.startswith("rc=")]
  assert codes == [2, 0, 2], proc.stdout + proc.stderr
  err = [line for line in proc.stderr.splitlines() if line.strip()]
  assert "Traceback" not in proc.stderr and len(err) == 2, proc.stderr
  assert err[0].startswith(f"invalid report: --out_dir={sweep_dir}/report: ") and \
      "cannot be written" in err[0]
  assert err[1].startswith(f"invalid config: --workdir={sweep_dir}/new_run: ")
  assert "| max |" in proc.stdout and (tmp_path / "out" / "table.md").exists()


def test_the_registry_listing_has_help_and_lists_the_users_imports(tmp_path, capsys):
  from cnnlab import registries
  with pytest.raises(SystemExit) as e:
    registries.main(["cnnlab.registries", "--help"])
  assert e.value.code == 0 and "--imports" in capsys.readouterr().out
  ops = tmp_path / "my_listed_ops.py"
  ops.write_text("from cnnlab.ops.activations import register_activation\n"
                 "register_activation('cli_listed_act', lambda x: x * 1.0, "
                 "description='listed through --imports')\n")
  assert registries.main(["cnnlab.registries", "act", f"--imports={ops}"]) == 0
  assert "cli_listed_act" in capsys.readouterr().out
  from cnnlab.ops.activations import ACTIVATIONS
  ACTIVATIONS.remove("cli_listed_act")
