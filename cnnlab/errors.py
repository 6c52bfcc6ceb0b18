"""The lab's user-input errors, in a leaf module every package may import.

Each is reported by the command-line tools as one line (exit code 2), never as a
traceback (:func:`report`), and a config that raises one is recorded as ``invalid``
by sweeps.
"""

import os
import sys
import traceback
from typing import Optional, TextIO

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


def check_dir(path: str, flag: str, write: bool = True) -> None:
  """A directory a command will create or write (``--workdir``, ``--sweep_dir``,
  ``--out_dir``): a regular file there, or (with ``write``) a place that cannot be written
  (a read-only mount, no permission), fails naming the flag, before anything is written."""
  full = os.path.abspath(path)
  probe = full
  while not os.path.exists(probe):  # the nearest part of the path that exists
    probe = os.path.dirname(probe)
  if not os.path.isdir(probe):
    where = "" if probe == full else f" ({probe} is a file)"
    raise ConfigError(f"{flag}={path} is a file, not a directory{where}: name a new or "
                      f"existing directory")
  if write and not os.access(probe, os.W_OK | os.X_OK):
    raise ConfigError(f"{flag}={path}: {probe} cannot be written (a read-only file system or "
                      f"no permission): choose a writable directory")


def raised_in(e: BaseException, path: str) -> Optional[str]:
  """``<file> line <n>: <Error>: <message>`` when ``e`` was raised by code in the file
  ``path`` (a user's config file), else None."""
  full = os.path.realpath(path)
  seen = set()
  while e is not None and id(e) not in seen:  # also the error a wrapper was raised from
    seen.add(id(e))
    if isinstance(e, SyntaxError) and e.filename and os.path.realpath(e.filename) == full:
      return f"{path} line {e.lineno}: SyntaxError: {e.msg}"
    frames = [f for f in traceback.extract_tb(e.__traceback__)
              if os.path.realpath(f.filename) == full]
    if frames:
      return f"{path} line {frames[-1].lineno}: {type(e).__name__}: {one_line(e)}"
    e = e.__cause__ or e.__context__
  return None


def from_user_file(path: str, fn, *args):
  """``fn(*args)`` (a config file's import or its ``get_config``/``get_sweep``); an error
  raised by code in that file becomes a :class:`ConfigError` naming its line."""
  try:
    return fn(*args)
  except USER_ERRORS:
    raise
  except Exception as e:  # noqa: BLE001 -- the user's code may raise anything
    where = raised_in(e, path)
    if where is None:
      raise
    raise ConfigError(f"config file {where}") from None


def with_imports_hint(e: BaseException, imports) -> str:
  """The one-line message of ``e``; for an unknown name when no ``--imports`` were given,
  the reminder that the user's own ops load through them."""
  text = one_line(e)
  if isinstance(e, UnknownNameError) and not imports:
    text += " (an op or model of your own? pass its file with --imports=my_ops.py)"
  return text


def one_line(e: BaseException) -> str:
  """The message of ``e`` on one line (KeyError's quotes removed)."""
  text = str(e.args[0]) if isinstance(e, KeyError) and e.args else str(e)
  return " ".join(text.split()) or type(e).__name__


def report(what: str, e: BaseException, stream: Optional[TextIO] = None) -> int:
  """Prints ``invalid <what>: <message>`` as one line; returns the exit code, 2."""
  print(f"invalid {what}: {one_line(e)}", file=stream or sys.stderr)
  return 2
