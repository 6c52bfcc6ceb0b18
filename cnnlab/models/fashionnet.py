"""FashionNet: the two-conv Fashion-MNIST network reported at ≈ 90% test accuracy.

conv 5×5×16 (pad 2) → BN → ReLU → maxpool 2 → conv 5×5×32 (pad 2) → BN → ReLU →
maxpool 2 → FC 10. Convs have no bias in front of batch norm (a bias there is
cancelled by the norm and makes data-parallel parameters drift apart).
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from cnnlab.layers import Pool
from cnnlab.models.common import ConvNormAct, Head, ZooModel, scaled
from cnnlab.models.registry import register_model


class FashionNet(ZooModel):
  num_classes: int = 10
  pool: str = "max"
  act: str = "relu"
  norm: str = "batch"
  width: float = 1.0
  dtype: Any = jnp.float32
  head: str = "dense"  # or "conv": the classifier as a convolution (score maps)

  @nn.compact
  def __call__(self, x, train: bool = False):
    x = x.astype(self.dtype)
    for i, f in enumerate((16, 32)):
      x = ConvNormAct(scaled(f, self.width), 5, 1, 2, self.norm, self.act, self.dtype,
                      name=f"conv{i + 1}")(x, train)
      x = Pool(self.pool, 2, input_act=self.act, name=f"pool{i + 1}")(x, train)
    return Head(self.num_classes, self.dtype, kind=self.head, name="head")(x)

  @staticmethod
  def geometry():
    return [("conv1", 5, 1, 2), ("pool1", 2, 2), ("conv2", 5, 1, 2), ("pool2", 2, 2)]


register_model("fashionnet", FashionNet, input_shape=(28, 28, 1), dataset="fashion_mnist",
               description="2 conv (16, 32) + BN + max pool + FC: Fashion-MNIST ≈ 90%")
