"""Training: pure steps, the resumable loop, checkpoints, records and results.

The names below are imported on first use, so that ``cnnlab.train.result`` (the result
schema the reports read) loads without JAX's model zoo, orbax or the data sets.
"""

import importlib

_EXPORTS = {
    "ConfigError": "cnnlab.errors", "base_config": "cnnlab.config",
    "model_config": "cnnlab.config", "validate": "cnnlab.config",
    "Diverged": "cnnlab.train.loop", "train": "cnnlab.train.loop",
    "train_together": "cnnlab.train.loop",
    "Result": "cnnlab.train.result", "load_result": "cnnlab.train.result",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
  if name in _EXPORTS:
    return getattr(importlib.import_module(_EXPORTS[name]), name)
  raise AttributeError(f"module 'cnnlab.train' has no attribute {name!r}")
