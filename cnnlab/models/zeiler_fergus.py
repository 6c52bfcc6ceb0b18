"""The network of Zeiler & Fergus 2013, "Stochastic pooling for regularization of deep
convolutional neural networks": three layers of 64 5×5 filters with ReLU, each
followed by 3×3 pooling with stride 2 and local response normalization, then a
softmax layer. ``pool`` picks the pooling (the paper compares avg, max, stochastic).
"""

from __future__ import annotations


import flax.linen as nn

from cnnlab.layers import Act, Conv, Norm, Pool
from cnnlab.models.common import Head, ZooModel, pool_layer, scaled
from cnnlab.models.registry import register_model


class ZeilerFergusNet(ZooModel):
  norm: str = "lrn"
  depth: int = 3

  @nn.compact
  def __call__(self, x, train: bool = False):
    x = x.astype(self.dtype)
    for i in range(self.depth):
      x = Conv(scaled(64, self.width), 5, padding=2, dtype=self.dtype, name=f"conv{i + 1}")(x)
      x = Act(self.act)(x)
      x = Pool(self.pool, 3, 2, input_act=self.act, name=f"pool{i + 1}")(x, train)
      x = Norm(self.norm, options={"size": 9, "alpha": 1e-3} if self.norm == "lrn" else None,
               name=f"norm{i + 1}")(x, train)
    return Head(self.num_classes, self.dtype, kind=self.head, name="head")(x)

  def geometry(self):
    return [layer for i in range(self.depth)
            for layer in [(f"conv{i + 1}", 5, 1, 2), *pool_layer(f"pool{i + 1}", self.pool, 3, 2)]]


register_model("zeiler_fergus", ZeilerFergusNet, input_shape=(28, 28, 1),
               dataset="fashion_mnist",
               description="Zeiler & Fergus 2013: 3×(64 5×5 conv, 3×3/2 pool, LRN)")
