"""A trained run evaluated on a split (its own data, or another data set of the same
shape), with a confusion matrix; and a run's weights exported with its config.

    python -m cnnlab.evaluate --workdir=runs/fashionnet [--split=test] [--data=NAME]
    python -m cnnlab.evaluate --sweep_dir=sweeps/x --ensemble=all     # the runs as one net
    python -m cnnlab.export --workdir=runs/fashionnet --format=msgpack|orbax [--out=DIR]

The metrics are those the run's loss defines (its ``eval_sums`` and ``finalize``, as
training computes them), over every example of the split in batches. An ensemble
(:func:`evaluate_ensemble`, e.g. Nielsen's vote of five nets) is an evaluation of its
own, of any runs of one task: how they were trained (apart, or side by side) is no
matter.
"""

from __future__ import annotations

import json
import os
import shutil
from typing import Any, Dict, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from cnnlab.inspect.attribution import eval_outputs
from cnnlab.inspect.load import LoadedRun, example_arrays
from cnnlab.train.losses import LOSSES


def evaluate(run: LoadedRun, split: str = "test", batch_size: int = 500) -> Dict[str, Any]:
  """``{"split", "count", <metric>: value, ..., "confusion": K × K list}`` (the confusion
  matrix, rows the true class, for class targets)."""
  images, labels = example_arrays(run, split)
  spec = LOSSES.get(run.loss_name)
  sums, outputs = None, []
  for i in range(0, len(images), batch_size):
    x = run.preprocess(images[i:i + batch_size])
    y = jnp.asarray(labels[i:i + batch_size])
    out = eval_outputs(run.model, run.variables, x)
    s = spec.eval_sums(out, y, jnp.ones(len(y), bool))
    sums = s if sums is None else jax.tree_util.tree_map(jnp.add, sums, s)
    outputs.append(np.asarray(out))
  outs = np.concatenate(outputs)
  args = (outs, labels) if spec.needs_outputs else (None, None)
  metrics = {k: float(v) for k, v in spec.finalize(jax.device_get(sums), *args).items()}
  result: Dict[str, Any] = {"run": run.name, "split": split, "count": int(len(images)),
                            **metrics}
  if spec.target == "class":
    k = outs.shape[-1]
    pred = outs.argmax(-1)
    confusion = np.zeros((k, k), np.int64)
    np.add.at(confusion, (np.asarray(labels, np.int64), pred), 1)
    result["confusion"] = confusion.tolist()
    result["class_names"] = list(run.info.class_names)
  return result


def evaluate_ensemble(runs: Sequence[LoadedRun], split: str = "test", batch_size: int = 500
                      ) -> Dict[str, Any]:
  """Runs of one task scored as one classifier by their loss's ``ensemble_sums``
  (``ensemble_vote_accuracy``: each net votes for its top class; ``ensemble_softmax_
  accuracy``: the top class of the mean softmax), beside each run's own metrics and their
  mean: ``{"runs", "split", "count", "ensemble_<name>": ..., "mean_<metric>": ...,
  "members": [...]}``."""
  if len(runs) < 2:
    raise ValueError(f"an ensemble needs two runs or more, got {len(runs)}")
  spec = LOSSES.get(runs[0].loss_name)
  if spec.ensemble_sums is None:
    raise ValueError(f"the loss {runs[0].loss_name!r} defines no ensemble (ensemble_sums)")
  images, labels = example_arrays(runs[0], split)
  for r in runs[1:]:
    other = example_arrays(r, split)[1]
    if r.loss_name != runs[0].loss_name or not np.array_equal(other, labels):
      raise ValueError(f"{r.name} is not of {runs[0].name}'s task: an ensemble's runs share "
                       f"their loss and their {split} examples")
  sums = None
  for i in range(0, len(images), batch_size):
    y = jnp.asarray(labels[i:i + batch_size])
    outs = jnp.stack([eval_outputs(r.model, r.variables, r.preprocess(images[i:i + batch_size]))
                      for r in runs])
    s = spec.ensemble_sums(outs, y, jnp.ones(len(y), bool))
    sums = s if sums is None else jax.tree_util.tree_map(jnp.add, sums, s)
  members = [{k: v for k, v in evaluate(r, split, batch_size).items()
              if k not in ("confusion", "class_names")} for r in runs]
  names = [k for k, v in members[0].items() if isinstance(v, float)]
  return {"runs": [r.name for r in runs], "split": split, "count": int(len(images)),
          **{f"ensemble_{k}": float(v) / len(images) for k, v in jax.device_get(sums).items()},
          **{f"mean_{k}": float(np.mean([m[k] for m in members])) for k in names},
          "members": members}


def confusion_figure(result: Dict[str, Any], path: str) -> Optional[str]:
  if "confusion" not in result:
    return None
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  m = np.asarray(result["confusion"], float)
  k = len(m)
  fig, ax = plt.subplots(figsize=(1.5 + 0.45 * k, 1.2 + 0.45 * k))
  im = ax.imshow(m / np.maximum(m.sum(1, keepdims=True), 1), cmap="Blues", vmin=0, vmax=1)
  names = result.get("class_names") or [str(i) for i in range(k)]
  ax.set_xticks(range(k), names, rotation=60, ha="right", fontsize=7)
  ax.set_yticks(range(k), names, fontsize=7)
  for i in range(k):
    for j in range(k):
      if m[i, j]:
        ax.text(j, i, f"{int(m[i, j])}", ha="center", va="center", fontsize=6,
                color="white" if m[i, j] > 0.6 * m[i].sum() else "black")
  ax.set_xlabel("predicted")
  ax.set_ylabel("true")
  metric = next((k for k in ("accuracy",) if k in result), None)
  fig.colorbar(im, ax=ax, fraction=0.04)
  ax.set_title(f"{result['run']} · {result['split']} ({result['count']} examples)"
               + (f" · accuracy {100 * result[metric]:.2f}%" if metric else ""), fontsize=8)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)
  return path


FORMATS = ("msgpack", "orbax")


def export(run: LoadedRun, out_dir: str, fmt: str = "msgpack") -> str:
  """Writes the run's variables (``variables.msgpack`` via flax serialization, or an
  Orbax checkpoint ``variables/``) and its ``config.json`` into ``out_dir``."""
  if fmt not in FORMATS:
    raise ValueError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
  os.makedirs(out_dir, exist_ok=True)
  variables = jax.device_get(run.variables)
  if fmt == "msgpack":
    from flax import serialization
    path = os.path.join(out_dir, "variables.msgpack")
    with open(path, "wb") as f:
      f.write(serialization.to_bytes(variables))
  else:
    import orbax.checkpoint as ocp
    path = os.path.join(os.path.abspath(out_dir), "variables")
    if os.path.exists(path):
      shutil.rmtree(path)
    with ocp.PyTreeCheckpointer() as ckpt:
      ckpt.save(path, variables)
  shutil.copy(os.path.join(run.workdir, "config.json"), os.path.join(out_dir, "config.json"))
  with open(os.path.join(out_dir, "export.json"), "w") as f:
    json.dump({"run": run.workdir, "step": run.step, "format": fmt,
               "model": run.config.model.name, "input_shape": list(run.input_shape)}, f,
              indent=1)
  return path


def load_exported(out_dir: str):
  """``(model, variables, config)`` from an :func:`export` directory."""
  from cnnlab.inspect.load import read_config
  from cnnlab.data.catalog import dataset_info
  from cnnlab.data.prepare import subset_info
  from cnnlab.train.run import build_model
  config = read_config(out_dir)
  with open(os.path.join(out_dir, "export.json")) as f:
    meta = json.load(f)
  info, _ = dataset_info(config.data.name, dict(config.data.options))
  model, shape, _ = build_model(config, subset_info(info, tuple(config.data.classes)))
  template = jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0),
                                               jnp.zeros((1,) + tuple(shape)), train=False))
  template = {"params": template["params"], "batch_stats": template.get("batch_stats", {})}
  if meta["format"] == "msgpack":
    from flax import serialization
    with open(os.path.join(out_dir, "variables.msgpack"), "rb") as f:
      variables = serialization.msgpack_restore(f.read())
  else:
    import orbax.checkpoint as ocp
    with ocp.PyTreeCheckpointer() as ckpt:
      variables = ckpt.restore(os.path.join(os.path.abspath(out_dir), "variables"))
  jax.tree_util.tree_map(lambda t, v: None, template, variables)  # same structure or raise
  return model, variables, config
