"""cnnlab's command-line entry point (kept thin: the logic lives in importable modules).

    python -m cnnlab.main --config=configs/<name>.py[:<model>] [--workdir=runs/<name>] \\
        [--config.model.pool=avg ...] [--config.model.pool='lp_sum(p=4)' ...]
    python -m cnnlab.main --config=configs/mnist1d.py --config.optim.lr=0.01 --print_config
    python -m cnnlab.main --config=configs/mnist1d.py --config.model.pool=gem --dry_run

Rerunning the same command on the same workdir resumes the run; without --workdir,
runs/<config>[_<model>] followed by the overrides (runs/mnist1d_conv1d_base_pool-avg).
``--config.train.num_replicas=R`` trains R runs (seeds seed … seed+R-1, or
``train.replica_values``) side by side as one vmapped program, each in its own
<workdir>/seed-<s>[_<value>] (cnnlab/train/together.py).
With no --config, the main job trains the offline default, configs/mnist1d.py
(ConvBase). ``--print_config`` prints the resolved config (the file's, with the
overrides, typed by the fields they set: cnnlab/config/overrides.py) and ``--dry_run``
checks it as a run would before training (every field, the data set's shapes, the model
built on them, traced, never compiled) and writes nothing. Compiled programs are cached
in ~/.cache/cnnlab/xla (--compilation_cache_dir='' turns it off); multi-host runs take
--coordinator_address, --num_processes and --process_id, or --distributed (see
cnnlab/train/runtime.py).

Exit codes: 0 done or preempted (rerun to resume), 2 a bad command line or config
(one line on stderr: the field, the valid values, the closest match; never a
traceback), 3 the run diverged.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from typing import Any, Dict, List, Optional

from absl import flags, logging

from cnnlab import errors
from cnnlab.config import flags as cli_flags
from cnnlab.config import overrides as config_overrides

_DEFAULT_CONFIG = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                               "configs", "mnist1d.py")


def _define(fv: flags.FlagValues) -> None:
  flags.DEFINE_string("config", _DEFAULT_CONFIG, "A config file (configs/*.py), optionally "
                      ":arg or :key=value,...; its fields are overridden by "
                      "--config.<path>=<value>.", flag_values=fv)
  flags.DEFINE_string("workdir", None, "Run directory (default: runs/<config file name>"
                      "[_<model>], then _<field>-<value> per --config.* override).",
                      flag_values=fv)
  flags.DEFINE_string("compilation_cache_dir", None,
                      "Persistent XLA compilation cache (default: $CNNLAB_COMPILATION_CACHE "
                      "or ~/.cache/cnnlab/xla); '' turns it off.", flag_values=fv)
  flags.DEFINE_string("coordinator_address", "",
                      "Multi-host: host:port of process 0 for jax.distributed.initialize().",
                      flag_values=fv)
  flags.DEFINE_integer("num_processes", 0, "Multi-host: the number of processes.",
                       flag_values=fv)
  flags.DEFINE_integer("process_id", -1, "Multi-host: this process's index.", flag_values=fv)
  flags.DEFINE_bool("distributed", False, "Multi-host with the cluster auto-detected by JAX "
                    "(Cloud TPU, SLURM, Open MPI).", flag_values=fv)
  flags.DEFINE_string("imports", "", "Comma-separated files of the user's own registrations "
                      "(a new pooling op, activation, model), imported before the config.",
                      flag_values=fv)
  flags.DEFINE_bool("print_config", False, "Print the resolved config (the file's, with the "
                    "overrides) and exit.", flag_values=fv)
  flags.DEFINE_bool("dry_run", False, "Check the config as a run would before training "
                    "(fields, data shapes, the model traced on them) and exit; writes "
                    "nothing.", flag_values=fv)


WORKDIR_NAME_MAX = 80


def default_workdir(config_file: str, config, overrides: Optional[Dict[str, Any]] = None) -> str:
  """``runs/<file>_<arg>`` for ``--config=<file>.py:<arg>``; else ``runs/<file>``, or
  ``runs/<file>_<model>`` when the file names another model; then one ``_<field>-<value>``
  per ``--config.*`` override, sorted by path (``runs/mnist1d_conv1d_base_pool-avg``), so
  that variants of one config never share a directory and a rerun finds its own. Past
  ``WORKDIR_NAME_MAX`` characters the name is cut and ends in a hash of all the overrides."""
  path, _, arg = config_file.partition(":")
  stem = os.path.splitext(os.path.basename(path))[0]
  if arg:  # model=resnet56,budget=cpu -> resnet56_budget-cpu
    arg = "_".join(a.partition("=")[2] if a.startswith("model=") else a.replace("=", "-")
                   for a in arg.split(","))
    name = f"{stem}_{arg}"
  else:
    model = config.model.name
    name = stem if stem == model else f"{stem}_{model}"
  from cnnlab.train.workdir import RERUN_MAY_CHANGE  # (a rerun with another stop resumes)
  overrides = {k: v for k, v in (overrides or {}).items() if k not in RERUN_MAY_CHANGE}
  if overrides:
    from cnnlab.sweep.planning import overrides_digest, overrides_slug
    name += "_" + overrides_slug(dict(sorted(overrides.items())))
    if len(name) > WORKDIR_NAME_MAX:
      cut = name[:WORKDIR_NAME_MAX - 9]
      name = f"{cut[:cut.rfind('_')] if '_' in cut else cut}-{overrides_digest(overrides)}"
  return os.path.join("runs", name)

@dataclasses.dataclass
class Command:
  """A parsed command line: its flags, the resolved config and its overrides."""
  flags: flags.FlagValues
  config: Any                  # ml_collections.ConfigDict, overrides applied
  overrides: Dict[str, Any]    # {path: typed value}, in the command line's order


def parse(argv: List[str]) -> Command:
  """The command line ``argv`` (with the program's name) parsed, the user's imports loaded,
  the config file loaded and every override applied; a bad flag, config file or override
  raises ConfigError (one line: the field, what is valid)."""
  from cnnlab import imports
  from cnnlab.config import files
  fv, overrides, _ = cli_flags.parse(_define, argv[1:], prog="python -m cnnlab.main",
                                     doc=__doc__, overrides=True)
  imports.load(imports.split_paths(fv.imports))  # (a config may name the user's ops)
  config = config_overrides.apply(files.load(fv.config), overrides)
  typed = {path: config_overrides.current(config, path) for path, _ in overrides}
  return Command(fv, config, typed)


def cli(argv: List[str]) -> int:
  """Runs the command line ``argv`` in this process; returns the exit code."""
  try:
    command = parse(argv)
  except errors.USER_ERRORS as e:
    return errors.report("config", e)
  if command.flags.print_config:  # (JSON: the values exactly as an override is written)
    print(command.config.to_json_best_effort(indent=2, sort_keys=True))
    return 0
  if command.flags.dry_run:
    return _dry_run(command)
  return _run(command)


def _workdir(command: Command) -> str:
  fv = command.flags
  return fv.workdir or default_workdir(fv.config, command.config, command.overrides)


def _dry_run(command: Command) -> int:
  """Every check a run makes before training, on the CPU, with nothing written."""
  from cnnlab.train import runtime
  runtime.checks_on_the_cpu()  # (shapes are traced, never compiled)
  from cnnlab.train.run import check_runnable
  workdir = _workdir(command)
  try:
    errors.check_dir(workdir, "--workdir")
    check_runnable(command.config)
  except errors.INVALID_CONFIG as e:
    print(f"invalid config: {errors.with_imports_hint(e, command.flags.imports)}",
          file=sys.stderr)
    return 2
  print(f"config valid: {command.config.model.name} on {command.config.data.name}; a run "
        f"would write {workdir} (dry run: nothing written)")
  return 0


def train_as_requested(config, workdir: str, log=print) -> list:
  """``config``'s run in ``workdir``; or, where it requests several side by side
  (``train.num_replicas``), those runs as one program in ``<workdir>/<run name>``
  (:func:`cnnlab.train.together.run_names`). Their results;
  :class:`~cnnlab.train.loop.Diverged` if one diverged (recorded; the others trained on)."""
  import os
  from cnnlab.train import Diverged, train, train_together
  from cnnlab.train.together import run_names, runs_of
  if config.train.num_replicas <= 1:
    return [train(config, workdir, log)]
  names = run_names(config)
  results = train_together(runs_of(config), [os.path.join(workdir, n) for n in names], log)
  if any(r.status == "diverged" for r in results):
    raise Diverged("; ".join(f"{n}: {r.status}" + (f" at step {r.diverged_at_step}"
                                                    if r.diverged_at_step else "")
                             for n, r in zip(names, results)) + f" (in {workdir})")
  return results


def _run(command: Command) -> int:
  from cnnlab.train import Diverged, runtime
  fv, config = command.flags, command.config
  logging.set_verbosity(logging.WARNING)  # orbax logs every save at INFO
  # Process-wide settings, before JAX starts its backends (XLA reads its flags then).
  if config.get("deterministic"):
    runtime.set_deterministic()
  if config.train.cpu_devices != 1:
    runtime.set_cpu_devices(config.train.cpu_devices, config.train.batch_size)
  runtime.initialize_distributed(fv.coordinator_address, fv.num_processes, fv.process_id,
                                 fv.distributed)
  runtime.enable_compilation_cache(runtime.default_cache_dir()
                                   if fv.compilation_cache_dir is None
                                   else fv.compilation_cache_dir)
  workdir = _workdir(command)
  try:
    errors.check_dir(workdir, "--workdir")
    train_as_requested(config, workdir)
  except errors.CheckpointError as e:
    print(f"unreadable checkpoints: {errors.one_line(e)}", file=sys.stderr)
    return 2
  except errors.INVALID_CONFIG as e:
    print(f"invalid config: {errors.with_imports_hint(e, fv.imports)}", file=sys.stderr)
    return 2
  except Diverged as e:
    print(f"diverged: {errors.one_line(e)}", file=sys.stderr)
    return 3
  return 0


def run() -> None:
  """Console-script entry point (``cnnlab``)."""
  try:
    code = cli(sys.argv)
  except BrokenPipeError:  # --print_config | head: the reader has gone, nothing is lost
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    code = 0
  if "cnnlab.train.checkpoint" in sys.modules:  # (not imported: --help and errors stay fast)
    sys.modules["cnnlab.train.checkpoint"].quiet_exit_after_failed_restore()
  sys.exit(code)


if __name__ == "__main__":
  run()
