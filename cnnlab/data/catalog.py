"""The dataset catalog: names → metadata + a loader that finds the data offline first.

``load_dataset("fashion_mnist")`` tries, in order, and records which one served:

1. an explicit ``path`` (a directory of IDX / CIFAR-binary files, or a cache .npz);
2. ``$CNNLAB_DATA_DIR/<name>/`` (the same formats);
3. cnnlab's own cache (``$CNNLAB_DATA_DIR/cache`` or ``~/.cache/cnnlab``), holding
   arrays converted once from any other source, checksummed;
4. system packages: Debian's ``/usr/share/datasets/fashion-mnist``
   (``apt-get install dataset-fashion-mnist``);
5. tensorflow-datasets when installed: ``tfds.data_source`` (ArrayRecord; works
   without TensorFlow). It reads data already prepared under the TFDS data dir;
   set ``CNNLAB_TFDS_DOWNLOAD=1`` (or ``download=True``) to let TFDS download and
   prepare it when online (preparing needs TensorFlow).

Generated sets (``mnist1d``, ``digits``, ``synthetic``) need no files. If nothing
works, :class:`DataNotFoundError` lists every source tried and how to get the data.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import sys
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

import numpy as np

from cnnlab.data import formats
from cnnlab.errors import ConfigError, DataNotFoundError  # noqa: F401  (DataNotFoundError: re-exported)
from cnnlab.registry import Registry, did_you_mean

DEBIAN_FASHION_MNIST = "/usr/share/datasets/fashion-mnist"


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
  """What a model and a trainer need to know about a data set.

  Attributes:
    name: catalog name (TFDS's name where TFDS has the set).
    num_classes: label count.
    shape: one example, channels-last: (H, W, C) images or (L, C) sequences.
    mean, std: per channel, of the values after scaling uint8 pixels to [0, 1]
      (used by :func:`cnnlab.data.augment.normalize`).
    class_names: one per class.
    description: where it came from (paper, URL).
    how_to_get: what to do when it is not found.
    tfds_name: the TFDS name, if TFDS has it.
  """
  name: str
  num_classes: int
  shape: Tuple[int, ...]
  mean: Tuple[float, ...]
  std: Tuple[float, ...]
  class_names: Tuple[str, ...]
  description: str = ""
  how_to_get: str = ""
  tfds_name: Optional[str] = None
  target: str = "class"  # "class" (int label), "multilabel" or "regression"

  def to_json(self) -> Dict[str, Any]:
    return dataclasses.asdict(self)


@dataclasses.dataclass
class Split:
  """Examples of one split: ``images`` (uint8 pixels or float features) and ``labels``."""
  images: np.ndarray
  labels: np.ndarray

  def __post_init__(self):
    if len(self.images) != len(self.labels):
      raise ValueError(f"split has {len(self.images)} images but {len(self.labels)} labels")

  def __len__(self) -> int:
    return len(self.labels)


@dataclasses.dataclass
class Dataset:
  """A loaded data set: metadata, splits, and the provenance of the arrays."""
  info: DatasetInfo
  train: Split
  test: Split
  validation: Optional[Split] = None
  source: Dict[str, Any] = dataclasses.field(default_factory=dict)

  def summary(self) -> str:
    val = f", validation {len(self.validation)}" if self.validation is not None else ""
    return (f"{self.info.name}: train {len(self.train)}{val}, test {len(self.test)}, "
            f"example shape {self.info.shape}, {self.info.num_classes} classes, "
            f"from {self.source.get('kind')} {self.source.get('path', '')}".rstrip())


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
  """A catalog entry: metadata, a loader and the loader's default options.

  ``loader(path, options) -> (arrays, source)`` returns ``x_train, y_train,
  x_test, y_test`` and a provenance dict, or raises :class:`DataNotFoundError`.
  ``info_for(options)`` adapts the metadata to options (e.g. synthetic shapes).
  """
  info: DatasetInfo
  loader: Callable[[Optional[str], Dict[str, Any]], Tuple[Dict[str, np.ndarray], Dict]]
  defaults: Mapping[str, Any] = dataclasses.field(default_factory=dict)
  info_for: Optional[Callable[[DatasetInfo, Dict[str, Any]], DatasetInfo]] = None

  def describe(self) -> str:
    i = self.info
    return f"{i.num_classes} classes, {i.shape}: {i.description}"


DATASETS: Registry[DatasetSpec] = Registry("dataset")


def register_dataset(info: DatasetInfo, loader, *, defaults: Optional[Mapping] = None,
                     info_for=None, overwrite: bool = False) -> DatasetSpec:
  return DATASETS.add(info.name, DatasetSpec(info, loader, dict(defaults or {}), info_for),
                      overwrite=overwrite)


# ----------------------------------------------------------------------------
# Locations.


def data_dir() -> Optional[str]:
  """``$CNNLAB_DATA_DIR`` (None when unset); a path that is not a directory is an error,
  not a source silently skipped."""
  root = os.environ.get("CNNLAB_DATA_DIR") or None
  if root and os.path.exists(root) and not os.path.isdir(root):
    raise DataNotFoundError(f"CNNLAB_DATA_DIR={root!r} is a file, not a directory: point it "
                            f"at a directory (one folder per data set) or unset it")
  return root


def cache_dir() -> str:
  root = data_dir()
  return os.path.join(root, "cache") if root else os.path.join(
      os.path.expanduser("~"), ".cache", "cnnlab")


def cache_path(name: str, options: Mapping[str, Any]) -> str:
  # `download` only says how to fetch, not what: it is not part of the key.
  keyed = {k: v for k, v in options.items() if k != "download"}
  key = hashlib.sha256(json.dumps(keyed, sort_keys=True, default=str).encode()
                       ).hexdigest()[:12]
  return os.path.join(cache_dir(), name, f"{name}-{key}.npz")


class SourceLog:
  """Collects what each source said, for provenance and for the final error."""

  def __init__(self, name: str):
    self.name = name
    self.tried: List[str] = []

  def miss(self, kind: str, where: str, why: str) -> None:
    self.tried.append(f"{kind} ({where}): {why}")

  def fail(self, how_to_get: str) -> DataNotFoundError:
    lines = "\n".join(f"  - {t}" for t in self.tried)
    return DataNotFoundError(
        f"data set {self.name!r} was not found. Sources tried, in order:\n{lines}\n"
        f"How to get it: {how_to_get}")


# ----------------------------------------------------------------------------
# Loading.


def _validate(info: DatasetInfo, arrays: Mapping[str, np.ndarray], source: Mapping) -> None:
  where = f"{source.get('kind')} {source.get('path', '')}".strip()
  for split in ("train", "test"):
    x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
    if len(x) != len(y):
      raise formats.DataFormatError(
          f"{info.name} from {where}: {split} has {len(x)} examples but {len(y)} labels")
    if tuple(x.shape[1:]) != tuple(info.shape):
      raise formats.DataFormatError(
          f"{info.name} from {where}: {split} examples have shape {tuple(x.shape[1:])}, "
          f"expected {info.shape}")
    if info.target == "class" and len(y) and (y.min() < 0 or y.max() >= info.num_classes):
      raise formats.DataFormatError(
          f"{info.name} from {where}: {split} labels span [{y.min()}, {y.max()}], expected "
          f"[0, {info.num_classes - 1}]")


def _carve_validation(train: Split, size, how: str, seed: int) -> Tuple[Split, Optional[Split]]:
  n = len(train)
  count = int(round(size * n)) if isinstance(size, float) and 0 < size < 1 else int(size)
  if count == 0:
    return train, None
  if not 0 < count < n:
    raise ValueError(f"validation_size {size} leaves no training data (train has {n})")
  if how == "end":  # Nielsen's split: the last examples of the training set
    idx = np.arange(n)
  elif how == "random":
    idx = np.random.default_rng(seed).permutation(n)
  else:
    raise ValueError(f"validation_from must be 'end' or 'random', got {how!r}")
  tr, va = np.sort(idx[:n - count]), np.sort(idx[n - count:])
  return (Split(train.images[tr], train.labels[tr]), Split(train.images[va], train.labels[va]))


def dataset_info(name: str, options: Mapping[str, Any]) -> Tuple[DatasetInfo, Dict[str, Any]]:
  """The metadata of data set ``name`` with ``options`` (and the options with their
  defaults), without loading it; an unknown name or option fails naming the valid ones."""
  spec = DATASETS.get(name)
  unknown = sorted(set(options) - set(spec.defaults))
  if unknown:
    raise ConfigError(f"config.data.options: data set {name!r} has no option {unknown[0]!r}."
                      f"{did_you_mean(unknown[0], list(spec.defaults))} Its options: "
                      f"{', '.join(sorted(spec.defaults)) or 'none'}")
  opts = {**spec.defaults, **options}
  return (spec.info_for(spec.info, opts) if spec.info_for else spec.info), opts


def load_dataset(name: str, *, path: Optional[str] = None, validation_size=0,
                 validation_from: str = "end", validation_seed: int = 0,
                 **options) -> Dataset:
  """Loads a catalog data set into host memory.

  Args:
    name: catalog name (``python -m cnnlab.registry data`` lists them).
    path: an explicit directory or cache file to read first.
    validation_size: examples (int) or fraction (float < 1) carved from the
      training set; 0 for none.
    validation_from: ``"end"`` (the last examples, as Nielsen does) or ``"random"``.
    validation_seed: seed of the random carve-out.
    **options: loader options (``num_train`` for mnist1d, ``shape`` for synthetic, ...).
  """
  spec = DATASETS.get(name)
  data_dir()  # a CNNLAB_DATA_DIR that is not a directory fails here, whatever the source
  info, opts = dataset_info(name, options)
  arrays, source = spec.loader(path, opts)
  _validate(info, arrays, source)
  train = Split(arrays["x_train"], arrays["y_train"])
  test = Split(arrays["x_test"], arrays["y_test"])
  train, validation = _carve_validation(train, validation_size, validation_from, validation_seed)
  source = {**source, "options": opts, "validation_size": validation_size,
            "validation_from": validation_from}
  return Dataset(info, train, test, validation, source)


# ----------------------------------------------------------------------------
# Source helpers used by the loaders in cnnlab.data.sources.


def try_cache(log: SourceLog, name: str, options: Mapping[str, Any]):
  path = cache_path(name, options)
  if not os.path.exists(path):
    log.miss("cache", path, "no cached arrays")
    return None
  arrays, meta = formats.load_cache(path)  # a corrupted cache is an error, not a miss
  return arrays, {"kind": "cache", "path": path, "origin": meta.get("origin")}


def write_cache(name: str, options: Mapping[str, Any], arrays, source: Mapping) -> None:
  path = cache_path(name, options)
  try:
    formats.save_cache(path, arrays, {"origin": dict(source), "options": dict(options)})
  except OSError as e:  # a read-only home is no reason to fail a run, but it is said
    print(f"warning: could not write the data cache {path} ({e.strerror or e}); the data "
          f"will be converted again next time", file=sys.stderr)


def candidate_dirs(name: str, path: Optional[str]) -> List[Tuple[str, str]]:
  out = []
  if path:
    out.append(("path", path))
  if data_dir():
    out.append(("CNNLAB_DATA_DIR", os.path.join(data_dir(), name)))
  return out
