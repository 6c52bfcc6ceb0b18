"""cnnlab's command-line entry point (kept thin: the logic lives in importable modules).

    python -m cnnlab.main --config=configs/<name>.py[:<model>] [--workdir=runs/<name>] \
        [--config.model.pool=avg ...]

Rerunning the same command on the same workdir resumes the run. With no --config,
the main job trains the offline default, configs/mnist1d.py (ConvBase). Compiled
programs are cached in ~/.cache/cnnlab/xla (--compilation_cache_dir='' turns it
off); multi-host runs take --coordinator_address/--num_processes/--process_id or
--distributed (see cnnlab/train/runtime.py).
"""

import os
import sys

from absl import app, flags, logging
from ml_collections import config_flags

_DEFAULT_CONFIG = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                               "configs", "mnist1d.py")
config_flags.DEFINE_config_file("config", _DEFAULT_CONFIG,
                                "Path to a config file (configs/*.py), optionally :arg.",
                                lock_config=True)
flags.DEFINE_string("workdir", None, "Run directory (default: runs/<config file name>).")
flags.DEFINE_string("compilation_cache_dir", None,
                    "Persistent XLA compilation cache (default: $CNNLAB_COMPILATION_CACHE or "
                    "~/.cache/cnnlab/xla); '' turns it off.")
flags.DEFINE_string("coordinator_address", "",
                    "Multi-host: host:port of process 0 for jax.distributed.initialize().")
flags.DEFINE_integer("num_processes", 0, "Multi-host: the number of processes.")
flags.DEFINE_integer("process_id", -1, "Multi-host: this process's index.")
flags.DEFINE_bool("distributed", False,
                  "Multi-host with the cluster auto-detected by JAX (Cloud TPU, SLURM, Open MPI).")


def default_workdir(config_file: str, config) -> str:
  """``runs/<file>_<arg>`` for ``--config=<file>.py:<arg>``; else ``runs/<file>``, or
  ``runs/<file>_<model>`` when the file names another model."""
  path, _, arg = config_file.partition(":")
  stem = os.path.splitext(os.path.basename(path))[0]
  if arg:
    return os.path.join("runs", f"{stem}_{arg}")
  model = config.model.name
  return os.path.join("runs", stem if stem == model else f"{stem}_{model}")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  from cnnlab.errors import CheckpointError
  from cnnlab.train import Diverged, runtime, train
  from cnnlab.train.config import invalid_config_errors
  invalid = invalid_config_errors()  # a bad config or missing data: a message, no traceback
  FLAGS = flags.FLAGS
  config = FLAGS.config
  if not FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)  # orbax logs every save at INFO
  # Process-wide settings, before JAX starts its backends (XLA reads its flags then).
  if config.get("deterministic"):
    runtime.set_deterministic()
  runtime.initialize_distributed(FLAGS.coordinator_address, FLAGS.num_processes,
                                 FLAGS.process_id, FLAGS.distributed)
  runtime.enable_compilation_cache(runtime.default_cache_dir()
                                   if FLAGS.compilation_cache_dir is None
                                   else FLAGS.compilation_cache_dir)
  workdir = FLAGS.workdir or default_workdir(FLAGS["config"].config_filename, config)
  try:
    train(config, workdir)
  except invalid as e:
    print(f"invalid config: {e}", file=sys.stderr)
    sys.exit(2)
  except CheckpointError as e:
    print(f"unreadable checkpoints: {e}", file=sys.stderr)
    sys.exit(2)
  except Diverged as e:
    print(f"diverged: {e}", file=sys.stderr)
    sys.exit(3)


def run():
  app.run(main)


if __name__ == "__main__":
  run()
