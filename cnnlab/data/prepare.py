"""A loaded data set shaped for one run: class subset, reduced training set, expansion, padding.

    ds = load_dataset("fashion_mnist", validation_size=10_000)
    ds = prepare(ds, classes=(3, 8), train_size=2000, expand="nielsen_shift")
    shape = input_shape(ds.info, pad_to=(32, 32))

The steps run in that order (a subset of classes, then the first ``train_size`` of
what is left, then the expansion), each naming the config field it came from when it
cannot apply. Padding happens on the device in the train step; :func:`input_shape`
is the shape the model sees.
"""

from __future__ import annotations

import dataclasses
from typing import Optional, Sequence, Tuple

import numpy as np

from cnnlab.data.catalog import Dataset, DatasetInfo, Split
from cnnlab.errors import ConfigError

EXPANSIONS = ("", "nielsen_shift")


def subset_info(info: DatasetInfo, classes: Sequence[int]) -> DatasetInfo:
  """The metadata of ``info`` restricted to ``classes`` (relabelled 0..n-1 in that order)."""
  if not classes:
    return info
  if info.target != "class":
    raise ConfigError(f"config.data.classes: data set {info.name!r} has {info.target} "
                      f"targets, not classes")
  bad = [k for k in classes if k >= info.num_classes]
  if bad:
    raise ConfigError(f"config.data.classes: {bad} out of range for data set {info.name!r} "
                      f"with {info.num_classes} classes")
  names = tuple(info.class_names[k] for k in classes) if info.class_names else ()
  return dataclasses.replace(info, num_classes=len(classes), class_names=names)


def class_subset(ds: Dataset, classes: Sequence[int]) -> Dataset:
  """``ds`` restricted to ``classes``, relabelled ``0..len(classes)-1`` in that order."""
  info = subset_info(ds.info, classes)
  remap = np.full(ds.info.num_classes, -1, np.int32)
  remap[list(classes)] = np.arange(len(classes))

  def keep(split: Optional[Split]) -> Optional[Split]:
    if split is None:
      return None
    sel = np.isin(split.labels, classes)
    return Split(split.images[sel], remap[split.labels[sel]])
  return dataclasses.replace(ds, info=info, train=keep(ds.train), test=keep(ds.test),
                             validation=keep(ds.validation))


def prepare(ds: Dataset, classes: Sequence[int] = (), train_size: int = 0,
            expand: str = "") -> Dataset:
  """The data set a run trains on (a new :class:`Dataset`; ``ds`` is not modified)."""
  if expand not in EXPANSIONS:
    raise ConfigError(f"config.data.expand: must be one of {EXPANSIONS}, got {expand!r}")
  if classes:
    ds = class_subset(ds, tuple(classes))
  train = ds.train
  if train_size:
    if train_size > len(train):
      raise ConfigError(f"config.data.train_size: {train_size} is more than the "
                        f"{len(train)} training examples of {ds.info.name}")
    train = Split(train.images[:train_size], train.labels[:train_size])
  if expand == "nielsen_shift":  # 5× the training set: originals + 1-pixel shifts
    from cnnlab.data.augment import shift_expand
    images, labels = shift_expand(train.images, train.labels)
    train = Split(np.asarray(images), np.asarray(labels))
  return dataclasses.replace(ds, train=train)


def input_shape(info: DatasetInfo, pad_to: Sequence[int] = ()) -> Tuple[int, ...]:
  """One example's shape as the model sees it: zero-padded to ``pad_to`` when given."""
  return tuple(pad_to) + tuple(info.shape[-1:]) if pad_to else tuple(info.shape)
