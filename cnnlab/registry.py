"""Name → object registries, typed options, and the ``name(key=value)`` syntax.

Every swappable building block of the lab is registered under a string name, so that
a config field (``model.pool = "stochastic"``) or a sweep axis can select it. A lookup
of an unknown name fails with the closest match and the list of valid names; a name
known to be ambiguous (``"l2"`` is two poolings) fails with a hint naming the choices.

An op declares its options — name, type, default, valid range — as :class:`Option`
entries. A caller's options are checked against them before anything is traced: an
unknown option fails naming the accepted ones and the closest match, an out-of-range
value (``p < 1``) names the bound. Options travel with the name in one string, the
only syntax configs, the command line, sweeps, run ids and reports use::

    "lp_sum(p=4)"      →  ("lp_sum", {"p": 4.0})
    "leaky_relu(negative_slope=0.2)",  "mixed(per_channel=True)",  "max"

This module is a leaf: it imports nothing of cnnlab (``python -m cnnlab.registries``
lists what the lab has registered).
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import importlib
import inspect
import math
from typing import (Any, Callable, Dict, Generic, Iterator, List, Mapping, Optional, Sequence,
                    Tuple, TypeVar)

T = TypeVar("T")


class UnknownNameError(KeyError):
  """Raised for a name that is not registered; the message lists valid names."""

  def __str__(self) -> str:  # KeyError quotes its message; we want it plain.
    return str(self.args[0]) if self.args else ""


class OptionError(ValueError):
  """An option that an op does not declare, or a value outside its declared range."""


def did_you_mean(name: Any, names: Sequence[str]) -> str:
  """`` Did you mean 'x'?`` for the closest of ``names`` (empty when none is close)."""
  close = difflib.get_close_matches(str(name), list(names), n=3)
  return f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""


def unknown(what: str, value: Any, valid: Sequence[str]) -> str:
  """``unknown model 'x'. Did you mean 'y'? Valid: a, b`` (the lab's one form)."""
  return f"unknown {what} {value!r}.{did_you_mean(value, valid)} Valid: {', '.join(valid)}"


class Registry(Generic[T]):
  """An ordered mapping from names to entries, with helpful errors.

  Args:
    kind: what the entries are ("pooling", "activation", ...), used in messages.
  """

  def __init__(self, kind: str):
    self.kind = kind
    self._entries: Dict[str, T] = {}
    self._hints: Dict[str, str] = {}

  def add(self, name: str, entry: T, *, overwrite: bool = False) -> T:
    if not isinstance(name, str) or not name.isidentifier():
      raise ValueError(f"{self.kind} names must be identifiers (letters, digits, _), got "
                       f"{name!r}")
    if name in self._entries and not overwrite:
      raise ValueError(
          f"{self.kind} {name!r} is already registered; pass overwrite=True to replace it")
    self._entries[name] = entry
    return entry

  def remove(self, name: str) -> None:
    self._entries.pop(name, None)

  def hint(self, name: str, message: str) -> None:
    """Makes ``get(name)`` fail with ``message`` (for ambiguous names)."""
    self._hints[name] = message

  def get(self, name: str) -> T:
    try:
      return self._entries[name]
    except (KeyError, TypeError):
      pass
    valid = ", ".join(self.names())
    if isinstance(name, str) and name in self._hints:
      raise UnknownNameError(
          f"{self.kind} {name!r} is ambiguous: {self._hints[name]}. Valid names: {valid}")
    raise UnknownNameError(f"unknown {self.kind} {name!r}.{did_you_mean(name, self.names())} "
                           f"Valid names: {valid}")

  def names(self) -> List[str]:
    return list(self._entries)

  def items(self):
    return list(self._entries.items())

  def __contains__(self, name: object) -> bool:
    return name in self._entries

  def __iter__(self) -> Iterator[str]:
    return iter(list(self._entries))

  def __len__(self) -> int:
    return len(self._entries)

  def __repr__(self) -> str:
    return f"Registry({self.kind!r}, {self.names()})"


def doc_summary(fn: Callable) -> str:
  """The first line of a function's docstring ("" without one): a registry description."""
  lines = (inspect.getdoc(fn) or "").strip().splitlines()
  return lines[0] if lines else ""


# -- typed options ---------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Option:
  """One declared option of a registered op.

  ``type`` is ``float``, ``int``, ``bool`` or ``str``; ``low``/``high`` bound numbers
  (inclusive unless ``low_open``/``high_open``); ``choices`` restricts strings.
  """
  name: str
  type: type
  default: Any
  low: Optional[float] = None
  high: Optional[float] = None
  low_open: bool = False
  high_open: bool = False
  choices: Tuple[Any, ...] = ()
  doc: str = ""
  example: Any = None  # a non-default value for conformance tests (else one is derived)

  def range_text(self) -> str:
    if self.choices:
      return "one of " + ", ".join(repr(c) for c in self.choices)
    lo = "" if self.low is None else f"{self.low:g} {'<' if self.low_open else '<='} "
    hi = "" if self.high is None else f" {'<' if self.high_open else '<='} {self.high:g}"
    return f"{lo}{self.name}{hi}" if lo or hi else f"any {self.type.__name__}"

  def check(self, value: Any, owner: str) -> Any:
    """``value`` as this option's type, or :class:`OptionError` naming ``owner``."""
    where = f"{owner}: option {self.name!r}"
    if self.type is bool:
      if not isinstance(value, bool):
        raise OptionError(f"{where} must be True or False, got {value!r}")
      return value
    if self.type in (int, float):
      ok = isinstance(value, (int, float)) and not isinstance(value, bool) and (
          self.type is float or float(value).is_integer())
      if not ok or not math.isfinite(float(value)):
        raise OptionError(f"{where} must be a finite {self.type.__name__}, got {value!r}")
      value = self.type(value)
      bad_low = self.low is not None and (value <= self.low if self.low_open else value < self.low)
      bad_high = self.high is not None and (
          value >= self.high if self.high_open else value > self.high)
      if bad_low or bad_high:
        raise OptionError(f"{where} is {value!r}, outside its range {self.range_text()}")
      return value
    if not isinstance(value, self.type) or (self.choices and value not in self.choices):
      raise OptionError(f"{where} must be {self.range_text()}, got {value!r}")
    return value

  def alternative(self) -> Any:
    """A valid value other than the default (for conformance tests at non-default options)."""
    if self.example is not None:
      return self.check(self.example, f"option {self.name!r} example")
    if self.type is bool:
      return not self.default
    if self.choices:
      return next(c for c in self.choices if c != self.default)
    step = 1 if self.type is int else 0.5 * (abs(self.default) or 1.0)
    for v in (self.default + step, self.default - step):
      v = v if self.type is int else float(f"{v:.6g}")  # 1.5e-05, not 1.5000000000000002e-05
      try:
        return self.check(v, "")
      except OptionError:
        continue
    raise ValueError(f"option {self.name!r}: no alternative value within its range")


def resolve_options(declared: Sequence[Option], given: Mapping[str, Any], owner: str
                    ) -> Dict[str, Any]:
  """Every declared option's value: ``given`` checked, defaults filled in.

  An option that ``owner`` does not declare fails naming the accepted ones and the
  closest match; nothing is ever dropped silently.
  """
  by_name = {o.name: o for o in declared}
  unknown = [k for k in given if k not in by_name]
  if unknown:
    k = unknown[0]
    accepted = ", ".join(by_name) or "none"
    raise OptionError(f"{owner} has no option {k!r}.{did_you_mean(k, list(by_name))} "
                      f"Its options: {accepted}")
  return {o.name: o.check(given[o.name], owner) if o.name in given else o.default
          for o in declared}


def check_signature(fn: Callable, names: Sequence[str], owner: str) -> None:
  """At registration: ``fn`` must accept each declared option by keyword."""
  params = inspect.signature(fn).parameters
  if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
    return
  missing = [n for n in names if n not in params]
  if missing:
    raise TypeError(f"{owner}: its function does not take the declared option(s) {missing}")


# -- the "name(key=value, ...)" syntax --------------------------------------------------


def parse_call(spec: str) -> Tuple[str, Dict[str, Any]]:
  """``"lp_sum(p=4)"`` → ``("lp_sum", {"p": 4})``; a bare name has no options.

  Values are Python literals (numbers, True/False, quoted strings); anything else
  fails with the expected form.
  """
  if not isinstance(spec, str):
    raise OptionError(f"expected a name such as 'max' or 'lp_sum(p=4)', got {spec!r}")
  text = spec.strip()
  if "(" not in text:
    return text, {}
  form = f"{spec!r} is not of the form name(key=value, ...), e.g. 'lp_sum(p=4)'"
  try:
    call = ast.parse(text, mode="eval").body
  except SyntaxError:
    raise OptionError(form) from None
  if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Name) or call.args:
    raise OptionError(form)
  options = {}
  for kw in call.keywords:
    if kw.arg is None:
      raise OptionError(form)
    try:
      options[kw.arg] = ast.literal_eval(kw.value)
    except ValueError:
      raise OptionError(f"{spec!r}: the value of {kw.arg!r} must be a number, True/False or "
                        f"a quoted string") from None
  return call.func.id, options


def format_call(name: str, options: Optional[Mapping[str, Any]] = None) -> str:
  """The canonical string of a name with options: ``format_call("lp_sum", {"p": 4.0})``
  is ``"lp_sum(p=4.0)"`` (options in the given order; none: the bare name)."""
  if not options:
    return name
  return f"{name}(" + ", ".join(f"{k}={v!r}" for k, v in options.items()) + ")"


if __name__ == "__main__":  # the listing moved: say where, rather than print nothing
  import sys
  print("the listing is `python -m cnnlab.registries` (or cnnlab-registry)", file=sys.stderr)
  sys.exit(2)


# Where each of the lab's registries (and name lists) lives, by short name. They are looked
# up by name, so that this leaf module imports nothing of cnnlab and a caller — the config
# room validating a config — loads only the one module that holds what it checks.
WHERE = {"pool": ("cnnlab.ops.pooling", "POOLS"), "roi_pool": ("cnnlab.ops.pooling", "ROI_POOLS"),
         "act": ("cnnlab.ops.activations", "ACTIVATIONS"),
         "norm": ("cnnlab.ops.normalization", "NORMS"), "data": ("cnnlab.data", "DATASETS"),
         "model": ("cnnlab.models", "MODELS"), "loss": ("cnnlab.train.losses", "LOSSES"),
         "optimizer": ("cnnlab.train.optim", "OPTIMIZERS"),
         "schedule": ("cnnlab.train.optim", "SCHEDULES"),
         "augmentation": ("cnnlab.data.augment", "AUGMENTATIONS")}


def lookup(kind: str) -> Any:
  """One registry (or, for ``optimizer``, ``schedule``, ``augmentation``, the collection of
  names) by its short name, importing only the module that holds it."""
  if kind not in WHERE:
    raise UnknownNameError(f"unknown registry {kind!r}.{did_you_mean(kind, list(WHERE))} "
                           f"Valid names: {', '.join(WHERE)}")
  module, name = WHERE[kind]
  return getattr(importlib.import_module(module), name)


def names_of(kind: str) -> List[str]:
  """The valid names of one kind (see :func:`lookup`)."""
  found = lookup(kind)
  return list(found.names()) if isinstance(found, Registry) else list(found)
