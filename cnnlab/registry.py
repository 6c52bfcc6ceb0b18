"""Name → object registries shared by ops, layers, models and data sets.

Every swappable building block of the lab is registered under a string name, so
that a config field (``model.pool = "stochastic"``) or a sweep axis can select it.
A lookup of an unknown name fails with the list of valid names, and a name that
is known to be ambiguous (``"l2"`` can mean two different poolings) fails with a
hint naming the unambiguous choices.

List everything from the command line::

    python -m cnnlab.registry            # every registry
    python -m cnnlab.registry pool act   # some of them
"""

from __future__ import annotations

import difflib
import functools
import inspect
import sys
from typing import Any, Callable, Dict, Generic, Iterator, List, Mapping, Optional, TypeVar

T = TypeVar("T")


class UnknownNameError(KeyError):
  """Raised for a name that is not registered; the message lists valid names."""

  def __str__(self) -> str:  # KeyError quotes its message; we want it plain.
    return str(self.args[0]) if self.args else ""


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
    if not isinstance(name, str) or not name:
      raise ValueError(f"{self.kind} names must be non-empty strings, got {name!r}")
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
    close = difflib.get_close_matches(str(name), self.names(), n=3)
    maybe = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise UnknownNameError(f"unknown {self.kind} {name!r}.{maybe} Valid names: {valid}")

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


@functools.lru_cache(maxsize=None)
def _accepted_names(fn: Callable) -> Optional[frozenset]:
  params = inspect.signature(fn).parameters.values()
  if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
    return None  # accepts everything
  return frozenset(p.name for p in params)


def call_accepting(fn: Callable, x: Any, kwargs: Mapping[str, Any]) -> Any:
  """``fn(x, **kwargs)`` with only the keyword arguments ``fn`` accepts.

  Registered ops share one calling convention (window, rng, train, parameters,
  options, ...); each op takes the subset it needs.
  """
  names = _accepted_names(fn)
  return fn(x, **(kwargs if names is None else {k: v for k, v in kwargs.items() if k in names}))


def _describe(entry: Any) -> str:
  describe = getattr(entry, "describe", None)
  if callable(describe):
    return describe()
  doc = getattr(entry, "__doc__", None) or ""
  return doc.strip().splitlines()[0] if doc.strip() else ""


def all_registries() -> Dict[str, Registry]:
  """The lab's registries by short name, importing the modules that fill them."""
  # Imported here so that `cnnlab.registry` itself stays dependency-free.
  from cnnlab.ops import activations, normalization, pooling
  import cnnlab.data  # noqa: F401  (registers the data sets)
  import cnnlab.models  # noqa: F401  (registers the models)
  import cnnlab.train.losses  # noqa: F401  (registers the losses)
  regs = {
      "pool": pooling.POOLS,
      "roi_pool": pooling.ROI_POOLS,
      "act": activations.ACTIVATIONS,
      "norm": normalization.NORMS,
  }
  for extra in _EXTRA_REGISTRIES:
    regs.update(extra())
  return regs


# Later layers (models, data sets, losses) append a callable returning
# {short_name: registry} so that the listing stays complete.
_EXTRA_REGISTRIES: List[Callable[[], Dict[str, Registry]]] = []


def format_listing(selected: Optional[List[str]] = None) -> str:
  regs = all_registries()
  keys = selected or list(regs)
  lines = []
  for key in keys:
    if key not in regs:
      raise UnknownNameError(
          f"unknown registry {key!r}. Valid names: {', '.join(regs)}")
    reg = regs[key]
    lines.append(f"{key} ({reg.kind}, {len(reg)}):")
    width = max((len(n) for n in reg.names()), default=0)
    for name, entry in reg.items():
      lines.append(f"  {name.ljust(width)}  {_describe(entry)}".rstrip())
  return "\n".join(lines)


def main(argv: List[str]) -> int:
  try:
    print(format_listing(argv[1:] or None))
  except UnknownNameError as e:
    print(e, file=sys.stderr)
    return 2
  return 0


def cli() -> None:
  """Console-script entry point (``cnnlab-registry``)."""
  sys.exit(main(sys.argv))


if __name__ == "__main__":
  # Run through the importable module: under `python -m` this file is `__main__`,
  # a second copy whose hook list the data and model modules never see.
  from cnnlab.registry import cli as _cli
  _cli()
