"""cnnlab's command-line entry point (kept thin: the logic lives in importable modules).

    python -m cnnlab.main --config=configs/<name>.py --workdir=runs/<name> [--config.model.pool=avg ...]

Rerunning the same command on the same workdir resumes the run. With no --config,
the main job trains the offline default, configs/mnist1d_convbase.py.
"""

import os
import sys

from absl import app, flags
from ml_collections import config_flags

_DEFAULT_CONFIG = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                               "configs", "mnist1d_convbase.py")
config_flags.DEFINE_config_file("config", _DEFAULT_CONFIG,
                                "Path to a config file (configs/*.py), optionally :arg.",
                                lock_config=True)
flags.DEFINE_string("workdir", None, "Run directory (default: runs/<config file name>).")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  from cnnlab.data import DataFormatError, DataNotFoundError
  from cnnlab.models import ModelConfigError
  from cnnlab.ops import IncompatibleLayersError, ShapeError
  from cnnlab.registry import UnknownNameError
  from cnnlab.train import ConfigError, Diverged, train
  # Everything the lab raises for a bad config or missing data: a message, not a traceback.
  invalid = (ConfigError, UnknownNameError, ModelConfigError, ShapeError,
             IncompatibleLayersError, DataNotFoundError, DataFormatError)
  config = flags.FLAGS.config
  workdir = flags.FLAGS.workdir or os.path.join(
      "runs", os.path.splitext(os.path.basename(flags.FLAGS["config"].config_filename))[0])
  try:
    train(config, workdir)
  except invalid as e:
    print(f"invalid config: {e}", file=sys.stderr)
    sys.exit(2)
  except Diverged as e:
    print(f"diverged: {e}", file=sys.stderr)
    sys.exit(3)


def run():
  app.run(main)


if __name__ == "__main__":
  run()
