"""A user's own files of registrations — a new pooling op, activation, norm or model.

    python -m cnnlab.main --imports=my_ops.py --config=configs/mnist1d.py:conv1d_pool \
        --config.model.pool=logsumexp
    python -m cnnlab.sweep --imports=my_ops.py --config=my_sweep.py     # workers too
    python -m cnnlab.check my_ops.py                                    # its conformance

A file is imported once per process (by its absolute path), before the config is
read, so its names are registered wherever a config names them: in ``cnnlab.main``, in
each sweep worker and Ray task (the sweep's index keeps the paths), and in ``check``.
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
from types import ModuleType
from typing import Dict, List, Sequence

from cnnlab.errors import ConfigError, one_line, raised_in

_LOADED: Dict[str, ModuleType] = {}


def split_paths(text: str) -> List[str]:
  """``"a.py,b.py"`` → absolute paths (empty text: none)."""
  return [os.path.abspath(p.strip()) for p in (text or "").split(",") if p.strip()]


def load(paths: Sequence[str]) -> List[ModuleType]:
  """Imports each file (once); a missing file or an error in it fails as one line naming
  the file and the line."""
  out = []
  for path in paths:
    path = os.path.abspath(path)
    if path in _LOADED:
      out.append(_LOADED[path])
      continue
    if not os.path.isfile(path):
      raise ConfigError(f"--imports: no file {path!r}")
    name = "cnnlab_user_" + re.sub(r"\W", "_", path)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
      spec.loader.exec_module(module)
    except Exception as e:  # noqa: BLE001 -- the user's code: say where, in one line
      sys.modules.pop(name, None)
      where = raised_in(e, path) or f"{path}: {type(e).__name__}: {one_line(e)}"
      raise ConfigError(f"--imports {where}") from None
    _LOADED[path] = module
    out.append(module)
  return out
