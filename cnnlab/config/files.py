"""Config files: ``path/to/file.py[:args]`` loaded, and the typed ``key=value`` arguments
after the colon (as big_vision's ``parse_arg``)::

    python -m cnnlab.main --config=configs/cifar10.py:model=resnet56
    python -m cnnlab.sweep --config=experiments/he2016_depth/sweep.py:budget=cpu,seeds=2

A config file defines ``get_config([arg])`` and, for a sweep, ``get_sweep([arg])``; an
error raised by its code is reported naming its line (:func:`cnnlab.errors.from_user_file`).
"""

from __future__ import annotations

import importlib.util
import os
import re
from typing import Any, Dict, Optional, Tuple

import ml_collections

from cnnlab.config.overrides import typed_value
from cnnlab.errors import ConfigError, from_user_file
from cnnlab.registry import did_you_mean
from cnnlab.registry import unknown as _unknown


def load_config_file(spec: str) -> Tuple[Any, Optional[str]]:
  """``(module, arg)`` for ``path/to/config.py[:arg]`` (the ``--config`` flag's syntax)."""
  path, _, arg = spec.partition(":")
  if not os.path.isfile(path):
    raise ConfigError(f"--config: no config file {path!r} (configs/ has one per data set or "
                      f"experiment)")
  name = "cnnlab_config_" + re.sub(r"\W", "_", os.path.abspath(path))
  module_spec = importlib.util.spec_from_file_location(name, path)
  module = importlib.util.module_from_spec(module_spec)
  from_user_file(path, module_spec.loader.exec_module, module)
  return module, (arg or None)


def load(spec: str) -> ml_collections.ConfigDict:
  """The config of ``path/to/config.py[:arg]``: its ``get_config(arg)``."""
  module, arg = load_config_file(spec)
  if not hasattr(module, "get_config"):
    raise ConfigError(f"{spec}: the config file defines no get_config()")
  return from_user_file(spec.partition(":")[0], module.get_config, *([arg] if arg else []))


def from_json(data: Dict[str, Any]) -> ml_collections.ConfigDict:
  """A resolved config as a run record or a sweep's index stores it (JSON), as a
  ConfigDict again: sections as ConfigDicts, lists as the tuples the configs hold."""
  def thaw(v):
    if isinstance(v, dict):
      return ml_collections.ConfigDict({k: thaw(x) for k, x in v.items()})
    return tuple(thaw(x) for x in v) if isinstance(v, list) else v
  return thaw(data)


def config_arg(config_file: str, arg, valid, default: str, what: str = "model") -> str:
  """The one ``what`` (a model, a budget) a config file was asked for; unknown names fail
  with the valid ones. (:func:`config_args` parses several typed ``key=value`` ones.)"""
  arg = arg or default
  if arg not in valid:
    raise ConfigError(f"{config_file}: {_unknown(what, arg, list(valid))}")
  return arg


def _typed(file: str, key: str, text: str, default):
  """``text`` as the type of ``default`` (the overrides' one typing), or one of its
  choices for a tuple."""
  if isinstance(default, tuple):
    if text not in default:
      raise ConfigError(f"{file}: {_unknown(key, text, list(default))}")
    return text
  value = typed_value(text, default, where=f"{file}: argument {key}")
  if type(value) is not type(default):  # (an int argument is a count, never a fraction)
    raise ConfigError(f"{file}: argument {key}={text!r} is not a {type(default).__name__} "
                      f"(its default is {default!r})")
  return value


def config_args(arg: Optional[str], file: str, **spec) -> ml_collections.ConfigDict:
  """The typed ``key=value`` arguments of a config file (see the module's notes).

  ``spec`` gives each key's default, whose type a value is parsed to (bool, int, float,
  str), or a tuple of choices (the first is the default). A bare value sets the first
  key (``configs/cifar10.py:resnet56``). An unknown key fails naming the valid ones and
  the closest, a value of the wrong type or outside the choices names the key.
  """
  out = {k: (v[0] if isinstance(v, tuple) else v) for k, v in spec.items()}
  for i, item in enumerate(p for p in (arg or "").split(",") if p.strip()):
    key, eq, text = item.partition("=")
    key, text = key.strip(), text.strip()
    if not eq:
      if i:  # only the first argument may leave out its key
        raise ConfigError(f"{file}: argument {item!r} needs a key: key=value (keys: "
                          f"{', '.join(spec)})")
      key, text = next(iter(spec)), item.strip()
    if key not in spec:
      raise ConfigError(f"{file}: unknown argument {key!r}.{did_you_mean(key, list(spec))} "
                        f"Valid: {', '.join(f'{k}={out[k]!r}' for k in spec)}")
    out[key] = _typed(file, key, text, spec[key])
  return ml_collections.ConfigDict(out)
