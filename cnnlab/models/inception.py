"""An Inception-style network for small images, built from GoogLeNet blocks (Szegedy et
al. 2015, Table 1).

Each Inception block concatenates four branches: 1×1; 1×1 → 3×3; 1×1 → 5×5; 3×3
pooling (stride 1, ``pool``) → 1×1. For 32×32 inputs: a 3×3 stem of 192 maps, blocks
3a, 3b, pooling 3/2, blocks 4a–4e, pooling 3/2, blocks 5a, 5b, global average
pooling, dropout 0.4 and the head (the widths of GoogLeNet, scaled by ``width``).
Every conv is followed by ``norm`` and ``act``.
"""

from __future__ import annotations

from typing import Any, Sequence

import flax.linen as nn
import jax.numpy as jnp

from cnnlab.layers import Dropout, Pool
from cnnlab.models.common import (GlobalConvHead, ConvNormAct, ModelConfigError, ZooModel,
                                  pool_layer, scaled)
from cnnlab.ops.shapes import Parallel
from cnnlab.models.registry import register_model
from cnnlab.ops.pooling import global_avg_pool

# (1x1, 3x3 reduce, 3x3, 5x5 reduce, 5x5, pool proj) from GoogLeNet's Table 1.
BLOCKS = {
    "3a": (64, 96, 128, 16, 32, 32), "3b": (128, 128, 192, 32, 96, 64),
    "4a": (192, 96, 208, 16, 48, 64), "4b": (160, 112, 224, 24, 64, 64),
    "4c": (128, 128, 256, 24, 64, 64), "4d": (112, 144, 288, 32, 64, 64),
    "4e": (256, 160, 320, 32, 128, 128), "5a": (256, 160, 320, 32, 128, 128),
    "5b": (384, 192, 384, 48, 128, 128),
}
LAYOUT = ("3a", "3b", "pool", "4a", "4b", "4c", "4d", "4e", "pool", "5a", "5b")


class InceptionBlock(nn.Module):
  widths: Sequence[int]
  pool: str = "max"
  act: str = "relu"
  norm: str = "batch"
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    c1, r3, c3, r5, c5, pp = self.widths
    cna = lambda f, k, name: ConvNormAct(f, k, 1, "SAME", self.norm, self.act, self.dtype,
                                         name=name)
    b1 = cna(c1, 1, "b1")(x, train)
    b3 = cna(c3, 3, "b3")(cna(r3, 1, "b3_reduce")(x, train), train)
    b5 = cna(c5, 5, "b5")(cna(r5, 1, "b5_reduce")(x, train), train)
    bp = Pool(self.pool, 3, 1, "SAME", input_act=self.act, name="bp_pool")(x, train)
    bp = cna(pp, 1, "bp")(bp, train)
    return jnp.concatenate([b1, b3, b5, bp], axis=-1)


class InceptionSmall(ZooModel):
  norm: str = "batch"
  dropout: float = 0.4
  depth: int = 9  # number of Inception blocks used, in GoogLeNet's order (1..9)

  def check(self):
    if not 1 <= self.depth <= 9:
      raise ModelConfigError(f"InceptionSmall: depth counts Inception blocks, 1..9, got "
                             f"{self.depth}")

  @nn.compact
  def __call__(self, x, train: bool = False):
    x = ConvNormAct(scaled(192, self.width), 3, 1, "SAME", self.norm, self.act, self.dtype,
                    name="stem")(x.astype(self.dtype), train)
    used, p = 0, 0
    for item in LAYOUT:
      if used == self.depth:
        break
      if item == "pool":
        p += 1
        x = Pool(self.pool, 3, 2, "SAME", input_act=self.act, name=f"pool{p}")(x, train)
        continue
      widths = tuple(scaled(w, self.width) for w in BLOCKS[item])
      x = InceptionBlock(widths, self.pool, self.act, self.norm, self.dtype,
                         name=f"inception{item}")(x, train)
      used += 1
    if self.head == "conv":  # dropout on the map, then the 1×1 classifier and the pool
      return GlobalConvHead(self.num_classes, self.dtype, name="head")(
          Dropout(self.dropout)(x, train))
    x = Dropout(self.dropout)(global_avg_pool(x), train)
    return nn.Dense(self.num_classes, dtype=self.dtype, name="head")(x).astype(jnp.float32)

  def geometry(self):
    out, used, p = [("stem", 3, 1, "SAME")], 0, 0
    for item in LAYOUT:
      if used == self.depth:
        break
      if item == "pool":
        p += 1
        out += pool_layer(f"pool{p}", self.pool, 3, 2, "SAME")
        continue
      name = f"inception{item}"
      out.append(Parallel(name, (
          ((f"{name}/b1", 1),), ((f"{name}/b3_reduce", 1), (f"{name}/b3", 3, 1, "SAME")),
          ((f"{name}/b5_reduce", 1), (f"{name}/b5", 5, 1, "SAME")),
          (*pool_layer(f"{name}/bp_pool", self.pool, 3, 1, "SAME"), (f"{name}/bp", 1)))))
      used += 1
    return out


register_model("inception_small", InceptionSmall, input_shape=(32, 32, 3), dataset="cifar10",
               description="GoogLeNet blocks 3a–5b for 32×32 inputs",
               test_kwargs={"width": 0.0625, "depth": 3}, test_input_shape=(16, 16, 3))
