"""The command lines of the entry points: absl flags (the design card's one CLI framework),
with the config overrides split off first by the one parser (:mod:`cnnlab.config.overrides`).

    fv, overrides, rest = parse(_define, argv, prog="python -m cnnlab.sweep", doc=__doc__,
                                required=("config",), overrides=True)

A flag absl cannot parse (an unknown name, with the closest; a value of the wrong type or
out of range), a missing required flag, a stray argument or an override where the command
takes none raises :class:`~cnnlab.errors.ConfigError`, which each entry point prints as one
line, ``invalid <what>: <message>``, exit code 2. ``--help`` prints the module's notes,
the flags, and where the config fields are listed, then exits 0.
"""

from __future__ import annotations

import sys
from typing import Callable, List, Sequence, Tuple

from absl import flags

from cnnlab.config.overrides import Overrides, split_argv
from cnnlab.errors import ConfigError

FIELDS_HINT = ("Config fields: every field of a config is overridable as "
               "--config.<path>=<value> (typed by the field; cnnlab/config/overrides.py); "
               "`python -m cnnlab.main --config=<file> --print_config` lists them with their "
               "values.")


def definer(fv: flags.FlagValues):
  """``define(kind, name, default, help, **kw)``: absl's ``DEFINE_<kind>`` on ``fv``."""
  def define(kind: str, name: str, default, help: str, **kw) -> None:  # noqa: A002
    getattr(flags, f"DEFINE_{kind}")(name, default, help=help, flag_values=fv, **kw)
  return define


def parse(define: Callable[[flags.FlagValues], None], argv: Sequence[str], prog: str,
          doc: str, required: Sequence[str] = (), overrides: bool = False,
          positional: bool = False) -> Tuple[flags.FlagValues, Overrides, List[str]]:
  """``argv`` (without the program's name) parsed: the flags, the ``--config.*``
  overrides (when the command takes them) and the positional arguments."""
  argv = list(argv)
  fv = flags.FlagValues()
  builtin = set(fv)  # (absl's own: --flagfile, --undefok)
  define(fv)
  if any(a in ("--help", "-h", "--helpfull", "-help") for a in argv):
    listing = "\n".join(_describe(fv[name]) for name in sorted(set(fv) - builtin))
    print(f"{doc.rstrip()}\n\nflags:\n{listing}\n\n{FIELDS_HINT if overrides else ''}"
          .rstrip())
    sys.exit(0)
  found, rest = split_argv(argv)
  if found and not overrides:
    raise ConfigError(f"{prog} takes no config overrides ({found[0][0]}); usage: {prog} --help")
  try:
    positionals = fv([prog] + rest)[1:]
  except flags.Error as e:
    raise ConfigError(f"{' '.join(str(e).split())} (usage: {prog} --help)") from None
  if positionals and not positional:
    raise ConfigError(f"unexpected arguments {positionals}; flags are --name=value "
                      f"(usage: {prog} --help)")
  missing = [f"--{name}" for name in required if fv[name].value in (None, [], "")]
  if missing:
    raise ConfigError(f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} required "
                      f"(usage: {prog} --help)")
  return fv, found, positionals


def _describe(flag) -> str:
  import textwrap
  default = "" if flag.default in (None, "", []) else f" (default: {flag.default_as_str})"
  return textwrap.fill(f"--{flag.name}: {flag.help}{default}", 90, initial_indent="  ",
                       subsequent_indent="      ")
