"""Markdown output shared by the benchmark scripts."""

import sys
from typing import Optional, Sequence


def publish(env_lines: Sequence[str], head: Sequence[str], rows: Sequence[Sequence],
            out: Optional[str]) -> str:
  """Prints the environment and a Markdown table; appends both to ``out`` if given."""
  table = "\n".join(["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] +
                    ["| " + " | ".join(str(c) for c in r) + " |" for r in rows])
  text = "\n".join(env_lines) + "\n\n" + table + "\n"
  print(text)
  if out:
    with open(out, "a") as f:
      f.write("\n" + text)
  return text


def command() -> str:
  return "`python " + " ".join(sys.argv) + "`"
