"""The catalog's entries and their loaders (see :mod:`cnnlab.data.catalog` for the order)."""

from __future__ import annotations

import dataclasses
import glob
import os
from typing import Any, Dict, Optional, Tuple

import numpy as np

from cnnlab.data import formats
from cnnlab.data.catalog import (DEBIAN_FASHION_MNIST, DataNotFoundError, DatasetInfo,
                                 SourceLog, candidate_dirs, register_dataset, try_cache,
                                 write_cache)

Arrays = Dict[str, np.ndarray]

# ----------------------------------------------------------------------------
# File formats in a directory.


def _find(directory: str, prefix: str, marker: str) -> Optional[str]:
  """A file like ``train-images-idx3-ubyte[.gz]`` (also the ``train-images.idx3`` variant)."""
  hits = sorted(f for f in glob.glob(os.path.join(directory, prefix + "*"))
                if marker in os.path.basename(f) and not f.endswith(".json"))
  return hits[0] if hits else None


def read_idx_dir(directory: str) -> Tuple[Optional[Arrays], str]:
  """The four MNIST-style IDX files of a directory, or (None, why not)."""
  if not os.path.isdir(directory):
    return None, "no such directory"
  names = {"x_train": ("train-images", "idx3"), "y_train": ("train-labels", "idx1"),
           "x_test": ("t10k-images", "idx3"), "y_test": ("t10k-labels", "idx1")}
  files = {k: _find(directory, *v) for k, v in names.items()}
  missing = [f"{names[k][0]}-{names[k][1]}-ubyte[.gz]" for k, f in files.items() if f is None]
  if missing:
    return None, f"missing {', '.join(missing)}"
  arrays = {k: formats.read_idx(f) for k, f in files.items()}
  for split in ("train", "test"):
    x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
    if len(x) != len(y):
      raise formats.DataFormatError(
          f"{files['y_' + split]}: {len(y)} labels for {len(x)} images in "
          f"{files['x_' + split]}")
    arrays[f"x_{split}"] = x.astype(np.uint8)[..., None]
    arrays[f"y_{split}"] = y.astype(np.int32)
  return arrays, ""


def read_cifar_dir(directory: str, fine: bool) -> Tuple[Optional[Arrays], str]:
  """CIFAR-10 (data_batch_*.bin, test_batch.bin) or CIFAR-100 (train.bin, test.bin)."""
  if not os.path.isdir(directory):
    return None, "no such directory"
  if fine:
    train_files = [os.path.join(directory, "train.bin")]
    test_files = [os.path.join(directory, "test.bin")]
    kw = {"label_bytes": 2, "label_index": 1}
  else:
    train_files = sorted(glob.glob(os.path.join(directory, "data_batch_*.bin")))
    test_files = [os.path.join(directory, "test_batch.bin")]
    kw = {}
  if not train_files or not all(os.path.exists(f) for f in train_files + test_files):
    return None, "missing the CIFAR binary-version files (*.bin)"
  tr = [formats.read_cifar_bin(f, **kw) for f in train_files]
  te = [formats.read_cifar_bin(f, **kw) for f in test_files]
  return {"x_train": np.concatenate([t[0] for t in tr]),
          "y_train": np.concatenate([t[1] for t in tr]),
          "x_test": np.concatenate([t[0] for t in te]),
          "y_test": np.concatenate([t[1] for t in te])}, ""


def read_cache_file(path: str) -> Tuple[Optional[Arrays], str]:
  if os.path.isfile(path) and path.endswith(".npz"):
    return formats.load_cache(path)[0], ""
  return None, "not a cnnlab cache file"


# ----------------------------------------------------------------------------
# TensorFlow Datasets.


def tfds_download_allowed() -> bool:
  return os.environ.get("CNNLAB_TFDS_DOWNLOAD", "") not in ("", "0", "false", "False")


def read_tfds(tfds_name: str, download: bool = False, tfds_data_dir: Optional[str] = None,
              splits: Tuple[str, str] = ("train", "test"),
              image_fn=np.asarray) -> Tuple[Optional[Arrays], str]:
  """Reads train and test through ``tfds.data_source`` (ArrayRecord, no TensorFlow needed).

  ``splits`` names TFDS's train and test splits; ``image_fn`` maps each decoded
  image to a fixed shape (e.g. :func:`resize_center_crop` for variable-size photos).
  """
  try:
    import tensorflow_datasets as tfds  # optional: pip install 'cnnlab[tfds]'
  except ImportError:
    return None, "tensorflow-datasets is not installed (pip install 'cnnlab[tfds]')"
  arrays = {}
  try:
    for split, tfds_split in zip(("train", "test"), splits):
      source = tfds.data_source(tfds_name, split=tfds_split, data_dir=tfds_data_dir,
                                download=download)
      # One by one: __getitems__ of TFDS 4.9.10's ArrayRecord source is broken.
      examples = [source[i] for i in range(len(source))]
      arrays[f"x_{split}"] = np.stack([image_fn(np.asarray(e["image"]))
                                       for e in examples]).astype(np.uint8)
      arrays[f"y_{split}"] = np.asarray([e["label"] for e in examples], np.int32)
  except Exception as e:  # TFDS raises many types for "not prepared" / "no network"
    first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return None, f"{type(e).__name__}: {first[:200]}"
  return arrays, ""


# ----------------------------------------------------------------------------
# File-backed data sets.


def _file_loader(name: str, read_dir, debian_dir: Optional[str] = None,
                 tfds_name: Optional[str] = None, how_to_get: str = ""):
  def load(path: Optional[str], options: Dict[str, Any]):
    log = SourceLog(name)
    for kind, where in candidate_dirs(name, path):
      arrays, why = (read_cache_file(where) if where.endswith(".npz") else read_dir(where))
      if arrays is not None:
        return arrays, {"kind": kind, "path": where}
      log.miss(kind, where, why)
    cached = try_cache(log, name, options)
    if cached is not None:
      return cached
    # Sources whose arrays are converted once and read from the cache afterwards.
    converting = []
    if debian_dir:
      converting.append(("debian", debian_dir, lambda: read_dir(debian_dir)))
    if tfds_name:
      download = bool(options.get("download")) or tfds_download_allowed()
      converting.append(("tfds", tfds_name, lambda: read_tfds(tfds_name, download=download)))
    for kind, where, read in converting:
      arrays, why = read()
      if arrays is not None:
        source = {"kind": kind, "path": where}
        write_cache(name, options, arrays, source)
        return arrays, source
      log.miss(kind, where, why)
    raise log.fail(how_to_get)
  return load


def _how_to_get(name: str, files: str, extra: str = "") -> str:
  return (f"{extra}put {files} in $CNNLAB_DATA_DIR/{name}/ (or pass path=...); or, when "
          f"online, pip install 'cnnlab[tfds]' and run with CNNLAB_TFDS_DOWNLOAD=1")


IDX_FILES = "the four IDX files (train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], " \
            "t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz])"

FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                   "Sneaker", "Bag", "Ankle boot")

register_dataset(
    DatasetInfo("fashion_mnist", 10, (28, 28, 1), (0.2860,), (0.3530,), FASHION_CLASSES,
                "Zalando Fashion-MNIST (Xiao, Rasul & Vollgraf 2017): 60k/10k 28x28 grey",
                _how_to_get("fashion_mnist", IDX_FILES,
                            "apt-get install dataset-fashion-mnist (Debian/Ubuntu); or "),
                tfds_name="fashion_mnist"),
    _file_loader("fashion_mnist", read_idx_dir, DEBIAN_FASHION_MNIST, "fashion_mnist",
                 _how_to_get("fashion_mnist", IDX_FILES,
                             "apt-get install dataset-fashion-mnist (Debian/Ubuntu); or ")),
    defaults={"download": False})

register_dataset(
    DatasetInfo("mnist", 10, (28, 28, 1), (0.1307,), (0.3081,), tuple(str(i) for i in range(10)),
                "MNIST handwritten digits (LeCun et al. 1998): 60k/10k 28x28 grey",
                _how_to_get("mnist", IDX_FILES), tfds_name="mnist"),
    _file_loader("mnist", read_idx_dir, None, "mnist", _how_to_get("mnist", IDX_FILES)),
    defaults={"download": False})

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                   "ship", "truck")
register_dataset(
    DatasetInfo("cifar10", 10, (32, 32, 3), (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616),
                CIFAR10_CLASSES, "CIFAR-10 (Krizhevsky 2009): 50k/10k 32x32 colour",
                _how_to_get("cifar10", "the binary version (data_batch_1..5.bin, test_batch.bin)"),
                tfds_name="cifar10"),
    _file_loader("cifar10", lambda d: read_cifar_dir(d, fine=False), None, "cifar10",
                 _how_to_get("cifar10", "the binary version (data_batch_1..5.bin, "
                                        "test_batch.bin)")),
    defaults={"download": False})

# The 100 fine labels, in label order (alphabetical, as in CIFAR-100's meta file).
CIFAR100_CLASSES = tuple("""
apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy bridge bus
butterfly camel can castle caterpillar cattle chair chimpanzee clock cloud cockroach
couch crab crocodile cup dinosaur dolphin elephant flatfish forest fox girl hamster
house kangaroo keyboard lamp lawn_mower leopard lion lizard lobster man maple_tree
motorcycle mountain mouse mushroom oak_tree orange orchid otter palm_tree pear
pickup_truck pine_tree plain plate poppy porcupine possum rabbit raccoon ray road
rocket rose sea seal shark shrew skunk skyscraper snail snake spider squirrel streetcar
sunflower sweet_pepper table tank telephone television tiger tractor train trout tulip
turtle wardrobe whale willow_tree wolf woman worm
""".split())

register_dataset(
    DatasetInfo("cifar100", 100, (32, 32, 3), (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762),
                CIFAR100_CLASSES, "CIFAR-100 (Krizhevsky 2009), fine labels: 50k/10k 32x32 colour",
                _how_to_get("cifar100", "the binary version (train.bin, test.bin)"),
                tfds_name="cifar100"),
    _file_loader("cifar100", lambda d: read_cifar_dir(d, fine=True), None, "cifar100",
                 _how_to_get("cifar100", "the binary version (train.bin, test.bin)")),
    defaults={"download": False})

register_dataset(
    DatasetInfo("svhn_cropped", 10, (32, 32, 3), (0.4377, 0.4438, 0.4728),
                (0.1980, 0.2010, 0.1970), tuple(str(i) for i in range(10)),
                "Street View House Numbers, cropped digits (Netzer et al. 2011): 73k/26k",
                "pip install 'cnnlab[tfds]' and run with CNNLAB_TFDS_DOWNLOAD=1 when online, "
                "or put a cnnlab cache .npz (x_train, y_train, x_test, y_test) in "
                "$CNNLAB_DATA_DIR/svhn_cropped/ and pass its path", tfds_name="svhn_cropped"),
    _file_loader("svhn_cropped", lambda d: (None, "SVHN is read from TFDS or a cache .npz only"),
                 None, "svhn_cropped", "pip install 'cnnlab[tfds]' and run with "
                 "CNNLAB_TFDS_DOWNLOAD=1 when online, or pass path= to a cnnlab cache .npz"),
    defaults={"download": False})


def resize_center_crop(image: np.ndarray, size: int, crop_fraction: float = 0.875) -> np.ndarray:
  """The standard ImageNet evaluation view: shorter side to ``size/crop_fraction``, centre crop.

  Bilinear (PIL). Grey images become 3 identical channels.
  """
  from PIL import Image  # matplotlib's dependency, so always present
  if image.ndim == 3 and image.shape[-1] == 1:
    image = image[..., 0]
  pil = Image.fromarray(np.asarray(image, np.uint8)).convert("RGB")
  short = int(round(size / crop_fraction))
  w, h = pil.size
  scale = short / min(w, h)
  pil = pil.resize((max(size, round(w * scale)), max(size, round(h * scale))), Image.BILINEAR)
  w, h = pil.size
  left, top = (w - size) // 2, (h - size) // 2
  return np.asarray(pil.crop((left, top, left + size, top + size)), np.uint8)


IMAGENETTE_CLASSES = ("tench", "English springer", "cassette player", "chain saw", "church",
                      "French horn", "garbage truck", "gas pump", "golf ball", "parachute")
_IMAGENETTE_HOW = ("pip install 'cnnlab[tfds]' and run once with CNNLAB_TFDS_DOWNLOAD=1 when "
                   "online (TFDS imagenette/320px-v2, 0.3 GB); the resized arrays are cached")


def _load_imagenette(path: Optional[str], options: Dict[str, Any]):
  log = SourceLog("imagenette")
  if path:
    arrays, why = read_cache_file(path)
    if arrays is not None:
      return arrays, {"kind": "path", "path": path}
    log.miss("path", path, why)
  cached = try_cache(log, "imagenette", options)
  if cached is not None:
    return cached
  size, tfds_name = int(options["size"]), str(options["tfds_name"])
  download = bool(options.get("download")) or tfds_download_allowed()
  arrays, why = read_tfds(tfds_name, download=download, splits=("train", "validation"),
                          image_fn=lambda im: resize_center_crop(im, size))
  if arrays is None:
    log.miss("tfds", tfds_name, why)
    raise log.fail(_IMAGENETTE_HOW)
  source = {"kind": "tfds", "path": tfds_name}
  write_cache("imagenette", options, arrays, source)
  return arrays, source


register_dataset(
    DatasetInfo("imagenette", 10, (224, 224, 3), (0.485, 0.456, 0.406), (0.229, 0.224, 0.225),
                IMAGENETTE_CLASSES, "Imagenette (Howard 2019): 10 easy ImageNet classes, "
                "9,469 train / 3,925 validation photos, resized and centre-cropped to size×size "
                "(option size, default 224); the ImageNet-scale models' offline-cacheable "
                "stand-in for ImageNet", _IMAGENETTE_HOW, tfds_name="imagenette/320px-v2"),
    _load_imagenette, defaults={"size": 224, "tfds_name": "imagenette/320px-v2",
                                "download": False},
    info_for=lambda info, o: dataclasses.replace(info, shape=(int(o["size"]),) * 2 + (3,)))


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
    DatasetInfo("synthetic", 10, (28, 28, 1), (0.5,), (0.3,), tuple(f"class_{i}" for i in range(10)),
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
