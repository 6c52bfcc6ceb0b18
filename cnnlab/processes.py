"""Processes on this host: whether one still runs, and the temporary files of dead ones.

The trainer writes ``config.json``, ``result.json`` and a rewritten ``metrics.jsonl``
through ``<name>.tmp<pid>`` and a rename (never half-written); a process killed between
the two leaves its temporary behind. The next run in the directory removes those whose
process is gone (a live one's, e.g. another host's writer with the same pid here, is
left alone).
"""

from __future__ import annotations

import glob
import os
import re
from typing import List, Optional, Sequence


def alive(pid: Optional[int]) -> bool:
  """Whether process ``pid`` (on this host) still runs; a zombie counts as dead."""
  if not pid:
    return False
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:
    return True
  try:  # a killed worker whose parent died too may linger unreaped as a zombie
    with open(f"/proc/{pid}/stat") as f:
      return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
  except OSError:
    return True


def remove_dead_temporaries(directory: str, names: Sequence[str]) -> List[str]:
  """Removes ``<name>.tmp<pid>`` in ``directory`` for each of ``names`` whose process no
  longer runs; returns the paths removed."""
  removed = []
  for name in names:
    for path in glob.glob(os.path.join(glob.escape(directory), glob.escape(name) + ".tmp*")):
      m = re.fullmatch(r"\.tmp(\d+)", path[len(os.path.join(directory, name)):])
      if m and not alive(int(m.group(1))):
        try:
          os.remove(path)
          removed.append(path)
        except FileNotFoundError:  # (its process renamed it after all)
          pass
  return removed
