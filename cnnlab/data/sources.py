"""The catalog's entries and their loaders (see :mod:`cnnlab.data.catalog` for the order)."""

from __future__ import annotations

import dataclasses
import glob
import os
from typing import Any, Dict, Optional, Tuple

import numpy as np

from cnnlab.data import formats
from cnnlab.data.catalog import (DEBIAN_FASHION_MNIST, DatasetInfo,
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
  except Exception as e:  # noqa: BLE001 -- TFDS raises many types for "not prepared"/offline
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
