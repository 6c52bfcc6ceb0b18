"""Data layer: readers, sources and their errors, splits, batching, augmentation."""

import gzip
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnlab.data import (DataFormatError, DataNotFoundError, DeviceSplit, Split, augment,
                         formats, load_dataset, pipeline)
from cnnlab.data.catalog import DEBIAN_FASHION_MNIST, DATASETS


@pytest.fixture(autouse=True)
def _private_data_dir(tmp_path, monkeypatch):
  """Each test gets its own CNNLAB_DATA_DIR (and so its own cache)."""
  monkeypatch.setenv("CNNLAB_DATA_DIR", str(tmp_path / "data"))
  monkeypatch.delenv("CNNLAB_TFDS_DOWNLOAD", raising=False)


def _write_idx_set(directory, n_train=12, n_test=5, gz=True, seed=0):
  rng = np.random.default_rng(seed)
  os.makedirs(directory, exist_ok=True)
  ext = ".gz" if gz else ""
  data = {"train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
          "train-labels-idx1-ubyte": rng.integers(0, 10, n_train).astype(np.uint8),
          "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
          "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test).astype(np.uint8)}
  for name, arr in data.items():
    formats.write_idx(os.path.join(directory, name + ext), arr)
  return data


# ---------------------------------------------------------------- IDX reader


@pytest.mark.parametrize("gz", [True, False])
def test_idx_roundtrip_small_files(tmp_path, gz):
  for arr in (np.arange(24, dtype=np.uint8).reshape(2, 3, 4), np.array([1, -2, 3], np.int32),
              np.linspace(0, 1, 6, dtype=np.float32).reshape(3, 2)):
    path = str(tmp_path / ("a.idx" + (".gz" if gz else "")))
    formats.write_idx(path, arr)
    back = formats.read_idx(path)
    np.testing.assert_array_equal(back, arr)
    assert back.dtype == arr.dtype


def test_idx_hand_made_header(tmp_path):
  # magic 0x00000801 (ubyte, 1 dim), count 3, then 3 bytes.
  path = tmp_path / "labels-idx1-ubyte"
  path.write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 8, 9]))
  np.testing.assert_array_equal(formats.read_idx(str(path)), [7, 8, 9])


def test_idx_truncated_and_corrupted_files_name_the_file(tmp_path):
  good = str(tmp_path / "good-idx3-ubyte")
  formats.write_idx(good, np.zeros((4, 5, 5), np.uint8))
  raw = open(good, "rb").read()
  cases = {
      "truncated-idx3-ubyte": raw[:-7],
      "trailing-idx3-ubyte": raw + b"xx",
      "badmagic-idx3-ubyte": b"\x01\x02" + raw[2:],
      "badtype-idx3-ubyte": raw[:2] + b"\x42" + raw[3:],
      "tiny-idx3-ubyte": raw[:3],
      "headercut-idx3-ubyte": raw[:9],
      "truncgz-idx3-ubyte.gz": gzip.compress(raw)[:-20],
      "garbagegz-idx3-ubyte.gz": b"\x1f\x8b" + b"\x00" * 40,
  }
  for name, content in cases.items():
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DataFormatError, match=name.replace(".", r"\.")):
      formats.read_idx(str(path))


def test_cifar_binary_reader(tmp_path):
  rng = np.random.default_rng(0)
  imgs = rng.integers(0, 256, (3, 3, 32, 32), dtype=np.uint8)  # CHW as stored
  labels = np.array([4, 0, 9], np.uint8)
  raw = b"".join(bytes([lab]) + im.tobytes() for lab, im in zip(labels, imgs))
  (tmp_path / "test_batch.bin").write_bytes(raw)
  x, y = formats.read_cifar_bin(str(tmp_path / "test_batch.bin"))
  np.testing.assert_array_equal(y, labels)
  np.testing.assert_array_equal(x, imgs.transpose(0, 2, 3, 1))
  (tmp_path / "bad.bin").write_bytes(raw[:-1])
  with pytest.raises(DataFormatError, match="bad.bin"):
    formats.read_cifar_bin(str(tmp_path / "bad.bin"))


# ---------------------------------------------------------------- real files

_in_ci = bool(os.environ.get("CI"))


@pytest.mark.skipif(not os.path.isdir(DEBIAN_FASHION_MNIST) and not _in_ci,
                    reason="apt-get install dataset-fashion-mnist (CI installs it)")
def test_real_fashion_mnist_from_debian_then_from_cache():
  ds = load_dataset("fashion_mnist", validation_size=10_000)
  assert ds.source["kind"] == "debian"
  assert (len(ds.train), len(ds.validation), len(ds.test)) == (50_000, 10_000, 10_000)
  assert ds.train.images.shape[1:] == (28, 28, 1) and ds.train.images.dtype == np.uint8
  # Published facts: 6000 training and 1000 test images per class.
  both = np.concatenate([ds.train.labels, ds.validation.labels])
  np.testing.assert_array_equal(np.bincount(both), [6000] * 10)
  np.testing.assert_array_equal(np.bincount(ds.test.labels), [1000] * 10)
  x = both_images = np.concatenate([ds.train.images, ds.validation.images]) / 255.0
  assert abs(x.mean() - ds.info.mean[0]) < 1e-3 and abs(x.std() - ds.info.std[0]) < 1e-3
  del both_images
  again = load_dataset("fashion_mnist")
  assert again.source["kind"] == "cache"
  assert again.source["origin"]["kind"] == "debian"
  np.testing.assert_array_equal(again.test.images, ds.test.images)


# ---------------------------------------------------------------- sources


def test_explicit_path_and_data_dir_sources(tmp_path):
  data = _write_idx_set(str(tmp_path / "mine"), gz=False)
  ds = load_dataset("mnist", path=str(tmp_path / "mine"))
  assert ds.source == {**ds.source, "kind": "path", "path": str(tmp_path / "mine")}
  np.testing.assert_array_equal(ds.train.images[..., 0], data["train-images-idx3-ubyte"])
  _write_idx_set(os.path.join(os.environ["CNNLAB_DATA_DIR"], "mnist"), seed=1)
  ds2 = load_dataset("mnist")
  assert ds2.source["kind"] == "CNNLAB_DATA_DIR"


def test_mismatched_counts_and_bad_labels_are_errors(tmp_path):
  d = str(tmp_path / "bad")
  _write_idx_set(d)
  formats.write_idx(os.path.join(d, "t10k-labels-idx1-ubyte.gz"), np.zeros(4, np.uint8))
  with pytest.raises(DataFormatError, match="t10k-labels.*4 labels for 5 images"):
    load_dataset("mnist", path=d)
  _write_idx_set(d)
  formats.write_idx(os.path.join(d, "t10k-labels-idx1-ubyte.gz"), np.full(5, 11, np.uint8))
  with pytest.raises(DataFormatError, match=r"labels span \[11, 11\]"):
    load_dataset("mnist", path=d)


def test_missing_data_set_lists_sources_and_how_to_get_it(tmp_path, monkeypatch):
  monkeypatch.setattr("cnnlab.data.sources.read_tfds", lambda *a, **k: (None, "not prepared"))
  with pytest.raises(DataNotFoundError) as e:
    load_dataset("cifar10", path=str(tmp_path / "nowhere"))
  msg = str(e.value)
  for part in ("path (", "CNNLAB_DATA_DIR (", "cache (", "tfds (cifar10)", "How to get it",
               "CNNLAB_TFDS_DOWNLOAD=1"):
    assert part in msg, part


def test_missing_fashion_mnist_mentions_apt(monkeypatch):
  monkeypatch.setattr("cnnlab.data.sources.read_tfds", lambda *a, **k: (None, "not prepared"))
  spec = DATASETS.get("fashion_mnist")
  import cnnlab.data.sources as src
  loader = src._file_loader("fashion_mnist", src.read_idx_dir, "/nonexistent/fashion-mnist",
                            "fashion_mnist", spec.info.how_to_get)
  with pytest.raises(DataNotFoundError, match="apt-get install dataset-fashion-mnist"):
    loader(None, {"download": False})


def test_corrupted_cache_is_an_error_naming_the_file():
  ds = load_dataset("digits")
  path = load_dataset("digits").source["path"]
  with open(path, "r+b") as f:
    f.seek(200)
    f.write(b"\xff\xff\xff")
  with pytest.raises(DataFormatError, match="checksum mismatch"):
    load_dataset("digits")
  assert len(ds.test) == 360


def test_tfds_path_with_mock_data():
  tfds = pytest.importorskip("tensorflow_datasets")
  from cnnlab.data.sources import read_tfds
  with tfds.testing.mock_data(num_examples=6, policy=tfds.testing.MockPolicy.USE_CODE):
    arrays, why = read_tfds("fashion_mnist")
    assert why == ""
    assert arrays["x_train"].shape == (6, 28, 28, 1) and arrays["x_train"].dtype == np.uint8
    assert arrays["y_test"].dtype == np.int32
    # Through the catalog: no Debian files and no cache -> TFDS serves, and is cached.
    import cnnlab.data.sources as src
    spec = DATASETS.get("fashion_mnist")
    loader = src._file_loader("fashion_mnist", src.read_idx_dir, "/nonexistent", "fashion_mnist",
                              spec.info.how_to_get)
    arrays, source = loader(None, {"download": False})
    assert source == {"kind": "tfds", "path": "fashion_mnist"}


def test_unknown_dataset_and_option():
  with pytest.raises(KeyError, match="Valid names: .*fashion_mnist"):
    load_dataset("imagenet")
  with pytest.raises(ValueError, match="no option.*num_train"):
    load_dataset("digits", num_train=5)


# ---------------------------------------------------------------- generated sets


def test_mnist1d_matches_the_published_set():
  ds = load_dataset("mnist1d")
  assert ds.train.images.shape == (4000, 40, 1) and ds.test.images.shape == (1000, 40, 1)
  # Fixed statistics of the published data set (mnist1d_data.pkl, default args).
  np.testing.assert_array_equal(ds.train.labels[:10], [2, 6, 4, 5, 6, 6, 6, 0, 3, 1])
  np.testing.assert_array_equal(np.bincount(ds.train.labels),
                                [398, 396, 411, 394, 394, 402, 401, 404, 402, 398])
  np.testing.assert_array_equal(np.bincount(ds.test.labels),
                                [102, 104, 89, 106, 106, 98, 99, 96, 98, 102])
  np.testing.assert_allclose(ds.train.images[0, :5, 0],
                             [-0.33200568, -0.47191036, -0.7786971, -1.0097408, -0.8823526],
                             rtol=1e-6)
  both = np.concatenate([ds.train.images, ds.test.images]).astype(np.float64)
  assert abs(both.mean()) < 1e-6 and abs(both.std() - 1) < 1e-6
  assert load_dataset("mnist1d").source["kind"] == "cache"


def test_mnist1d_sizes_for_the_pooling_benchmark():
  ds = load_dataset("mnist1d", num_train=1000, num_test=1000)
  assert (len(ds.train), len(ds.test)) == (1000, 1000)
  with pytest.raises(ValueError, match="multiple of 10"):
    load_dataset("mnist1d", num_train=1001)


def test_digits_and_synthetic():
  d = load_dataset("digits")
  assert (len(d.train), len(d.test)) == (1437, 360) and d.info.shape == (8, 8, 1)
  s1 = load_dataset("synthetic", shape=(12, 10, 3), num_classes=4, num_train=50, num_test=10)
  s2 = load_dataset("synthetic", shape=(12, 10, 3), num_classes=4, num_train=50, num_test=10)
  assert s1.info.shape == (12, 10, 3) and s1.info.num_classes == 4
  np.testing.assert_array_equal(s1.train.images, s2.train.images)
  assert s1.train.labels.max() < 4
  s3 = load_dataset("synthetic", shape=(12, 10, 3), num_classes=4, seed=1)
  assert not np.array_equal(s3.train.images[:50], s1.train.images)


def test_validation_carve_out():
  ds = load_dataset("synthetic", num_train=100)
  full = load_dataset("synthetic", num_train=100)
  v = load_dataset("synthetic", num_train=100, validation_size=20)
  np.testing.assert_array_equal(v.validation.images, full.train.images[80:])
  np.testing.assert_array_equal(v.train.images, full.train.images[:80])
  r1 = load_dataset("synthetic", num_train=100, validation_size=0.25, validation_from="random")
  r2 = load_dataset("synthetic", num_train=100, validation_size=0.25, validation_from="random")
  assert len(r1.validation) == 25
  np.testing.assert_array_equal(r1.validation.labels, r2.validation.labels)
  with pytest.raises(ValueError, match="leaves no training data"):
    load_dataset("synthetic", num_train=100, validation_size=100)
  assert len(ds.train) == 100


# ---------------------------------------------------------------- batching


def test_same_seed_and_epoch_same_batches_and_resume_mid_epoch():
  split = DeviceSplit.place(load_dataset("synthetic", num_train=97).train)
  a = [np.asarray(y) for _, y in split.train_batches(seed=3, epoch=5, batch_size=10)]
  b = [np.asarray(y) for _, y in split.train_batches(seed=3, epoch=5, batch_size=10)]
  c = [np.asarray(y) for _, y in split.train_batches(seed=3, epoch=6, batch_size=10)]
  resumed = [np.asarray(y) for _, y in split.train_batches(3, 5, 10, start_step=4)]
  assert len(a) == 9
  for x, y in zip(a, b):
    np.testing.assert_array_equal(x, y)
  assert not all(np.array_equal(x, y) for x, y in zip(a, c))
  for x, y in zip(a[4:], resumed):
    np.testing.assert_array_equal(x, y)
  idx = np.asarray(pipeline.epoch_batch_indices(3, 5, 97, 10)).reshape(-1)
  assert len(set(idx.tolist())) == 90  # no example twice in an epoch


def test_sequential_batches_without_shuffling():
  idx = np.asarray(pipeline.epoch_batch_indices(0, 3, 25, 10, shuffle=False))
  np.testing.assert_array_equal(idx, np.arange(20).reshape(2, 10))


def test_replica_orders_equal_single_seed_orders():
  seeds = jnp.array([0, 1, 7])
  many = np.asarray(pipeline.epoch_batch_indices(seeds, 2, 50, 8))
  assert many.shape == (3, 6, 8)
  for r, s in enumerate([0, 1, 7]):
    np.testing.assert_array_equal(many[r], pipeline.epoch_batch_indices(s, 2, 50, 8))
  assert not np.array_equal(many[0], many[1])


@pytest.mark.parametrize("n,bs", [(10, 3), (7, 7), (1, 4), (100, 32)])
def test_eval_covers_every_example_once(n, bs):
  split = DeviceSplit.place(Split(np.arange(n)[:, None, None], np.arange(n, dtype=np.int32)))
  seen = []
  for _, y, mask in split.eval_batches(bs):
    assert y.shape == (bs,)
    seen.extend(np.asarray(y)[np.asarray(mask)].tolist())
  assert sorted(seen) == list(range(n))


def test_host_streaming_gives_the_same_batches():
  data = load_dataset("synthetic", num_train=40).train
  dev = DeviceSplit.place(data, "device")
  host = DeviceSplit.place(data, "host")
  assert dev.on_device and not host.on_device
  for (x1, y1), (x2, y2) in zip(dev.train_batches(1, 0, 8), host.train_batches(1, 0, 8)):
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(y1, y2)
  with pytest.raises(ValueError, match="larger than"):
    next(dev.train_batches(1, 0, 41))


# ---------------------------------------------------------------- augmentation


def _imgs(n=4, h=6, w=5, c=2):
  return jnp.arange(n * h * w * c, dtype=jnp.float32).reshape(n, h, w, c) + 1


def test_normalize():
  x = jnp.array([[0, 255]], jnp.uint8)[..., None]
  np.testing.assert_allclose(augment.normalize(x, (0.5,), (0.25,))[..., 0], [[-2.0, 2.0]])
  f = jnp.array([[1.0, 3.0]])[..., None]
  np.testing.assert_allclose(augment.normalize(f, (1.0,), (2.0,))[..., 0], [[0.0, 1.0]])


def test_random_crop_is_a_zero_filled_shift():
  x = _imgs()
  y = augment.random_crop(jax.random.PRNGKey(0), x, 2)
  assert y.shape == x.shape
  xn, yn = np.asarray(x), np.asarray(y)
  for i in range(len(x)):
    found = False
    for dy in range(-2, 3):
      for dx in range(-2, 3):
        shifted = np.zeros_like(xn[i])
        src = xn[i][max(dy, 0):6 + min(dy, 0), max(dx, 0):5 + min(dx, 0)]
        top, left = max(-dy, 0), max(-dx, 0)
        shifted[top:top + src.shape[0], left:left + src.shape[1]] = src
        found |= np.array_equal(shifted, yn[i])
    assert found, i
  np.testing.assert_array_equal(augment.random_crop(jax.random.PRNGKey(0), x, 2), y)
  seq = jnp.ones((3, 10, 1))
  assert augment.random_translate(jax.random.PRNGKey(1), seq, 3).shape == (3, 10, 1)


def test_flip_and_cutout():
  x = _imgs(n=64)
  y = np.asarray(augment.random_flip(jax.random.PRNGKey(0), x))
  flipped = [np.array_equal(y[i], np.asarray(x[i])[:, ::-1]) for i in range(64)]
  same = [np.array_equal(y[i], np.asarray(x[i])) for i in range(64)]
  assert all(f or s for f, s in zip(flipped, same)) and 15 < sum(flipped) < 49
  c = np.asarray(augment.cutout(jax.random.PRNGKey(0), x, 2))
  zeros = (c == 0).all(-1).sum((1, 2))
  assert np.all(zeros >= 1) and np.all(zeros <= 4)
  np.testing.assert_array_equal(c[c != 0], np.asarray(x)[c != 0])


def test_nielsen_shift_expand():
  x = jnp.arange(9, dtype=jnp.float32).reshape(1, 3, 3, 1) + 1
  xs, ys = augment.shift_expand(x, jnp.array([7]))
  assert xs.shape == (5, 3, 3, 1) and np.all(np.asarray(ys) == 7)
  g = np.asarray(xs[..., 0])
  np.testing.assert_array_equal(g[0], [[1, 2, 3], [4, 5, 6], [7, 8, 9]])
  np.testing.assert_array_equal(g[1], [[4, 5, 6], [7, 8, 9], [0, 0, 0]])  # up
  np.testing.assert_array_equal(g[2], [[0, 0, 0], [1, 2, 3], [4, 5, 6]])  # down
  np.testing.assert_array_equal(g[3], [[2, 3, 0], [5, 6, 0], [8, 9, 0]])  # left
  np.testing.assert_array_equal(g[4], [[0, 1, 2], [0, 4, 5], [0, 7, 8]])  # right


def test_augmentations_jit_and_by_name():
  x = _imgs()
  f = jax.jit(lambda k, z: augment.apply_augmentations(k, z, ["crop", "flip", "cutout"],
                                                       crop_padding=1, cutout_size=2))
  np.testing.assert_array_equal(f(jax.random.PRNGKey(0), x), f(jax.random.PRNGKey(0), x))
  with pytest.raises(ValueError, match="valid: crop"):
    augment.apply_augmentations(jax.random.PRNGKey(0), x, ["rotate"])


def test_catalog_metadata_is_complete():
  for name, spec in DATASETS.items():
    info = spec.info
    assert len(info.class_names) == info.num_classes == len(set(info.class_names)), name
    assert len(info.mean) == len(info.std) == info.shape[-1], name
    assert info.description, name
  assert DATASETS.get("cifar100").info.class_names[:2] == ("apple", "aquarium_fish")


def test_imagenette_through_tfds_is_resized_centre_cropped_and_cached(tmp_path, monkeypatch):
  tfds = pytest.importorskip("tensorflow_datasets")
  monkeypatch.setenv("CNNLAB_DATA_DIR", str(tmp_path))
  with tfds.testing.mock_data(num_examples=4, policy=tfds.testing.MockPolicy.USE_CODE):
    ds = load_dataset("imagenette", size=40)
  assert ds.info.shape == (40, 40, 3) and ds.train.images.shape == (4, 40, 40, 3)
  assert ds.test.images.dtype == np.uint8 and ds.source["kind"] == "tfds"
  assert ds.source["path"] == "imagenette/320px-v2"
  again = load_dataset("imagenette", size=40)  # now offline: from the cache
  assert again.source["kind"] == "cache"
  np.testing.assert_array_equal(again.train.images, ds.train.images)
  with pytest.raises(DataNotFoundError, match="imagenette"):
    load_dataset("imagenette", size=48)  # another size is another cache entry


def test_resize_center_crop_matches_a_hand_worked_case():
  from cnnlab.data.sources import resize_center_crop
  wide = np.zeros((8, 16), np.uint8)
  wide[:, 6:10] = 255  # a bright vertical band in the middle
  out = resize_center_crop(wide, 4, crop_fraction=1.0)  # shorter side 8 -> 4, crop 4 of 8
  assert out.shape == (4, 4, 3)
  assert (out[:, 1:3] > 200).all() and (out[:, [0, 3]] < 60).all()
