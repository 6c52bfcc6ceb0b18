"""Shared flags and error handling of ``cnnlab.inspect``, ``cnnlab.evaluate`` and
``cnnlab.export`` (absl, as ``cnnlab.main``): a run is ``--workdir``, or ``--sweep_dir``
with ``--run_id``; a bad flag, a missing run or checkpoint is one line and exit code 2."""

from __future__ import annotations

import sys
from typing import Callable, List

from absl import flags

from cnnlab import errors

LOOKUP_ERRORS = (FileNotFoundError, ValueError, KeyError)


def define_run_flags(fv: flags.FlagValues) -> None:
  flags.DEFINE_string("workdir", None, "A run directory (holds config.json and checkpoints/).",
                      flag_values=fv)
  flags.DEFINE_string("sweep_dir", None, "A sweep directory; with --run_id, one of its runs.",
                      flag_values=fv)
  flags.DEFINE_string("run_id", None, "A run of --sweep_dir (its id, or a unique prefix).",
                      flag_values=fv)
  flags.DEFINE_string("step", "last", "'last', 'best' (if that checkpoint was kept) or a "
                      "step number.", flag_values=fv)
  flags.DEFINE_bool("ema", False, "Use the run's EMA parameters.", flag_values=fv)
  flags.DEFINE_string("imports", "", "Comma-separated files of the user's own registrations "
                      "(a pooling op, activation or model the run used).", flag_values=fv)


def load_from_flags(fv: flags.FlagValues):
  from cnnlab import imports
  from cnnlab.inspect.load import load_run
  imports.load(imports.split_paths(fv.imports))
  if bool(fv.workdir) == bool(fv.sweep_dir):
    raise ValueError("give --workdir, or --sweep_dir with --run_id")
  if fv.sweep_dir and not fv.run_id:
    raise ValueError("--sweep_dir needs --run_id (python -m cnnlab.report lists the runs)")
  step = fv.step if fv.step in ("last", "best") else _int(fv.step)
  path = fv.workdir or fv.sweep_dir
  return load_run(path, fv.run_id if fv.sweep_dir else None, step, fv.ema)


def _int(text: str) -> int:
  try:
    return int(text)
  except ValueError:
    raise ValueError(f"--step must be 'last', 'best' or a step number, got {text!r}") from None


def run_cli(what: str, define: Callable[[flags.FlagValues], None],
            body: Callable[[flags.FlagValues], int], argv: List[str]) -> int:
  """Parses ``argv`` with the flags ``define`` declares, runs ``body``; user errors are
  one line ``invalid <what>: ...`` and exit code 2."""
  fv = flags.FlagValues()
  define(fv)
  flags.DEFINE_bool("help", False, "Show the flags.", flag_values=fv, short_name="h")
  try:
    fv(argv)
  except flags.Error as e:
    return errors.report(what, e)
  if fv.help:
    print(fv.get_help())
    return 0
  try:
    return body(fv)
  except errors.USER_ERRORS + LOOKUP_ERRORS as e:
    return errors.report(what, e)


def main_of(what: str, define, body) -> None:
  sys.exit(run_cli(what, define, body, sys.argv))
