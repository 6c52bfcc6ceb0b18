"""Every registry of the lab, and the command that lists them.

    python -m cnnlab.registries            # or: cnnlab-registry
    python -m cnnlab.registries pool act   # some of them: pool roi_pool act norm data model loss
    python -m cnnlab.registries pool --imports=my_ops.py   # with the ops a file registers

Each line gives a name, what it is, and its options with their defaults and ranges
(``lp_sum  p: float = 3.0 (1 <= p)``); pass options as ``name(key=value)``.
"""

from __future__ import annotations

import sys
from typing import Dict, List, Optional

from cnnlab.registry import Registry, UnknownNameError, did_you_mean, lookup


KINDS = ("pool", "roi_pool", "act", "norm", "data", "model", "loss")


def all_registries() -> Dict[str, Registry]:
  """The lab's registries by short name (importing the modules that fill them)."""
  return {kind: lookup(kind) for kind in KINDS}


def _describe(entry) -> str:
  describe = getattr(entry, "describe", None)
  if callable(describe):
    return describe()
  doc = (getattr(entry, "__doc__", None) or "").strip()
  return doc.splitlines()[0] if doc else ""


def _options(entry) -> str:
  declared = getattr(entry, "options", ()) or ()
  return "; ".join(f"{o.name}: {o.type.__name__} = {o.default!r} ({o.range_text()})"
                   for o in declared)


def format_listing(selected: Optional[List[str]] = None) -> str:
  regs = all_registries()
  lines = []
  for key in selected or list(regs):
    if key not in regs:
      raise UnknownNameError(f"unknown registry {key!r}.{did_you_mean(key, list(regs))} "
                             f"Valid names: {', '.join(regs)}")
    reg = regs[key]
    lines.append(f"{key} ({reg.kind}, {len(reg)}):")
    width = max((len(n) for n in reg.names()), default=0)
    for name, entry in reg.items():
      opts = _options(entry)
      lines.append(f"  {name.ljust(width)}  {_describe(entry)}".rstrip()
                   + (f"\n  {' ' * width}  options: {opts}" if opts else ""))
  return "\n".join(lines)


def main(argv: List[str]) -> int:
  from absl import flags
  from cnnlab.config import flags as cli_flags
  from cnnlab.errors import USER_ERRORS, report

  def define(fv: flags.FlagValues) -> None:
    cli_flags.definer(fv)("string", "imports", "", "comma-separated files of the user's "
                          "registrations, listed with the rest")
  try:
    a, _, selected = cli_flags.parse(define, argv[1:], prog="python -m cnnlab.registries",
                                     doc=__doc__, positional=True)
  except USER_ERRORS as e:
    return report("registry", e)
  try:
    from cnnlab import imports
    imports.load(imports.split_paths(a.imports))
    print(format_listing(selected or None))
  except USER_ERRORS as e:
    return report("registry", e)
  return 0


def cli() -> None:
  """Console-script entry point (``cnnlab-registry``)."""
  sys.exit(main(sys.argv))


if __name__ == "__main__":
  cli()
