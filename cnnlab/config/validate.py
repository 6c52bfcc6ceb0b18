"""Validation of a whole config before anything is compiled: every field checked, the
first bad one named with the valid values and the closest match.

Names (models, data sets, losses, optimizers, ...) are looked up through
:func:`cnnlab.registry.lookup` (the leaf registry module), which imports only the module
that holds each registry.
"""

from __future__ import annotations

import ml_collections

from cnnlab.config.base import LOOP_FORMS, PACKABLE, replica_values
from cnnlab.errors import ConfigError
from cnnlab.registry import did_you_mean, lookup, names_of
from cnnlab.registry import unknown as _unknown


def _check_replica_values(t) -> None:
  values = replica_values(t)
  for path, v in values.items():
    _need(path in PACKABLE, "train.replica_values",
          f"{path!r} cannot be packed.{did_you_mean(path, PACKABLE)} Packable: "
          f"{', '.join(PACKABLE)} (traced scalars; a model field is compiled into the step)")
    _need(isinstance(v, (tuple, list)) and len(v) == t.num_replicas and t.num_replicas > 1,
          "train.replica_values", f"{path!r} needs one value per replica "
          f"(train.num_replicas={t.num_replicas} > 1), got {v!r}")
  for path, low, high in (("optim.lr", 0, None), ("optim.weight_decay", -1e-300, None),
                          ("train.label_smoothing", -1e-300, 1), ("train.ema_decay", -1e-300, 1)):
    for v in values.get(path, ()):
      _need(isinstance(v, (int, float)) and v > low and (high is None or v < high),
            "train.replica_values", f"{path!r} has the invalid value {v!r}")
  seeds = values.get("seed", ())
  _need(all(isinstance(x, int) and x >= 0 for x in seeds), "train.replica_values",
        f"seeds must be ints >= 0, got {seeds!r}")


def _need(cond: bool, field: str, message: str) -> None:
  if not cond:
    raise ConfigError(f"config.{field}: {message}")


def validate(c: ml_collections.ConfigDict) -> None:
  """Checks every field; raises :class:`ConfigError` naming the first bad one."""
  _validate_model_and_data(c)
  _validate_optim(c.optim)
  _validate_train(c)


def _validate_model_and_data(c) -> None:
  _need(isinstance(c.seed, int) and c.seed >= 0, "seed", f"must be an int >= 0, got {c.seed!r}")
  from cnnlab.models.registry import model_fields
  models = lookup("model")
  _need(c.model.name in models, "model.name", _unknown("model", c.model.name, models.names()))
  fields = model_fields(models.get(c.model.name).cls)
  for key in c.model:
    _need(key == "name" or key in fields, f"model.{key}",
          f"model {c.model.name!r} has no field {key!r}.{did_you_mean(key, fields)} "
          f"Its fields: {', '.join(fields)}")
  datasets = names_of("data")
  _need(c.data.name in datasets, "data.name", _unknown("data set", c.data.name, datasets))
  augmentations = names_of("augmentation")
  v = c.data.validation_size
  _need(isinstance(v, (int, float)) and v >= 0, "data.validation_size",
        f"must be a count or a fraction >= 0, got {v!r}")
  _need(c.data.validation_from in ("end", "random"), "data.validation_from",
        f"must be 'end' or 'random', got {c.data.validation_from!r}")
  for a in c.data.augment:
    _need(a in augmentations, "data.augment", _unknown("augmentation", a, augmentations))
  _need(c.data.expand in ("", "nielsen_shift"), "data.expand",
        f"must be '' or 'nielsen_shift', got {c.data.expand!r}")
  _need(all(isinstance(x, int) and x > 0 for x in c.data.pad_to), "data.pad_to",
        f"must be positive ints (the padded spatial size), got {c.data.pad_to!r}")
  _need(isinstance(c.data.train_size, int) and c.data.train_size >= 0, "data.train_size",
        f"must be an int >= 0 (0: the whole training set), got {c.data.train_size!r}")
  k = c.data.classes
  _need(all(isinstance(x, int) and x >= 0 for x in k) and len(set(k)) == len(k)
        and len(k) != 1, "data.classes",
        f"must be () or at least two distinct class indices, got {k!r}")


def _validate_optim(o) -> None:
  optimizers, schedules = names_of("optimizer"), names_of("schedule")
  _need(o.name in optimizers, "optim.name", _unknown("optimizer", o.name, optimizers))
  _need(o.schedule in schedules, "optim.schedule", _unknown("schedule", o.schedule, schedules))
  _need(isinstance(o.lr, (int, float)) and o.lr > 0, "optim.lr", f"must be > 0, got {o.lr!r}")
  _need(0 <= o.momentum < 1, "optim.momentum", f"must be in [0, 1), got {o.momentum}")
  for f in ("weight_decay", "clip_norm", "l2", "warmup_steps", "decay_steps"):
    _need(o[f] >= 0, f"optim.{f}", f"must be >= 0, got {o[f]}")
  _need(all(isinstance(b, (int, float)) and 0 < b < 1 for b in o.boundaries),
        "optim.boundaries", f"must be fractions of the run in (0, 1), got {o.boundaries!r}")
  _need(o.l2_form in ("plain", "nielsen"), "optim.l2_form",
        f"must be 'plain' or 'nielsen', got {o.l2_form!r}")


def _validate_train(c) -> None:
  t = c.train
  for f in ("batch_size", "eval_batch_size"):
    _need(isinstance(t[f], int) and t[f] >= 1, f"train.{f}", f"must be an int >= 1, got {t[f]!r}")
  for f in ("num_epochs", "num_steps", "eval_every_steps", "log_every_steps",
            "checkpoint_every_steps", "stop_after_steps", "num_replicas"):
    _need(isinstance(t[f], int) and t[f] >= 0, f"train.{f}", f"must be an int >= 0, got {t[f]!r}")
  _need(t.num_epochs > 0 or t.num_steps > 0, "train.num_epochs",
        "set train.num_epochs or train.num_steps to a positive number (both are 0)")
  _need(0 <= t.label_smoothing < 1, "train.label_smoothing",
        f"must be in [0, 1), got {t.label_smoothing}")
  _need(t.dtype in ("float32", "bfloat16"), "train.dtype",
        f"must be 'float32' or 'bfloat16', got {t.dtype!r}")
  losses = names_of("loss")
  _need(t.loss == "auto" or t.loss in losses, "train.loss",
        _unknown("loss", t.loss, ["auto"] + losses))
  _need(0 <= t.ema_decay < 1, "train.ema_decay",
        f"must be in [0, 1) (0 turns EMA off), got {t.ema_decay}")
  _need(isinstance(t.keep_checkpoints, int) and t.keep_checkpoints >= 1,
        "train.keep_checkpoints", f"must be an int >= 1, got {t.keep_checkpoints!r}")
  _need(t.loop in LOOP_FORMS, "train.loop",
        _unknown("loop form", t.loop, list(LOOP_FORMS)))
  _need(isinstance(t.scan_chunk_steps, int) and t.scan_chunk_steps >= 0,
        "train.scan_chunk_steps", f"must be an int >= 0, got {t.scan_chunk_steps!r}")
  _need(isinstance(t.pad_train_to, int) and t.pad_train_to >= 0, "train.pad_train_to",
        f"must be an int >= 0 (0: no padding), got {t.pad_train_to!r}")
  for f in ("data_parallel", "eval_train_set"):
    _need(isinstance(t[f], bool), f"train.{f}", f"must be True or False, got {t[f]!r}")
  _need(isinstance(t.cpu_devices, int) and t.cpu_devices >= 0, "train.cpu_devices",
        f"must be an int >= 0 (0: one per core), got {t.cpu_devices!r}")
  _need(t.cpu_devices <= 1 or t.batch_size % t.cpu_devices == 0, "train.cpu_devices",
        f"{t.cpu_devices} host devices cannot split train.batch_size={t.batch_size} into equal "
        f"shares: set train.cpu_devices to a divisor of the batch, to 0 (one per core, fewer "
        f"where the batch does not divide) or to 1")
  _need(t.cpu_devices == 1 or t.data_parallel, "train.cpu_devices",
        f"{t.cpu_devices} host devices need train.data_parallel=True (else one device "
        f"computes and the others idle); for one device set train.cpu_devices=1")
  if t.target_metric:
    split, _, name = t.target_metric.partition(".")
    splits = ["test", "train_epoch"] + (["validation"] if c.data.validation_size else []) + \
        (["train_set"] if t.eval_train_set else [])
    _need(split in splits and name, "train.target_metric",
          f"must be '<split>.<metric>' with split one of {', '.join(splits)} (train_epoch: "
          f"the mean over an epoch's batches; validation "
          f"needs data.validation_size, train_set train.eval_train_set), got "
          f"{t.target_metric!r}")
    _need(isinstance(t.target_value, (int, float)), "train.target_value",
          f"must be a number, got {t.target_value!r}")
  _check_replica_values(t)
  _need(isinstance(c.deterministic, bool), "deterministic",
        f"must be True or False, got {c.deterministic!r}")
