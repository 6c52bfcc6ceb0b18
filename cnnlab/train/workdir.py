"""A run's work directory: the config it holds, and whether its run has finished.

``config.json`` is written through a rename (a kill mid-write leaves the old one); a
directory whose checkpoints are of another config is refused, naming the fields that
differ (``RERUN_MAY_CHANGE`` aside: a rerun with another stop step resumes).
"""

from __future__ import annotations

import json
import os
from typing import Optional

import jax

from cnnlab.errors import ConfigError
from cnnlab.processes import remove_dead_temporaries
from cnnlab.train.metrics import METRICS_FILE
from cnnlab.train.result import Result, load_result
from cnnlab.trees import flatten


# Fields a rerun may change without changing what the run computes.
RERUN_MAY_CHANGE = ("train.stop_after_steps",)


def check_workdir(workdir: str, config, has_checkpoints: bool) -> None:
  """Refuses a work directory whose checkpoints are of another config, naming the fields
  that differ (reads only)."""
  path = os.path.join(workdir, "config.json")
  new = json.loads(config.to_json_best_effort())
  if has_checkpoints and os.path.exists(path):
    with open(path) as f:
      old = flatten(json.load(f))
    cur = flatten(new)
    diff = [k for k in sorted(set(old) | set(cur))
            if k not in RERUN_MAY_CHANGE and old.get(k, "<unset>") != cur.get(k, "<unset>")]
    if diff:
      shown = "; ".join(f"{k}: {old.get(k, '<unset>')!r} there, {cur.get(k, '<unset>')!r} now"
                        for k in diff[:6])
      more = f" (and {len(diff) - 6} more)" if len(diff) > 6 else ""
      raise ConfigError(f"workdir {workdir} holds checkpoints of a run with another config "
                        f"({path}): {shown}{more}; use a new --workdir, or rerun with that "
                        f"config")


def open_workdir(workdir: str, config, has_checkpoints: bool) -> None:
  """Writes ``config.json`` after :func:`check_workdir`."""
  check_workdir(workdir, config, has_checkpoints)
  write_config(workdir, config)


def write_config(workdir: str, config) -> None:
  """Writes ``config.json`` (a directory already checked: :func:`check_workdir`)."""
  os.makedirs(workdir, exist_ok=True)
  path = os.path.join(workdir, "config.json")
  new = json.loads(config.to_json_best_effort())
  if jax.process_index() == 0:  # (the one process that writes the run's files)
    remove_dead_temporaries(workdir, ("config.json", "result.json", METRICS_FILE))
    # Through a rename: the other processes of a multi-host job read this file while
    # process 0 rewrites it on a relaunch, and a kill mid-write must not leave it empty.
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
      json.dump(new, f, indent=1, sort_keys=True)
    os.replace(tmp, path)


def finished_result(workdir: str, latest_step: Optional[int]) -> Optional[Result]:
  """The run's result when it finished (``done`` at its last checkpoint, all steps trained
  or its target met): a rerun then leaves result.json and the metrics as they are."""
  result = load_result(workdir) if latest_step is not None else None
  if result is None or result.status != "done" or result.step != latest_step:
    return None
  return result if result.step >= result.total_steps or (result.target and result.target.met()) \
      else None
