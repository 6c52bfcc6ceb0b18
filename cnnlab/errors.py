"""The lab's user-input errors, in a leaf module every package may import.

Each is reported by the command-line tools as one line (exit code 2), never as a
traceback, and recorded as ``invalid`` by sweeps.
"""


class ConfigError(ValueError):
  """A config value that is invalid; the message names the field."""


class CheckpointError(RuntimeError):
  """No checkpoint of a run can be read; the message says which directory to remove."""
