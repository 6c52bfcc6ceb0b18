"""Standard JSON with non-finite numbers: ``nan``/``inf`` written as the strings ``"nan"``,
``"inf"``, ``"-inf"`` (``allow_nan=False``: no ``NaN`` tokens a strict reader rejects) and
read back as floats; files written through a rename, never half-written. A leaf: the
result schema, its migrations, the metrics writer and the sweep index share it.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any, Optional


def encode(value: Any) -> Any:
  """``value`` with non-finite floats as ``"nan"``/``"inf"``/``"-inf"`` (recursively)."""
  if isinstance(value, float) and not math.isfinite(value):
    return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
  if isinstance(value, dict):
    return {k: encode(v) for k, v in value.items()}
  if isinstance(value, (list, tuple)):
    return [encode(v) for v in value]
  return value


NON_FINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf,
               "NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def number(value: Any) -> Optional[float]:
  """A metric value as a float: numbers, and the non-finite strings; None otherwise."""
  if isinstance(value, bool):
    return None
  if isinstance(value, (int, float)):
    return float(value)
  if isinstance(value, str) and value in NON_FINITE:
    return NON_FINITE[value]
  return None


def dumps(obj: Any, **kwargs) -> str:
  """Standard JSON (no ``NaN``/``Infinity`` tokens): non-finite floats as strings."""
  return json.dumps(encode(obj), allow_nan=False, **kwargs)


def write_json_atomic(path: str, obj: Any) -> None:
  """Writes ``obj`` to ``path`` through a temporary file and a rename: never half-written."""
  tmp = f"{path}.tmp{os.getpid()}"
  with open(tmp, "w") as f:
    f.write(dumps(obj, indent=1, default=str))
    f.flush()
    os.fsync(f.fileno())
  os.replace(tmp, path)
