"""cnnlab's command-line entry point (kept thin: the logic lives in importable modules).

    python -m cnnlab.main --config=configs/<name>.py[:<model>] [--workdir=runs/<name>] \\
        [--config.model.pool=avg ...] [--config.model.pool='lp_sum(p=4)' ...]

Rerunning the same command on the same workdir resumes the run; without --workdir,
runs/<config>[_<model>] followed by the overrides (runs/mnist1d_conv1d_base_pool-avg).
With no --config, the main job trains the offline default, configs/mnist1d.py
(ConvBase). Compiled programs are cached in ~/.cache/cnnlab/xla
(--compilation_cache_dir='' turns it off); multi-host runs take --coordinator_address,
--num_processes and --process_id, or --distributed (see cnnlab/train/runtime.py).

Exit codes: 0 done or preempted (rerun to resume), 2 a bad command line or config
(one line on stderr: the field, the valid values, the closest match; never a
traceback), 3 the run diverged.
"""

from __future__ import annotations

import os
import re
import sys
from typing import Any, Dict, List, Optional

from absl import flags, logging
from ml_collections import config_flags

from cnnlab import errors
from cnnlab.registry import did_you_mean

_DEFAULT_CONFIG = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                               "configs", "mnist1d.py")


def _define(fv: flags.FlagValues) -> None:
  config_flags.DEFINE_config_file("config", _DEFAULT_CONFIG,
                                  "Path to a config file (configs/*.py), optionally :arg.",
                                  flag_values=fv, lock_config=True)
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
                      "(a new pooling op, activation, model), imported before training.",
                      flag_values=fv)


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
  from cnnlab.train.loop import RERUN_MAY_CHANGE  # (a rerun with another stop resumes)
  overrides = {k: v for k, v in (overrides or {}).items() if k not in RERUN_MAY_CHANGE}
  if overrides:
    from cnnlab.sweep.spec import overrides_digest, overrides_slug
    name += "_" + overrides_slug(dict(sorted(overrides.items())))
    if len(name) > WORKDIR_NAME_MAX:
      cut = name[:WORKDIR_NAME_MAX - 9]
      name = f"{cut[:cut.rfind('_')] if '_' in cut else cut}-{overrides_digest(overrides)}"
  return os.path.join("runs", name)

_OVERRIDE = re.compile(r"--config\.([\w.]+)=")


def _explain_override(argv: List[str], config) -> Optional[str]:
  """For an override of a config field that does not exist: which one, and what is there."""
  for arg in argv:
    m = _OVERRIDE.match(arg)
    if not m:
      continue
    node, path = config, m.group(1).split(".")
    for i, part in enumerate(path):
      keys = list(node.keys()) if hasattr(node, "keys") else []
      if part not in keys:
        where = ".".join(["config"] + path[:i]) or "config"
        fields = (f" Its fields: {', '.join(keys)}" if keys else
                  " It holds none: add the field in the config file to override it")
        return f"config.{m.group(1)}: {where} has no field {part!r}.{did_you_mean(part, keys)}" \
            + fields
      node = node[part]
  return None


def _config_spec(argv: List[str]) -> str:
  return next((a.split("=", 1)[1] for a in argv if a.startswith("--config=")), _DEFAULT_CONFIG)


def _last_line(e: BaseException) -> str:
  """A flag error's own message: the last line of the traceback text absl may wrap it in,
  without the exception's class name."""
  lines = [line for line in str(e).splitlines() if line.strip()]
  last = lines[-1].strip() if lines else type(e).__name__
  return re.sub(r"^[\w.]+(Error|Exception): ", "", last) if "Traceback" in str(e) else \
      errors.one_line(e)


def parse(argv: List[str]) -> flags.FlagValues:
  """The parsed flags with the config loaded and every override applied; a bad flag,
  config file or override raises ConfigError (one line: the field, what is valid)."""
  path = _config_spec(argv).partition(":")[0]
  if not os.path.isfile(path):
    raise errors.ConfigError(f"--config: no config file {path!r} (configs/ has one per data "
                             f"set or experiment)")
  fv = flags.FlagValues()
  saved, sys.argv = sys.argv, list(argv)  # config_flags finds the overrides in sys.argv
  try:
    _define(fv)  # (the config flag loads its default and reads overrides already here)
    rest = fv(argv)
    fv.config.get("model")  # applies the --config.* overrides now, inside this try
  except errors.USER_ERRORS as e:
    raise errors.ConfigError(errors.one_line(e)) from None
  except Exception as e:  # noqa: BLE001 -- the user's config file may raise anything
    in_file = errors.raised_in(e, path)
    if in_file is not None:
      raise errors.ConfigError(f"config file {in_file}") from None
    if not isinstance(e, (flags.Error, AttributeError, KeyError, TypeError, ValueError)):
      raise
    why = _why(argv, e)
    raise errors.ConfigError(why) from None
  finally:
    sys.argv = saved
  if len(rest) > 1:
    raise errors.ConfigError(f"unexpected arguments {rest[1:]}; flags are --name=value")
  return fv


def _why(argv: List[str], e: BaseException) -> str:
  """A failed override or flag: which override, with what the config has instead."""
  try:
    from cnnlab.sweep.spec import load_config_file
    module, arg = load_config_file(_config_spec(argv))
    why = _explain_override(argv, module.get_config(arg) if arg else module.get_config())
  except Exception:  # noqa: BLE001 -- the config file itself is the problem
    why = None
  return why or _last_line(e)


def cli(argv: List[str]) -> int:
  """Runs the command line ``argv`` in this process; returns the exit code."""
  if any(a in ("--help", "-h", "--helpfull") for a in argv[1:]):
    fv = flags.FlagValues()
    _define(fv)
    print(__doc__ + "\n" + fv.get_help())
    return 0
  try:
    fv = parse(argv)
  except errors.ConfigError as e:
    return errors.report("config", e)
  return _run(fv)


def _run(fv: flags.FlagValues) -> int:
  from cnnlab import imports
  from cnnlab.train import Diverged, runtime, train
  config = fv.config
  try:
    imports.load(imports.split_paths(fv.imports))
  except errors.ConfigError as e:
    return errors.report("config", e)
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
  workdir = fv.workdir or default_workdir(fv["config"].config_filename, config,
                                           fv["config"].override_values)
  try:
    errors.check_dir(workdir, "--workdir")
    train(config, workdir)
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
  code = cli(sys.argv)
  if "cnnlab.train.checkpoint" in sys.modules:  # (not imported: --help and errors stay fast)
    sys.modules["cnnlab.train.checkpoint"].quiet_exit_after_failed_restore()
  sys.exit(code)


if __name__ == "__main__":
  run()
