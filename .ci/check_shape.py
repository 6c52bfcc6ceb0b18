#!/usr/bin/env python3
"""Fails (exit 1) when a function in cnnlab/ is longer than 80 lines or a file longer than 450.

    python .ci/check_shape.py [root ...]        # default: cnnlab

A reader should hold a function on one screen and a module in one sitting; the
limits are the project's (issue 15), checked by CI on every change.
"""

import ast
import pathlib
import sys

MAX_FUNCTION_LINES = 80
MAX_FILE_LINES = 450


def problems(root: str):
  for path in sorted(pathlib.Path(root).rglob("*.py")):
    text = path.read_text()
    lines = text.count("\n") + (0 if text.endswith("\n") or not text else 1)
    if lines > MAX_FILE_LINES:
      yield f"{path}: {lines} lines (limit {MAX_FILE_LINES})"
    for node in ast.walk(ast.parse(text, str(path))):
      if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        n = node.end_lineno - node.lineno + 1
        if n > MAX_FUNCTION_LINES:
          yield f"{path}:{node.lineno}: function {node.name} has {n} lines (limit " \
                f"{MAX_FUNCTION_LINES})"


def main(argv) -> int:
  found = [p for root in (argv[1:] or ["cnnlab"]) for p in problems(root)]
  print("\n".join(found) if found else "code shape: every function <= 80 lines, every file "
        "<= 450 lines")
  return 1 if found else 0


if __name__ == "__main__":
  sys.exit(main(sys.argv))
