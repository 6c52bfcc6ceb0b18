"""The one parser of ``<path>=<value>`` overrides, shared by every entry point::

    python -m cnnlab.main   --config=configs/mnist1d.py --config.optim.lr=0.01
    python -m cnnlab.sweep  --config=configs/sweeps/mnist1d_pool_act.py --config.train.num_steps=100
    python -m cnnlab.report --sweep_dir=sweeps/he2016_depth --baseline=model.depth=20

A value's text takes the type of the field it sets (the ConfigDict's declared type, so that
``model.num_classes``, None until set but typed int, takes an int): ``true``/``false``
(or 1/0, yes/no) for a bool; an int, or a float where the text is one (``0.1`` for
``data.validation_size``, a count or a fraction); a float; a string verbatim (op names
with options stay text: ``lp_sum(p=4)``); a tuple as a Python literal or comma-separated
words (``data.augment=flip,crop``); a section (``data.options``) as a dict literal.
Setting ``model.name`` rebuilds the model section with that model's fields and defaults
first, then the other ``model.*`` overrides apply. A path the config lacks fails naming
the closest field and the fields there.
"""

from __future__ import annotations

import ast
from typing import Any, List, Mapping, Sequence, Tuple

import ml_collections

from cnnlab.errors import ConfigError
from cnnlab.registry import did_you_mean, names_of, unknown

PREFIX = "--config."
Overrides = Tuple[Tuple[str, str], ...]  # ((path, text), ...) in the command line's order


def parse(item: str) -> Tuple[str, str]:
  """``"--config.train.num_steps=100"`` (or ``"train.num_steps=100"``) → ``("train.num_steps",
  "100")``; a bare ``--config.train.shuffle`` sets a bool field true."""
  text = item[len(PREFIX):] if item.startswith(PREFIX) else item
  if text.startswith("-"):
    raise ConfigError(f"unexpected argument {item!r}; overrides are --config.<path>=<value>")
  path, eq, value = text.partition("=")
  if not path or any(not p.isidentifier() for p in path.split(".")):
    raise ConfigError(f"override {item!r} is not <path>=<value> (e.g. "
                      f"--config.train.num_steps=100)")
  return path, (value if eq else "true")


def split_argv(argv: Sequence[str]) -> Tuple[Overrides, List[str]]:
  """The ``--config.<path>=<value>`` arguments of a command line, parsed, and the rest.
  As absl reads flags, ``--config.<path> <value>`` (the value as the next argument) is
  the same override; a bare ``--config.<path>`` before another flag sets a bool."""
  overrides, rest, args = [], [], list(argv)
  while args:
    a = args.pop(0)
    if not a.startswith(PREFIX):
      rest.append(a)
    elif "=" not in a and args and not args[0].startswith("-"):
      overrides.append(parse(f"{a}={args.pop(0)}"))
    else:
      overrides.append(parse(a))
  return tuple(overrides), rest


def _declared_type(node, leaf: str):
  try:
    return node.get_type(leaf)
  except (AttributeError, KeyError, TypeError):
    return type(node[leaf])


def typed_value(text: str, current: Any, declared: type = type(None), where: str = "") -> Any:
  """``text`` as the type of the value it replaces (see the module's notes); ``where``
  names the override in the error (``--config.train.batch_size``)."""
  kind = declared if current is None and declared is not type(None) else type(current)
  try:
    if kind is bool:
      low = text.strip().lower()
      if low not in ("true", "false", "1", "0", "yes", "no"):
        raise ValueError("expected true or false")
      return low in ("true", "1", "yes")
    if kind in (int, float):
      return _number(text, kind)
    if kind is str:
      return text
    if kind in (tuple, list):
      return _tuple(text)
    value = ast.literal_eval(text)
    if isinstance(current, ml_collections.ConfigDict) and not isinstance(value, dict):
      raise ValueError("expected a dict literal, e.g. {'shape': (8, 8, 1)}")
    return tuple(value) if isinstance(value, list) else value
  except (ValueError, SyntaxError) as e:
    what = kind.__name__ if kind is not type(None) else "Python literal"
    raise ConfigError(f"{where}={text!r}: not a{'n' if what[0] in 'aeiou' else ''} {what} "
                      f"like its current value {current!r} ({e})") from None


def _number(text: str, kind: type):
  try:
    return kind(text)
  except ValueError:
    pass
  try:  # a fraction where a count is the default (data.validation_size=0.1)
    return float(text)
  except ValueError:
    raise ValueError("expected a number") from None


def _tuple(text: str) -> tuple:
  text = text.strip()
  if not text:
    return ()
  try:
    value = ast.literal_eval(text)
  except (ValueError, SyntaxError):  # bare words: flip,crop
    return tuple(w.strip() for w in text.split(",") if w.strip())
  return tuple(value) if isinstance(value, (tuple, list)) else (value,)


def _node(config, path: str, where: str):
  """The section holding ``path``'s last part (which must exist), and that part."""
  *parents, leaf = path.split(".")
  node = config
  for i, part in enumerate(parents + [leaf]):
    keys = list(node.keys()) if hasattr(node, "keys") else []
    if part not in keys:
      at = ".".join(["config"] + parents[:i])
      fields = (f" Its fields: {', '.join(keys)}" if keys else
                " It holds none: add the field in the config file to override it")
      raise ConfigError(f"{where}: {at} has no field {part!r}.{did_you_mean(part, keys)}"
                        + fields)
    if i < len(parents):
      node = node[part]
  return node, leaf


def current(config, path: str, where: str = "") -> Any:
  """The value of the field at ``path`` (which must exist: the error names the closest)."""
  node, leaf = _node(config, path, where or "config." + path)
  return node[leaf]


def typed(config, path: str, text: str, where: str = "") -> Any:
  """The value ``<path>=<text>`` sets in ``config`` (typed by that field)."""
  where = where or "config." + path
  node, leaf = _node(config, path, where)
  return typed_value(text, node[leaf], _declared_type(node, leaf), where)


def _with_model(config, name: Any):
  """``config`` with the model section rebuilt for model ``name`` (its defaults)."""
  from cnnlab.config.base import model_config
  models = names_of("model")
  if name not in models:
    raise ConfigError(f"config.model.name: {unknown('model', name, models)}")
  config.model = model_config(name)
  return config


def apply(config, overrides: Mapping[str, Any] | Sequence[Tuple[str, Any]], text: bool = True):
  """A copy of ``config`` with each override set: ``(path, text)`` pairs from a command
  line typed by their field (``text``), or ``{path: value}`` already typed (a sweep's
  points). ``model.name`` first (see the module's notes)."""
  items = list(overrides.items() if isinstance(overrides, Mapping) else overrides)
  c = config.copy_and_resolve_references()
  for path, value in items:
    if path == "model.name":
      name = typed(c, path, value) if text else value
      if name != c.model.name or text is False:
        c = _with_model(c, name)
  for path, value in items:
    if path == "model.name":
      continue
    node, leaf = _node(c, path, "config." + path if text else f"sweep path {path!r}")
    new = typed_value(value, node[leaf], _declared_type(node, leaf), "config." + path) \
        if text else (tuple(value) if isinstance(value, list) else value)
    with node.ignore_type():
      node[leaf] = new
  return c
