"""The run configuration: defaults, and validation before anything is compiled.

A config is an ``ml_collections.ConfigDict`` with sections ``model`` (``name`` plus
any model field), ``data`` (``name``, ``validation_size``, ``options``,
``augment``), ``optim`` (see :mod:`cnnlab.train.optim`) and ``train``. Every
value is checked by :func:`validate`, whose errors name the field and the valid
values.
"""

from __future__ import annotations

import dataclasses
from typing import Dict, Optional

import ml_collections

from cnnlab.data import DATASETS
from cnnlab.errors import ConfigError  # noqa: F401  (re-exported: cnnlab.train.config.ConfigError)
from cnnlab.data.augment import AUGMENTATIONS
from cnnlab.models import MODELS
from cnnlab.models.registry import model_fields
from cnnlab.registry import did_you_mean
from cnnlab.train.losses import LOSSES
from cnnlab.train.optim import OPTIMIZERS, SCHEDULES
from cnnlab.trees import flatten


LOOP_FORMS = ("auto", "step", "scan")


def invalid_config_errors() -> tuple:
  """The lab's exceptions for a config that cannot run (bad value, unknown name,
  impossible layer combination, missing or corrupt data): reported as a message,
  not a traceback, by ``cnnlab.main`` and recorded as ``invalid`` by sweeps."""
  from cnnlab.errors import INVALID_CONFIG
  return INVALID_CONFIG


def config_arg(config_file: str, arg, valid, default: str, what: str = "model") -> str:
  """The one ``what`` (a model, a budget) a config file was asked for; unknown names fail
  with the valid ones. (:func:`config_args` parses several typed ``key=value`` ones.)"""
  arg = arg or default
  if arg not in valid:
    raise ConfigError(f"{config_file}: {_unknown(what, arg, list(valid))}")
  return arg


def _typed(file: str, key: str, text: str, default):
  """``text`` as the type of ``default`` (or one of its choices, for a tuple)."""
  if isinstance(default, tuple):
    if text not in default:
      raise ConfigError(f"{file}: {_unknown(key, text, list(default))}")
    return text
  try:
    if isinstance(default, bool):
      if text.lower() not in ("true", "false", "1", "0"):
        raise ValueError(text)
      return text.lower() in ("true", "1")
    return type(default)(text)
  except ValueError:
    raise ConfigError(f"{file}: argument {key}={text!r} is not a {type(default).__name__} "
                      f"(its default is {default!r})") from None


def config_args(arg: Optional[str], file: str, **spec) -> ml_collections.ConfigDict:
  """The typed ``key=value`` arguments of a config file (as big_vision's ``parse_arg``)::

      python -m cnnlab.main --config=configs/cifar10.py:model=resnet56
      python -m cnnlab.sweep --config=experiments/he2016_depth/sweep.py:budget=cpu,seeds=2

  ``spec`` gives each key's default, whose type a value is parsed to (bool, int, float,
  str), or a tuple of choices (the first is the default). A bare value sets the first
  key (``configs/cifar10.py:resnet56``). An unknown key fails naming the valid ones and
  the closest, a value of the wrong type or outside the choices names the key.
  """
  out = {k: (v[0] if isinstance(v, tuple) else v) for k, v in spec.items()}
  for i, item in enumerate(p for p in (arg or "").split(",") if p.strip()):
    key, eq, text = item.partition("=")
    key, text = key.strip(), text.strip()
    if not eq:
      if i:  # only the first argument may leave out its key
        raise ConfigError(f"{file}: argument {item!r} needs a key: key=value (keys: "
                          f"{', '.join(spec)})")
      key, text = next(iter(spec)), item.strip()
    if key not in spec:
      raise ConfigError(f"{file}: unknown argument {key!r}.{did_you_mean(key, list(spec))} "
                        f"Valid: {', '.join(f'{k}={out[k]!r}' for k in spec)}")
    out[key] = _typed(file, key, text, spec[key])
  return ml_collections.ConfigDict(out)


def model_config(name: str, **overrides) -> ml_collections.ConfigDict:
  """``{"name": name, <every field of the model with its default>}``.

  Listing every field makes each one overridable from the command line
  (``--config.model.pool=avg``, ``--config.model.pool='lp_sum(p=4)'``). ``num_classes``
  defaults to None, the data set's (an int-typed reference, so that
  ``--config.model.num_classes=10`` works). ``dtype`` is left out: ``train.dtype``
  chooses the compute precision.
  """
  spec = MODELS.get(name)
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


def _unknown(what: str, value, valid) -> str:
  """``unknown model 'x'. Did you mean 'y'? Valid: a, b`` (the lab's one form)."""
  return f"unknown {what} {value!r}.{did_you_mean(value, valid)} Valid: {', '.join(valid)}"


PACKABLE = ("seed", "optim.lr", "optim.weight_decay", "train.label_smoothing",
            "train.ema_decay")


def replica_values(t) -> Dict[str, tuple]:
  """``train.replica_values`` as ``{"optim.lr": (...), "seed": (...)}``."""
  return {k: tuple(v) if isinstance(v, (tuple, list)) else v
          for k, v in flatten(t.replica_values).items()}


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
  _need(c.model.name in MODELS, "model.name",
        _unknown("model", c.model.name, MODELS.names()))
  fields = model_fields(MODELS.get(c.model.name).cls)
  for key in c.model:
    _need(key == "name" or key in fields, f"model.{key}",
          f"model {c.model.name!r} has no field {key!r}.{did_you_mean(key, fields)} "
          f"Its fields: {', '.join(fields)}")
  _need(c.data.name in DATASETS, "data.name",
        _unknown("data set", c.data.name, DATASETS.names()))
  v = c.data.validation_size
  _need(isinstance(v, (int, float)) and v >= 0, "data.validation_size",
        f"must be a count or a fraction >= 0, got {v!r}")
  _need(c.data.validation_from in ("end", "random"), "data.validation_from",
        f"must be 'end' or 'random', got {c.data.validation_from!r}")
  for a in c.data.augment:
    _need(a in AUGMENTATIONS, "data.augment",
          _unknown("augmentation", a, list(AUGMENTATIONS)))
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
  _need(o.name in OPTIMIZERS, "optim.name",
        _unknown("optimizer", o.name, list(OPTIMIZERS)))
  _need(o.schedule in SCHEDULES, "optim.schedule",
        _unknown("schedule", o.schedule, list(SCHEDULES)))
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
  _need(t.loss == "auto" or t.loss in LOSSES, "train.loss",
        _unknown("loss", t.loss, ["auto"] + LOSSES.names()))
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
