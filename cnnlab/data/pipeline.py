"""Batches from device-resident data, with orders that a resumed run reproduces exactly.

* The per-epoch order is a pure function of ``(seed, epoch)``: a run resumed at
  epoch 7 draws exactly the batches an uninterrupted run would.
* ``shuffle=False`` gives sequential batches (the MNIST-1D and Nielsen protocols).
* Several seeds (runs trained side by side, vmapped) draw their own orders in one call.
* Evaluation visits every example exactly once: the last batch is padded and
  masked, never dropped.
* The arrays go onto the device when they fit (always on CPU, where host memory
  is device memory; on an accelerator while under ``max_device_fraction`` of its
  free memory) and are streamed batch by batch otherwise.
"""

from __future__ import annotations

import dataclasses
from typing import Iterator, Optional, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from cnnlab.data.catalog import Split


def epoch_order(seed: int, epoch: int, n: int, shuffle: bool = True) -> jax.Array:
  """The example order of one epoch: a permutation from ``fold_in(key(seed), epoch)``."""
  if not shuffle:
    return jnp.arange(n, dtype=jnp.int32)
  key = jax.random.fold_in(jax.random.PRNGKey(seed), epoch)
  return jax.random.permutation(key, n).astype(jnp.int32)


def num_train_batches(n: int, batch_size: int, drop_remainder: bool = True) -> int:
  if batch_size < 1:
    raise ValueError(f"batch_size must be >= 1, got {batch_size}")
  full = n // batch_size
  if full == 0 and drop_remainder:
    raise ValueError(f"batch_size {batch_size} is larger than the {n} training examples")
  return full if drop_remainder else -(-n // batch_size)


def epoch_batch_indices(seed, epoch: int, n: int, batch_size: int, shuffle: bool = True
                        ) -> jax.Array:
  """``(num_batches, batch_size)`` example indices of one training epoch.

  The remainder (``n mod batch_size`` examples) is left out of this epoch; with
  shuffling, different examples are left out each epoch. ``seed`` may be an int or a
  ``(R,)`` array of seeds, giving ``(R, num_batches, batch_size)``: one order per
  seed (runs trained side by side).
  """
  nb = num_train_batches(n, batch_size)
  seeds = jnp.asarray(seed)
  one = lambda s: epoch_order(s, epoch, n, shuffle)[:nb * batch_size].reshape(nb, batch_size)
  return jax.vmap(one)(seeds) if seeds.ndim == 1 else one(seeds)


def eval_batch_indices(n: int, batch_size: int) -> Tuple[np.ndarray, np.ndarray]:
  """Indices ``(num_batches, batch_size)`` covering ``0..n-1`` once, and a validity mask.

  The last batch is padded with index 0 and masked out.
  """
  nb = -(-n // batch_size)
  idx = np.arange(nb * batch_size)
  mask = idx < n
  return np.where(mask, idx, 0).reshape(nb, batch_size).astype(np.int32), mask.reshape(
      nb, batch_size)


def fits_on_device(nbytes: int, device: Optional[jax.Device] = None,
                   max_fraction: float = 0.5) -> bool:
  """Whether ``nbytes`` should live on ``device``: always on CPU; else under a fraction."""
  device = device or jax.devices()[0]
  if device.platform == "cpu":
    return True
  stats = device.memory_stats() or {}
  limit = stats.get("bytes_limit")
  if not limit:
    return True
  return nbytes <= max_fraction * (limit - stats.get("bytes_in_use", 0))


@dataclasses.dataclass
class DeviceSplit:
  """A split placed for training: on the device if it fits, else streamed from the host."""
  images: object  # jax.Array on device, or np.ndarray on the host
  labels: object
  on_device: bool
  count: Optional[int] = None  # the examples; the arrays hold more rows when padded

  @classmethod
  def place(cls, split: Split, placement: str = "auto", device=None,
            max_device_fraction: float = 0.5, sharding=None, pad_to: int = 0) -> "DeviceSplit":
    """``pad_to`` rows (zeros after the split's examples) on the device, so that splits of
    different sizes have one shape — and the programs that take them, one compilation."""
    if placement not in ("auto", "device", "host"):
      raise ValueError(f"placement must be 'auto', 'device' or 'host', got {placement!r}")
    nbytes = split.images.nbytes + split.labels.nbytes
    on = placement == "device" or (
        placement == "auto" and fits_on_device(nbytes, device, max_device_fraction))
    if not on:
      return cls(split.images, split.labels, False)
    images, labels, n = split.images, split.labels, len(split.labels)
    if pad_to > n:
      images = np.concatenate([images, np.zeros((pad_to - n,) + images.shape[1:], images.dtype)])
      labels = np.concatenate([labels, np.zeros((pad_to - n,) + labels.shape[1:], labels.dtype)])
    target = sharding or device
    return cls(jax.device_put(images, target), jax.device_put(labels, target), True, n)

  def __len__(self) -> int:
    return len(self.labels) if self.count is None else self.count

  def take(self, idx):
    """Gathers a batch (on device) or copies it over (streamed)."""
    if self.on_device:
      return jnp.take(self.images, idx, axis=0), jnp.take(self.labels, idx, axis=0)
    idx = np.asarray(idx)
    return jnp.asarray(self.images[idx]), jnp.asarray(self.labels[idx])

  def train_batches(self, seed: int, epoch: int, batch_size: int, shuffle: bool = True,
                    start_step: int = 0) -> Iterator[Tuple[jax.Array, jax.Array]]:
    """Yields the epoch's batches from ``start_step`` on (for resuming mid-epoch)."""
    order = epoch_batch_indices(seed, epoch, len(self), batch_size, shuffle)
    for step in range(start_step, order.shape[0]):
      yield self.take(order[step])

  def eval_batches(self, batch_size: int) -> Iterator[Tuple[jax.Array, jax.Array, jax.Array]]:
    """Yields ``(images, labels, mask)`` covering every example once."""
    idx, mask = eval_batch_indices(len(self), batch_size)
    for i in range(idx.shape[0]):
      x, y = self.take(idx[i])
      yield x, y, jnp.asarray(mask[i])
