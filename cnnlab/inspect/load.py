"""A trained run in one call: its model, variables, config and data description.

    run = cnnlab.load_run("runs/fashionnet")                  # the last checkpoint
    run = cnnlab.load_run("sweeps/pool", "pool-avg_seed-0")      # a run of a sweep (id prefix)
    logits = run.apply(images)      # raw images, normalised as in training

``step``: ``"last"`` (the newest checkpoint), ``"best"`` (the step of the best
validation value, else the best test value, as ``result.json`` records it — found only
where that checkpoint was kept: ``train.keep_checkpoints`` keeps the newest few) or an
int. Runs trained side by side are runs of their own, each in its directory. (A
directory from before 2026-12-05 that holds several such runs reads as its first;
the sweep run id ``<id>/r<i>`` the reports list names the others:
:mod:`cnnlab.train.migrations`.)
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import re
from typing import Any, Optional, Tuple, Union

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from cnnlab.data import augment
from cnnlab.data.catalog import Dataset, DatasetInfo, dataset_info
from cnnlab.data.prepare import subset_info
from cnnlab.errors import ConfigError
from cnnlab.inspect.attribution import eval_outputs
from cnnlab.train import checkpoint, migrations
from cnnlab.train.result import Result
from cnnlab.train.run import build_model, load_run_data

Step = Union[str, int]


@dataclasses.dataclass
class LoadedRun:
  """A run's trained model; ``variables`` are ``{"params", "batch_stats"}``."""
  workdir: str
  config: ml_collections.ConfigDict
  model: Any
  variables: dict
  input_shape: Tuple[int, ...]
  info: DatasetInfo
  loss_name: str
  step: int
  member: Optional[int] = None  # which run of an old directory of several (migrations)

  @property
  def name(self) -> str:
    base = os.path.basename(os.path.normpath(self.workdir))
    return base + (f"/r{self.member}" if self.member is not None else "") + f"@{self.step}"

  def preprocess(self, images) -> jax.Array:
    """Raw examples (uint8 pixels or float features) as the model saw them in training:
    padded to ``data.pad_to`` and normalised by the data set's mean and std."""
    x = jnp.asarray(images)
    pad = tuple(self.config.data.pad_to)
    if pad:
      x = augment.pad_to(x, pad)
    return augment.normalize(x, self.info.mean, self.info.std)

  @functools.cached_property
  def dataset(self) -> Dataset:
    """The run's data set, loaded (and subset, reduced) as the run's config says."""
    return load_run_data(self.config)

  def apply(self, images, preprocess: bool = True) -> jax.Array:
    """Eval-mode outputs for a batch of examples."""
    x = self.preprocess(images) if preprocess else images
    return eval_outputs(self.model, self.variables, x)


def read_config(workdir: str) -> ml_collections.ConfigDict:
  path = os.path.join(workdir, "config.json")
  with open(path) as f:
    raw = json.load(f)
  return ml_collections.ConfigDict(_tuples(raw))


def _tuples(d):
  """JSON lists back to the tuples configs hold (model fields must be hashable)."""
  if isinstance(d, dict):
    return {k: _tuples(v) for k, v in d.items()}
  if isinstance(d, list):
    return tuple(_tuples(v) for v in d)
  return d


def resolve_workdir(path: str, run_id: Optional[str] = None) -> Tuple[str, Optional[int]]:
  """``(workdir, member)`` of a run directory, or of run ``run_id`` of the sweep at
  ``path`` (an id or its unique prefix; ``"<id>/r<i>"``: run i of an old directory of
  several, member None otherwise)."""
  member = None
  if run_id is not None:
    m = re.fullmatch(r"(.+)/r(\d+)", run_id)
    if m:
      run_id, member = m.group(1), int(m.group(2))
    workdir = os.path.join(path, "runs", run_id)
    if not os.path.isfile(os.path.join(workdir, "config.json")):
      runs = os.path.join(path, "runs")
      ids = sorted(d for d in os.listdir(runs) if d.startswith(run_id)) \
          if os.path.isdir(runs) else []
      if len(ids) != 1:  # an id's unique prefix will do (ids end in a hash of the config)
        what = "several runs start with" if ids else "no run"
        raise FileNotFoundError(f"{what} {run_id!r} in the sweep {path}; its runs: "
                                f"{', '.join(ids) if ids else _run_ids(path)}")
      workdir = os.path.join(runs, ids[0])
    return workdir, member
  if os.path.isfile(os.path.join(path, "config.json")):
    return path, None
  if os.path.isdir(os.path.join(path, "runs")):
    raise ValueError(f"{path} is a sweep: name one of its runs ({_run_ids(path)})")
  raise FileNotFoundError(f"{path} is not a run directory (no config.json) nor a sweep")


def _run_ids(sweep_dir: str, shown: int = 8) -> str:
  runs = os.path.join(sweep_dir, "runs")
  ids = sorted(d for d in os.listdir(runs) if os.path.isdir(os.path.join(runs, d))) \
      if os.path.isdir(runs) else []
  more = f", … ({len(ids)} in all)" if len(ids) > shown else ""
  return ", ".join(ids[:shown]) + more if ids else "none yet"


def resolve_step(workdir: str, step: Step) -> int:
  """The checkpoint step that ``step`` ("last", "best" or an int) names in ``workdir``."""
  ckpt_dir = os.path.join(workdir, "checkpoints")
  kept = sorted(int(d) for d in os.listdir(ckpt_dir) if d.isdigit()) \
      if os.path.isdir(ckpt_dir) else []
  if not kept:
    raise FileNotFoundError(f"{workdir} has no checkpoint")
  if step == "last":
    return kept[-1]
  if step == "best":
    want = _best_step(workdir)
  else:
    try:
      want = int(step)
    except (TypeError, ValueError):
      raise ValueError(f"step must be 'last', 'best' or an int, got {step!r}") from None
  if want not in kept:
    raise FileNotFoundError(f"{workdir}: no checkpoint at step {want}"
                            f"{' (the best)' if step == 'best' else ''}; kept: "
                            f"{', '.join(map(str, kept))} (train.keep_checkpoints keeps the "
                            f"newest)")
  return want


def _best_step(workdir: str) -> int:
  path = os.path.join(workdir, "result.json")
  if not os.path.isfile(path):
    raise FileNotFoundError(f"{workdir} has no result.json yet: its best step is unknown")
  with open(path) as f:
    result = Result.from_json(json.load(f))
  for split in ("validation", "test"):
    best = result.best.get(split)
    if best is not None and best.point.step is not None:
      return int(best.point.step)
  raise ValueError(f"{workdir}: result.json records no best validation or test step")


def load_run(path: str, run_id: Optional[str] = None, step: Step = "last",
             use_ema: bool = False) -> LoadedRun:
  """Model, variables, config and data description of a trained run (see the module
  docstring). ``use_ema`` takes the EMA parameters (``train.ema_decay > 0``)."""
  workdir, member = resolve_workdir(path, run_id)
  config = read_config(workdir)
  old = migrations.old_members(config.to_dict())
  if old:  # an old directory of several runs: run ``member``'s own config and slice
    member = member or 0
    if member >= old:
      raise ValueError(f"{workdir} holds {old} runs: no run {member}")
    config = ml_collections.ConfigDict(_tuples(
        migrations.member_config(json.loads(config.to_json()), member)))
  elif member is not None:
    raise ValueError(f"{workdir} is one run: {run_id!r} names none")
  d = config.data
  info, _ = dataset_info(d.name, dict(d.options))
  info = subset_info(info, tuple(d.classes))
  model, shape, loss_name = build_model(config, info)
  at = resolve_step(workdir, step)
  state = checkpoint.load_raw(os.path.join(workdir, "checkpoints"), at)
  params = state.get("ema_params") if use_ema else state["params"]
  if params is None:
    raise ConfigError(f"the run in {workdir} kept no EMA parameters (train.ema_decay was 0)")
  variables = {"params": params, "batch_stats": state.get("batch_stats") or {}}
  pick = (lambda a: jnp.asarray(a[member])) if old else jnp.asarray
  return LoadedRun(workdir, config, model, jax.tree_util.tree_map(pick, variables),
                   tuple(shape), info, loss_name, at, member if old else None)


def example_arrays(run: LoadedRun, split: str = "test") -> Tuple[np.ndarray, np.ndarray]:
  """``(images, labels)`` of a split of the run's data set (``train``, ``validation``,
  ``test``)."""
  ds = run.dataset
  splits = {"train": ds.train, "test": ds.test, "validation": getattr(ds, "validation", None)}
  if split not in splits or splits[split] is None:
    have = [k for k, v in splits.items() if v is not None]
    raise ValueError(f"split {split!r} unknown for this run; it has: {', '.join(have)}")
  return np.asarray(splits[split].images), np.asarray(splits[split].labels)
