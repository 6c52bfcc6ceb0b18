"""The base config every config file starts from, and a model's section of it.

A config is an ``ml_collections.ConfigDict`` with sections ``model`` (``name`` plus
any model field), ``data`` (``name``, ``validation_size``, ``options``,
``augment``), ``optim`` (see :mod:`cnnlab.train.optim`) and ``train``. Every field is
listed here with its default, so that every one can be overridden by name
(``--config.train.num_steps=100``) and checked by :func:`cnnlab.config.validate`.
"""

from __future__ import annotations

import dataclasses
from typing import Dict

import ml_collections

from cnnlab.registry import lookup
from cnnlab.trees import flatten

LOOP_FORMS = ("auto", "step", "scan")

# The config paths one compiled program can train several values of side by side (traced
# scalars; a model field is compiled into the step): ``train.replica_values`` requests it.
PACKABLE = ("seed", "optim.lr", "optim.weight_decay", "train.label_smoothing",
            "train.ema_decay")


def model_config(name: str, **overrides) -> ml_collections.ConfigDict:
  """``{"name": name, <every field of the model with its default>}``.

  Listing every field makes each one overridable from the command line
  (``--config.model.pool=avg``, ``--config.model.pool='lp_sum(p=4)'``). ``num_classes``
  defaults to None, the data set's (an int-typed reference, so that
  ``--config.model.num_classes=10`` works). ``dtype`` is left out: ``train.dtype``
  chooses the compute precision.
  """
  from cnnlab.models.registry import model_fields  # (the model registry, on first use)
  spec = lookup("model").get(name)
  names = set(model_fields(spec.cls)) - {"dtype"}
  fields = {f.name: f.default for f in dataclasses.fields(spec.cls)
            if f.name in names and f.default is not dataclasses.MISSING}
  fields.update(spec.kwargs)
  fields["num_classes"] = ml_collections.FieldReference(None, field_type=int)
  fields.update(overrides)
  return ml_collections.ConfigDict({"name": name, **fields})


def base_config(model: str = "fashionnet") -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.seed = 0
  # Sets XLA's GPU determinism flags before JAX starts (see cnnlab.train.runtime);
  # result.json records whether they took effect.
  c.deterministic = False
  c.model = model_config(model)
  c.data = ml_collections.ConfigDict({
      "name": "fashion_mnist", "validation_size": 0, "validation_from": "end",
      "path": "", "options": ml_collections.ConfigDict(), "augment": (),
      "crop_padding": 2, "max_shift": 2, "cutout_size": 8,
      # "nielsen_shift": train on the originals plus their 4 one-pixel shifts (5×).
      "expand": "", "pad_to": (),
      # a subset of the classes, relabelled 0..n-1 in this order (e.g. (3, 8))
      "classes": (),
      # train on the first n training examples only (0: all), e.g. a reduced-data study
      "train_size": 0})
  c.optim = ml_collections.ConfigDict({
      "name": "adam", "lr": 1e-3, "momentum": 0.9, "b1": 0.9, "b2": 0.999, "eps": 1e-8,
      "weight_decay": 0.0, "schedule": "constant", "warmup_steps": 0, "decay_steps": 0,
      "decay_factor": 0.1, "boundaries": (0.5, 0.75), "clip_norm": 0.0, "l2": 0.0,
      "l2_form": "plain"})
  c.train = ml_collections.ConfigDict({
      "batch_size": 100, "num_epochs": 5, "num_steps": 0, "shuffle": True,
      "eval_batch_size": 1000, "eval_every_steps": 0, "label_smoothing": 0.0,
      "log_every_steps": 100, "checkpoint_every_steps": 500, "dtype": "float32",
      # "auto": the data set's natural loss (softmax CE, sigmoid CE or Euclidean).
      "loss": "auto",
      "stop_after_steps": 0, "num_replicas": 0, "ema_decay": 0.0, "keep_checkpoints": 2,
      # replicas trained side by side, each with its own value of config paths, nested as
      # the config: {"seed": (0, 1, 0, 1), "optim": {"lr": (0.1, 0.1, 0.01, 0.01)}}
      # (packable: PACKABLE); without "seed", replica r has seed + r
      "replica_values": ml_collections.ConfigDict(),
      # "auto": one compiled program per step on CPU, lax.scan over chunks elsewhere.
      "loop": "auto", "scan_chunk_steps": 0, "data_parallel": True,
      # XLA's CPU backend: the batch split over this many host devices, each a share of
      # the cores (0: one per core, fewer if the batch does not divide; see
      # cnnlab.train.runtime.choose_cpu_devices). Set by cnnlab.main before JAX starts.
      "cpu_devices": 1,
      # also evaluate the whole training set (split "train_set": eval mode, no dropout)
      "eval_train_set": False,
      # the device-resident training split padded to this many rows (0: not padded), so
      # that runs over training sizes share one compiled program: set it to the sweep's
      # largest size (experiments/mnist1d_pooling)
      "pad_train_to": 0,
      # stop once an evaluated metric reaches a value (time-to-accuracy runs), e.g.
      # target_metric="train_set.accuracy", target_value=0.9; result.json records when
      "target_metric": "", "target_value": 0.0})
  return c


def replica_values(t) -> Dict[str, tuple]:
  """``train.replica_values`` as ``{"optim.lr": (...), "seed": (...)}``."""
  return {k: tuple(v) if isinstance(v, (tuple, list)) else v
          for k, v in flatten(t.replica_values).items()}
