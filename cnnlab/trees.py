"""Nested dicts addressed by dotted paths (``"optim.lr"``): configs as JSON, sweep points,
the values of runs trained side by side. A leaf: imports nothing of cnnlab."""

from __future__ import annotations

from typing import Any, Dict

MISSING = object()


def flatten(tree: Any, prefix: str = "") -> Dict[str, Any]:
  """``{"optim": {"lr": 0.1}}`` → ``{"optim.lr": 0.1}`` (a dict or a ConfigDict)."""
  out: Dict[str, Any] = {}
  for k, v in tree.items():
    if hasattr(v, "items"):
      out.update(flatten(v, f"{prefix}{k}."))
    else:
      out[f"{prefix}{k}"] = v
  return out


def get(tree: Any, path: str, default: Any = MISSING) -> Any:
  """The value at ``path``; ``default`` where there is none (KeyError without one)."""
  node = tree
  for part in path.split("."):
    if isinstance(node, dict) and part in node:
      node = node[part]
    else:
      if default is MISSING:
        raise KeyError(path)
      return default
  return node


def put(tree: Dict[str, Any], path: str, value: Any) -> None:
  """Sets ``path`` in ``tree``, creating the dicts on the way."""
  *parents, leaf = path.split(".")
  for p in parents:
    tree = tree.setdefault(p, {})
  tree[leaf] = value


def nest(flat: Dict[str, Any]) -> Dict[str, Any]:
  """``{"optim.lr": 0.1}`` → ``{"optim": {"lr": 0.1}}``: the inverse of :func:`flatten`."""
  out: Dict[str, Any] = {}
  for path, v in flat.items():
    put(out, path, v)
  return out
