"""``python -m cnnlab.check my_ops.py``: the conformance battery on a user's own ops and models.

    python -m cnnlab.check my_ops.py            # what my_ops.py registers
    python -m cnnlab.check my_ops.py --all      # and every built-in op and model

Imports the files, finds the pooling ops, activations, norms and models they
registered, and runs on each the properties the lab's own test suite checks
(:mod:`cnnlab.check.ops`, :mod:`cnnlab.check.models`): output size against the formula,
jit, determinism, gradients, bfloat16, 1-D/2-D/3-D, and every declared option at a
non-default value. Prints a pass/fail table; exits 1 when a check fails, 2 on bad input.
"""

from __future__ import annotations

import sys
from typing import Callable, Dict, List, Sequence, Tuple

from absl import flags

from cnnlab.config import flags as cli_flags
from cnnlab.errors import USER_ERRORS, ConfigError, report


def _run(check: Callable, *args) -> str:
  try:
    check(*args)
  except AssertionError as e:
    return str(e).strip().splitlines()[0] if str(e).strip() else "assertion failed"
  except Exception as e:  # noqa: BLE001 -- a crash in the user's op is a failed check
    return f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"
  return ""


def _op_rows(kind: str, names: Sequence[str]) -> List[Tuple[str, str, str]]:
  """``(case, property, failure or "")`` for every case of ``names`` in registry ``kind``."""
  from cnnlab.check import ops as C
  rows = []
  for case in C.cases(C.REGISTRIES[kind], names):
    if kind == "pool":
      for prop, check in C.POOL_CHECKS.items():
        fails = [f"{ndim}-D {pad}: {why}" for ndim in C.NDIMS for pad in C.PADDINGS
                 for why in [_run(check, case, ndim, pad)] if why]
        rows.append((case, prop, fails[0] if fails else ""))
      spec = C.get_pool(case)
      applies = {"window too large": spec.kind == "window", "learnable": spec.learnable}
      rows += [(case, prop, _run(check, case)) for prop, check in C.POOL_SINGLE_CHECKS.items()
               if applies.get(prop, True)]
    elif kind == "act":
      rows += [(case, prop, _run(check, case)) for prop, check in C.ACT_CHECKS.items()]
    else:
      for prop, check in C.NORM_CHECKS.items():
        fails = [f"{ndim}-D: {why}" for ndim in C.NDIMS for why in [_run(check, case, ndim)] if why]
        rows.append((case, prop, fails[0] if fails else ""))
  return rows


def _model_rows(names: Sequence[str]) -> List[Tuple[str, str, str]]:
  from cnnlab.check import models as M
  return [(name, prop, _run(check, name)) for name in names
          for prop, check in M.MODEL_CHECKS.items()]


def new_entries(paths: Sequence[str]) -> Dict[str, List[str]]:
  """Imports ``paths``; what they registered, by registry (pool, act, norm, model)."""
  from cnnlab import imports
  from cnnlab.check.ops import REGISTRIES
  from cnnlab.models import MODELS
  registries = {**REGISTRIES, "model": MODELS}
  before = {k: set(r.names()) for k, r in registries.items()}
  imports.load(paths)
  return {k: [n for n in r.names() if n not in before[k]] for k, r in registries.items()}


def table(rows: List[Tuple[str, str, str, str]]) -> str:
  width = max((len(r[1]) for r in rows), default=4)
  lines = [f"{'kind':<6} {'op':<{width}}  {'property':<20} result", "-" * (width + 40)]
  lines += [f"{kind:<6} {name:<{width}}  {prop:<20} {'FAIL: ' + why if why else 'pass'}"
            for kind, name, prop, why in rows]
  return "\n".join(lines)


def _define(fv: flags.FlagValues) -> None:
  cli_flags.definer(fv)("bool", "all", False, "check the built-in ops and models too")


def main(argv=None) -> int:
  argv = sys.argv[1:] if argv is None else argv
  try:
    a, _, files = cli_flags.parse(_define, argv, prog="python -m cnnlab.check", doc=__doc__,
                                  positional=True)
    if not files:
      raise ConfigError("name the Python files that register ops or models (usage: python -m "
                        "cnnlab.check my_ops.py [--all])")
  except USER_ERRORS as e:
    return report("check", e)
  try:
    found = new_entries(files)
    if a.all:
      from cnnlab.check.ops import REGISTRIES
      from cnnlab.models import MODELS
      found = {k: r.names() for k, r in {**REGISTRIES, "model": MODELS}.items()}
    if not any(found.values()):
      raise ConfigError(f"{', '.join(files)} registered no pooling op, activation, norm or "
                        f"model (use register_pool / register_activation / register_norm / "
                        f"register_model)")
  except USER_ERRORS as e:
    return report("check", e)
  rows = [(kind, *row) for kind in ("pool", "act", "norm") for row in _op_rows(kind, found[kind])]
  rows += [("model", *row) for row in _model_rows(found["model"])]
  print(table(rows))
  failed = sum(1 for r in rows if r[3])
  print(f"\n{len(rows) - failed} passed, {failed} failed")
  return 1 if failed else 0


if __name__ == "__main__":
  sys.exit(main())
