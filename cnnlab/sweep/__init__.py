"""Sweeps: specs (product / zip / sweep / seeds), a resumable local runner, a Ray
launcher, and the SQLite results index that reports read.

The spec names are imported on first use, so that the index (``cnnlab.sweep.index``)
loads without the trainer.
"""

import importlib

_SPEC = ("Run", "expand", "fixed", "product", "run_id", "seeds", "sweep", "zip")
__all__ = list(_SPEC)


def __getattr__(name):
  if name in _SPEC:
    return getattr(importlib.import_module("cnnlab.sweep.planning"), name)
  raise AttributeError(f"module 'cnnlab.sweep' has no attribute {name!r}")
