"""Readers for the on-disk formats the lab accepts, and its own checksummed cache.

* IDX (MNIST, Fashion-MNIST), gzipped or not: header, dimensions and payload size
  are checked, so a truncated or corrupted file raises :class:`DataFormatError`
  naming the file — never silent garbage.
* CIFAR-10/100 binary version (``*.bin``): fixed-size records, size checked.
* cnnlab's cache: ``.npz`` loaded with ``allow_pickle=False`` plus a JSON sidecar
  with the SHA-256 of the file and where the arrays came from.

Nothing here unpickles files from outside.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import tempfile
import zlib
from typing import Any, Dict, Mapping, Optional, Tuple

import numpy as np
from cnnlab.errors import DataFormatError  # noqa: F401  (raised here; defined with the others)


# IDX type codes (http://yann.lecun.com/exdb/mnist/, "THE IDX FILE FORMAT").
_IDX_TYPES = {0x08: np.dtype(">u1"), 0x09: np.dtype(">i1"), 0x0B: np.dtype(">i2"),
              0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def _read_maybe_gzipped(path: str) -> bytes:
  with open(path, "rb") as f:
    raw = f.read()
  if raw[:2] != b"\x1f\x8b":
    return raw
  try:
    return gzip.decompress(raw)
  except (EOFError, OSError, zlib.error) as e:
    raise DataFormatError(f"{path}: corrupted or truncated gzip stream ({e})") from None


def read_idx(path: str) -> np.ndarray:
  """Reads one IDX file (optionally gzipped) into a native-endian array."""
  data = _read_maybe_gzipped(path)
  if len(data) < 4:
    raise DataFormatError(f"{path}: too short for an IDX header ({len(data)} bytes)")
  if data[0] != 0 or data[1] != 0 or data[2] not in _IDX_TYPES:
    raise DataFormatError(
        f"{path}: not an IDX file (magic bytes {data[:4].hex()}; expected 0000 + a type code "
        f"in {sorted(hex(k) for k in _IDX_TYPES)} + the number of dimensions)")
  dtype, ndim = _IDX_TYPES[data[2]], data[3]
  header = 4 + 4 * ndim
  if ndim == 0 or len(data) < header:
    raise DataFormatError(f"{path}: IDX header declares {ndim} dimensions but is truncated")
  dims = tuple(int(d) for d in np.frombuffer(data, ">u4", count=ndim, offset=4))
  expected = int(np.prod(dims)) * dtype.itemsize
  found = len(data) - header
  if found < expected:
    raise DataFormatError(
        f"{path}: truncated: the header declares shape {dims} ({expected} bytes of data) "
        f"but the file holds {found}")
  if found > expected:
    raise DataFormatError(
        f"{path}: {found - expected} unexpected trailing bytes after shape {dims}")
  return np.frombuffer(data, dtype, offset=header).reshape(dims).astype(dtype.newbyteorder("="))


def write_idx(path: str, array: np.ndarray, compress: Optional[bool] = None) -> None:
  """Writes an IDX file (gzipped when ``path`` ends in .gz); used by tests and exports."""
  array = np.asarray(array)
  code = {np.dtype(v).newbyteorder("="): k for k, v in _IDX_TYPES.items()}.get(array.dtype)
  if code is None:
    raise ValueError(f"IDX cannot store dtype {array.dtype}")
  payload = (bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, ">u4").tobytes() +
             array.astype(_IDX_TYPES[code]).tobytes())
  if compress if compress is not None else path.endswith(".gz"):
    payload = gzip.compress(payload)
  with open(path, "wb") as f:
    f.write(payload)


def read_cifar_bin(path: str, label_bytes: int = 1, label_index: int = 0
                   ) -> Tuple[np.ndarray, np.ndarray]:
  """Reads a CIFAR binary batch: records of label byte(s) + 3×32×32 CHW pixels.

  CIFAR-10 has 1 label byte; CIFAR-100 has 2 (coarse, fine): pass
  ``label_bytes=2, label_index=1`` for the fine labels. Returns NHWC uint8 images.
  """
  with open(path, "rb") as f:
    raw = f.read()
  record = label_bytes + 3072
  if len(raw) == 0 or len(raw) % record:
    raise DataFormatError(
        f"{path}: size {len(raw)} is not a positive multiple of the {record}-byte CIFAR record")
  rec = np.frombuffer(raw, np.uint8).reshape(-1, record)
  images = rec[:, label_bytes:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
  return np.ascontiguousarray(images), rec[:, label_index].astype(np.int32)


# ----------------------------------------------------------------------------
# Cache.


def sha256_file(path: str) -> str:
  h = hashlib.sha256()
  with open(path, "rb") as f:
    for chunk in iter(lambda: f.read(1 << 20), b""):
      h.update(chunk)
  return h.hexdigest()


def save_cache(path: str, arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any]) -> None:
  """Writes ``path`` (.npz) and ``path + '.json'`` atomically (safe for parallel runs)."""
  os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path) or ".", suffix=".npz.tmp")
  with os.fdopen(fd, "wb") as f:
    np.savez(f, **arrays)
  digest = sha256_file(tmp)
  fd2, tmp_meta = tempfile.mkstemp(dir=os.path.dirname(path) or ".", suffix=".json.tmp")
  with os.fdopen(fd2, "w") as f:
    json.dump({"sha256": digest, **meta}, f, indent=1, sort_keys=True, default=str)
  os.replace(tmp, path)
  os.replace(tmp_meta, path + ".json")


def load_cache(path: str) -> Tuple[Dict[str, np.ndarray], Dict[str, Any]]:
  """Loads a cache file after checking its SHA-256 against the sidecar."""
  meta_path = path + ".json"
  if not os.path.exists(meta_path):
    raise DataFormatError(f"{path}: cache file without its checksum sidecar {meta_path}")
  with open(meta_path) as f:
    meta = json.load(f)
  digest = sha256_file(path)
  if digest != meta.get("sha256"):
    raise DataFormatError(
        f"{path}: checksum mismatch (file {digest[:12]}…, recorded "
        f"{str(meta.get('sha256'))[:12]}…): the cache is corrupted; delete it to rebuild")
  try:
    with np.load(path, allow_pickle=False) as z:
      return {k: z[k] for k in z.files}, meta
  except (ValueError, OSError) as e:
    raise DataFormatError(f"{path}: unreadable cache ({e})") from None
