"""On-device augmentation: pure, jit-able functions of ``(key, batch)``.

Batches are channels-last, ``(N, *spatial, C)``; each example draws its own
randomness from the key. Functions that take a key are deterministic given it,
so a resumed run that re-derives its keys sees the same augmentations.
"""

from __future__ import annotations

from typing import Sequence, Union

import jax
import jax.numpy as jnp
from jax import lax


def normalize(images, mean: Sequence[float], std: Sequence[float], dtype=jnp.float32):
  """uint8 pixels → ``(x/255 − mean)/std``; float inputs → ``(x − mean)/std``."""
  x = images.astype(dtype)
  if jnp.issubdtype(images.dtype, jnp.integer):
    x = x / 255.0
  return ((x - jnp.asarray(mean, dtype)) / jnp.asarray(std, dtype)).astype(dtype)


def pad_to(images, size: Sequence[int]):
  """Zero-pads the spatial dims of ``(N, *spatial, C)`` to ``size``, centred.

  LeCun et al. fed 28×28 MNIST digits to LeNet-5 centred in a 32×32 field; padding
  the raw pixels with 0 (the background) does the same before normalisation.
  """
  spatial = images.shape[1:-1]
  if len(size) != len(spatial) or any(s < h for s, h in zip(size, spatial)):
    raise ValueError(f"cannot pad images of spatial shape {tuple(spatial)} to {tuple(size)}")
  widths = [(0, 0)] + [((s - h) // 2, s - h - (s - h) // 2) for s, h in zip(size, spatial)]
  return jnp.pad(images, widths + [(0, 0)])


def _spatial(images) -> int:
  if images.ndim < 3:
    raise ValueError(f"augmentation expects (N, *spatial, C), got shape {images.shape}")
  return images.ndim - 2


def random_crop(key, images, padding: Union[int, Sequence[int]] = 4):
  """Zero-pads each spatial side by ``padding`` and crops back at a random offset.

  This is also a random translation by up to ``padding`` pixels with zero fill.
  """
  nd = _spatial(images)
  pads = (padding,) * nd if isinstance(padding, int) else tuple(padding)
  padded = jnp.pad(images, ((0, 0),) + tuple((p, p) for p in pads) + ((0, 0),))
  size = images.shape[1:]
  offsets = jnp.stack([jax.random.randint(k, (images.shape[0],), 0, 2 * p + 1)
                       for k, p in zip(jax.random.split(key, nd), pads)], axis=1)

  def crop(img, off):
    return lax.dynamic_slice(img, tuple(off) + (0,), size)

  return jax.vmap(crop)(padded, offsets)


def random_translate(key, images, max_shift: int = 2):
  """Shifts each example by a random integer in ``[−max_shift, max_shift]`` per axis."""
  return random_crop(key, images, max_shift)


def random_flip(key, images, axis: int = 2, p: float = 0.5):
  """Mirrors each example along ``axis`` (2 = width for NHWC) with probability ``p``."""
  flip = jax.random.bernoulli(key, p, (images.shape[0],))
  flip = flip.reshape((-1,) + (1,) * (images.ndim - 1))
  return jnp.where(flip, jnp.flip(images, axis=axis), images)


def cutout(key, images, size: int = 8):
  """Zeroes a ``size``-wide square (cube) at a random centre in each example (DeVries 2017).

  The square may hang over the border, as in the paper.
  """
  nd = _spatial(images)
  spatial = images.shape[1:-1]
  keys = jax.random.split(key, nd)
  centres = [jax.random.randint(k, (images.shape[0],), 0, s) for k, s in zip(keys, spatial)]
  inside = jnp.ones(images.shape[:-1], bool)
  for axis, (c, s) in enumerate(zip(centres, spatial)):
    pos = jnp.arange(s)
    lo = c - size // 2
    hit = (pos[None, :] >= lo[:, None]) & (pos[None, :] < lo[:, None] + size)  # (N, s)
    shape = [images.shape[0]] + [1] * nd
    shape[axis + 1] = s
    inside = inside & hit.reshape(shape)
  return jnp.where(inside[..., None], jnp.zeros_like(images), images)


def shift_expand(images, labels):
  """Nielsen's expanded training set: each image plus its 4 one-pixel shifts.

  Shifts up, down, left and right (``expand_mnist.py``): the image is rolled by one
  pixel and the row or column that wrapped around is zeroed. Returns 5× the data,
  originals first, then the shifted copies in that order.
  """
  if images.ndim != 4:
    raise ValueError(f"shift_expand expects NHWC images, got shape {images.shape}")
  out = [images]
  for shift, axis in ((-1, 1), (1, 1), (-1, 2), (1, 2)):  # up, down, left, right
    rolled = jnp.roll(images, shift, axis=axis)
    edge = 0 if shift > 0 else images.shape[axis] - 1
    index = [slice(None)] * 4
    index[axis] = edge
    out.append(rolled.at[tuple(index)].set(0))
  return jnp.concatenate(out), jnp.concatenate([labels] * 5)


AUGMENTATIONS = {
    "crop": random_crop,
    "translate": random_translate,
    "flip": random_flip,
    "cutout": cutout,
}


def apply_augmentations(key, images, names: Sequence[str], *, crop_padding: int = 4,
                        max_shift: int = 2, cutout_size: int = 8):
  """Applies named augmentations in order, each with its own key and option."""
  kwargs = {"crop": {"padding": crop_padding}, "translate": {"max_shift": max_shift},
            "flip": {}, "cutout": {"size": cutout_size}}
  for name, k in zip(names, jax.random.split(key, max(len(names), 1))):
    if name not in AUGMENTATIONS:
      raise ValueError(f"unknown augmentation {name!r}; valid: {', '.join(AUGMENTATIONS)}")
    images = AUGMENTATIONS[name](k, images, **kwargs[name])
  return images
