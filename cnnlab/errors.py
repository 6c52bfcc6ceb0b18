"""The lab's user-input errors, in a leaf module every package may import.

Each is reported by the command-line tools as one line (exit code 2), never as a
traceback (:func:`report`), and a config that raises one is recorded as ``invalid``
by sweeps.
"""

import argparse
import sys
from typing import NoReturn, Optional, TextIO

from cnnlab.registry import OptionError, UnknownNameError


class ConfigError(ValueError):
  """A config value that is invalid; the message names the field."""


class CheckpointError(RuntimeError):
  """No checkpoint of a run can be read; the message says which directory to remove."""


class ShapeError(ValueError):
  """A window that does not fit its input, or an inconsistent shape."""


class IncompatibleLayersError(ValueError):
  """Two layers that cannot follow each other (e.g. stochastic pooling after tanh)."""


class ModelConfigError(ValueError):
  """A model field that cannot work (bad depth, wrong kind of pooling, ...)."""


class DataNotFoundError(FileNotFoundError):
  """No source could provide the data set; the message lists what was tried."""


class DataFormatError(ValueError):
  """A data file that is truncated, corrupted or not in the expected format."""


class ReportError(ValueError):
  """A report asked for a field or metric the runs do not have."""


# A config (or a command line) that cannot run: a message for the user, not a crash.
INVALID_CONFIG = (ConfigError, UnknownNameError, OptionError, ModelConfigError, ShapeError,
                  IncompatibleLayersError, DataNotFoundError, DataFormatError)
USER_ERRORS = INVALID_CONFIG + (ReportError, CheckpointError)


def one_line(e: BaseException) -> str:
  """The message of ``e`` on one line (KeyError's quotes removed)."""
  text = str(e.args[0]) if isinstance(e, KeyError) and e.args else str(e)
  return " ".join(text.split()) or type(e).__name__


def report(what: str, e: BaseException, stream: Optional[TextIO] = None) -> int:
  """Prints ``invalid <what>: <message>`` as one line; returns the exit code, 2."""
  print(f"invalid {what}: {one_line(e)}", file=stream or sys.stderr)
  return 2


class ArgumentParser(argparse.ArgumentParser):
  """argparse whose errors are one line, ``invalid <what>: <message>``, with exit code 2."""

  def __init__(self, *args, what: str = "command line", **kwargs):
    kwargs.setdefault("allow_abbrev", False)  # --worker must not silently mean --workers
    super().__init__(*args, **kwargs)
    self.what = what

  def error(self, message: str) -> NoReturn:
    if message.startswith("unrecognized arguments:"):
      from cnnlab.registry import did_you_mean
      first = message.split(":", 1)[1].split()[0].split("=")[0]
      options = [o for a in self._actions for o in a.option_strings]
      message += did_you_mean(first, options)
    print(f"invalid {self.what}: {message} (usage: {self.prog} --help)", file=sys.stderr)
    sys.exit(2)
