"""Generated data sets: MNIST-1D, scikit-learn's digits, and deterministic synthetic sets.

Each is made offline and deterministically from its options; all but ``synthetic``
(cheaper to make than to read) are cached as checksummed arrays after the first use.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, Optional, Tuple

import numpy as np

from cnnlab.data.catalog import (DataNotFoundError, DatasetInfo, SourceLog, register_dataset,
                                 try_cache, write_cache)
from cnnlab.data.sources import Arrays, read_cache_file

# ----------------------------------------------------------------------------
# Generated data sets.


def _generated(name: str, make, cache: bool = True):
  """A loader that generates, caches the arrays once, and reads the cache afterwards."""
  def load(path: Optional[str], options: Dict[str, Any]):
    log = SourceLog(name)
    if path:
      arrays, why = read_cache_file(path)
      if arrays is not None:
        return arrays, {"kind": "path", "path": path}
      log.miss("path", path, why)
    if not cache:
      return make(options)
    cached = try_cache(log, name, options)
    if cached is not None:
      return cached
    arrays, source = make(options)
    write_cache(name, options, arrays, source)
    return arrays, source
  return load


def make_mnist1d(options: Dict[str, Any]) -> Tuple[Arrays, Dict[str, Any]]:
  """MNIST-1D via the ``mnist1d`` package: ``make_dataset(get_dataset_args())`` + options.

  The defaults (4000 train, 1000 test, seed 42) reproduce the published data set
  bit for bit; ``num_train``/``num_test`` change only the sample count and split.
  """
  try:
    from mnist1d.data import get_dataset_args, make_dataset
  except ImportError as e:
    raise DataNotFoundError(
        f"data set 'mnist1d' needs the mnist1d package and its undeclared needs: "
        f"pip install mnist1d matplotlib requests ({e})") from None
  num_train, num_test = int(options["num_train"]), int(options["num_test"])
  total = num_train + num_test
  if total % 10:
    raise ValueError(f"mnist1d generates equal counts of 10 classes: num_train + num_test must "
                     f"be a multiple of 10, got {total}")
  args = get_dataset_args()
  args.num_samples = total
  # +0.5 so that int(total * train_split) is exactly num_train despite rounding.
  args.train_split = (num_train + 0.5) / total
  args.seed = int(options["seed"])
  args.shuffle_seq = bool(options["shuffle_seq"])
  state = np.random.get_state()  # make_dataset seeds NumPy's global generator
  try:
    d = make_dataset(args)
  finally:
    np.random.set_state(state)
  arrays = {"x_train": d["x"].astype(np.float32)[..., None], "y_train": d["y"].astype(np.int32),
            "x_test": d["x_test"].astype(np.float32)[..., None],
            "y_test": d["y_test"].astype(np.int32)}
  return arrays, {"kind": "generated", "path": "mnist1d.data.make_dataset"}


register_dataset(
    DatasetInfo("mnist1d", 10, (40, 1), (0.0,), (1.0,), tuple(str(i) for i in range(10)),
                "MNIST-1D (Greydanus & Kobak 2020), generated offline; already standardised",
                "pip install mnist1d matplotlib requests"),
    _generated("mnist1d", make_mnist1d),
    defaults={"num_train": 4000, "num_test": 1000, "seed": 42, "shuffle_seq": False})


def make_digits(options: Dict[str, Any]) -> Tuple[Arrays, Dict[str, Any]]:
  """scikit-learn's bundled 8×8 digits (1797 images, 0..16 scaled to 0..255)."""
  try:
    from sklearn.datasets import load_digits
  except ImportError:
    raise DataNotFoundError("data set 'digits' needs scikit-learn: pip install scikit-learn "
                            "(or pip install 'cnnlab[dev]')") from None
  d = load_digits()
  images = np.round(d.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
  labels = d.target.astype(np.int32)
  n_test = int(options["num_test"])
  return ({"x_train": images[:-n_test], "y_train": labels[:-n_test],
           "x_test": images[-n_test:], "y_test": labels[-n_test:]},
          {"kind": "generated", "path": "sklearn.datasets.load_digits"})


register_dataset(
    DatasetInfo("digits", 10, (8, 8, 1), (0.3054,), (0.3753,), tuple(str(i) for i in range(10)),
                "UCI optical digits as bundled with scikit-learn: 8x8, 1437/360",
                "pip install scikit-learn"),
    _generated("digits", make_digits), defaults={"num_test": 360})


def _draw_splits(draw, options: Dict[str, Any], path: str) -> Tuple[Arrays, Dict[str, Any]]:
  """Train then test examples from one generator ``draw(n) -> (x, y)`` (in that order,
  so each split is fixed by the seed), with the provenance of a generated set."""
  x_train, y_train = draw(int(options["num_train"]))
  x_test, y_test = draw(int(options["num_test"]))
  return ({"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test},
          {"kind": "generated", "path": path})


def make_synthetic(options: Dict[str, Any]) -> Tuple[Arrays, Dict[str, Any]]:
  """Deterministic, learnable images: a smooth random template per class plus noise."""
  shape = tuple(int(s) for s in options["shape"])
  k, seed = int(options["num_classes"]), int(options["seed"])
  rng = np.random.default_rng(seed)
  templates = rng.uniform(0, 1, (k,) + shape)
  for axis in range(len(shape) - 1):  # smooth along spatial axes so convs have structure
    templates = (templates + np.roll(templates, 1, axis + 1) + np.roll(templates, -1, axis + 1)) / 3

  def draw(n):
    labels = rng.integers(0, k, n).astype(np.int32)
    x = templates[labels] + rng.normal(0, float(options["noise"]), (n,) + shape)
    return np.clip(np.round(x * 255), 0, 255).astype(np.uint8), labels

  return _draw_splits(draw, options, f"synthetic(seed={seed})")


def _synthetic_info(info: DatasetInfo, options: Dict[str, Any]) -> DatasetInfo:
  import dataclasses
  shape = tuple(int(s) for s in options["shape"])
  k = int(options["num_classes"])
  return dataclasses.replace(info, shape=shape, num_classes=k,
                             mean=(0.5,) * shape[-1], std=(0.3,) * shape[-1],
                             class_names=tuple(f"class_{i}" for i in range(k)))


register_dataset(
    DatasetInfo("synthetic", 10, (28, 28, 1), (0.5,), (0.3,),
                tuple(f"class_{i}" for i in range(10)),
                "Deterministic class templates + noise, any shape; for tests and benchmarks"),
    _generated("synthetic", make_synthetic, cache=False),  # cheaper to make than to read
    defaults={"shape": (28, 28, 1), "num_classes": 10, "num_train": 1000, "num_test": 200,
              "seed": 0, "noise": 0.3},
    info_for=_synthetic_info)


# ----------------------------------------------------------------------------
# Synthetic multi-label and regression sets (offline, deterministic).


def _shape_templates(rng, k: int, size: int) -> np.ndarray:
  """``k`` distinct bright patterns of ``size×size``: smoothed random masks, max 1."""
  t = (rng.uniform(0, 1, (k, size, size)) > 0.45).astype(np.float64)
  t = (t + np.roll(t, 1, 1) + np.roll(t, 1, 2)) / 3
  return t / t.max(axis=(1, 2), keepdims=True)


def make_synthetic_multilabel(options: Dict[str, Any]) -> Tuple[Arrays, Dict[str, Any]]:
  """Images showing any subset of ``num_labels`` shapes at random places; a label per shape.

  Each shape is present with probability 1/2, independently; where shapes overlap the
  brighter pixel wins. Targets are ``(N, num_labels)`` in {0, 1}.
  """
  h, w, c = (int(s) for s in options["shape"])
  k, size, seed = int(options["num_labels"]), int(options["patch"]), int(options["seed"])
  if size > min(h, w):
    raise ValueError(f"synthetic_multilabel: patch {size} exceeds the image {h}×{w}")
  rng = np.random.default_rng(seed)
  shapes = _shape_templates(rng, k, size)

  def draw(n):
    present = rng.random((n, k)) < 0.5
    x = np.zeros((n, h, w), np.float64)
    for i, j in zip(*np.nonzero(present)):
      r, q = rng.integers(0, h - size + 1), rng.integers(0, w - size + 1)
      x[i, r:r + size, q:q + size] = np.maximum(x[i, r:r + size, q:q + size], shapes[j])
    x = x[..., None] + rng.normal(0, float(options["noise"]), (n, h, w, c))
    return np.clip(np.round(x * 255), 0, 255).astype(np.uint8), present.astype(np.uint8)

  return _draw_splits(draw, options, f"synthetic_multilabel(seed={seed})")


def make_synthetic_regression(options: Dict[str, Any]) -> Tuple[Arrays, Dict[str, Any]]:
  """One bright square per image; targets its centre row, centre column and side, in [0, 1].

  Side ``s`` is uniform in [2, min(H, W)/2]; targets are ``(row + s/2)/H``,
  ``(col + s/2)/W`` and ``s/min(H, W)`` as float32 ``(N, 3)``.
  """
  h, w, c = (int(s) for s in options["shape"])
  seed = int(options["seed"])
  rng = np.random.default_rng(seed)
  m = min(h, w)

  def draw(n):
    side = rng.integers(2, m // 2 + 1, n)
    row = np.array([rng.integers(0, h - s + 1) for s in side])
    col = np.array([rng.integers(0, w - s + 1) for s in side])
    x = np.zeros((n, h, w, c), np.float64)
    for i in range(n):
      x[i, row[i]:row[i] + side[i], col[i]:col[i] + side[i]] = 1.0
    x += rng.normal(0, float(options["noise"]), x.shape)
    y = np.stack([(row + side / 2) / h, (col + side / 2) / w, side / m], 1).astype(np.float32)
    return np.clip(np.round(x * 255), 0, 255).astype(np.uint8), y

  return _draw_splits(draw, options, f"synthetic_regression(seed={seed})")


register_dataset(
    DatasetInfo("synthetic_multilabel", 4, (16, 16, 1), (0.2,), (0.3,),
                tuple(f"shape_{i}" for i in range(4)),
                "Any subset of num_labels shapes at random places, one binary label per shape "
                "(multi-label; offline, deterministic)", "generated: nothing to download",
                target="multilabel"),
    _generated("synthetic_multilabel", make_synthetic_multilabel, cache=False),
    defaults={"shape": (16, 16, 1), "num_labels": 4, "patch": 5, "num_train": 2000,
              "num_test": 500, "noise": 0.1, "seed": 0},
    info_for=lambda info, o: dataclasses.replace(
        info, shape=tuple(int(s) for s in o["shape"]), num_classes=int(o["num_labels"]),
        class_names=tuple(f"shape_{i}" for i in range(int(o["num_labels"])))))

register_dataset(
    DatasetInfo("synthetic_regression", 3, (16, 16, 1), (0.1,), (0.3,),
                ("centre_row", "centre_col", "side"),
                "One bright square per image; regress its centre and side in [0, 1] "
                "(offline, deterministic)", "generated: nothing to download",
                target="regression"),
    _generated("synthetic_regression", make_synthetic_regression, cache=False),
    defaults={"shape": (16, 16, 1), "num_train": 2000, "num_test": 500, "noise": 0.1, "seed": 0},
    info_for=lambda info, o: dataclasses.replace(info, shape=tuple(int(s) for s in o["shape"])))
