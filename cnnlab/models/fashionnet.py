"""Two-conv Fashion-MNIST networks.

* ``fashionnet``: the two-conv Fashion-MNIST network reported at ≈ 90% test accuracy:
  conv 5×5×16 (pad 2) → BN → ReLU → maxpool 2 → conv 5×5×32 (pad 2) → BN → ReLU →
  maxpool 2 → FC 10. Convs have no bias in front of batch norm (a bias there is
  cancelled by the norm and makes data-parallel parameters drift apart).
* ``fashion_benchmark_convnet``: the Fashion-MNIST benchmark's official convnet
  (zalandoresearch/fashion-mnist ``benchmark/convnet.py``, published 91.6%): conv
  5×5×32 SAME → ReLU → maxpool 2 → conv 5×5×64 SAME → ReLU → maxpool 2 → FC 1024 →
  ReLU → dropout 0.4 → FC 10, no normalisation, Glorot-uniform weights (TF's default).
"""

from __future__ import annotations

from typing import Tuple

import flax.linen as nn

from cnnlab.layers import Act, Dropout, Pool
from cnnlab.models.common import ConvNormAct, fc, Head, ZooModel, pool_layer, scaled
from cnnlab.models.registry import register_model


class FashionNet(ZooModel):
  norm: str = "batch"
  features: Tuple[int, ...] = (16, 32)
  hidden: int = 0  # units of a fully connected layer before the classifier (0: none)
  dropout: float = 0.0  # before the classifier
  glorot: bool = False  # TF/Keras default initialisation instead of He normal

  @nn.compact
  def __call__(self, x, train: bool = False):
    x = x.astype(self.dtype)
    init = nn.initializers.glorot_uniform() if self.glorot else nn.initializers.he_normal()
    for i, f in enumerate(self.features):
      x = ConvNormAct(scaled(f, self.width), 5, 1, 2, self.norm, self.act, self.dtype,
                      kernel_init=init, name=f"conv{i + 1}")(x, train)
      x = Pool(self.pool, 2, input_act=self.act, name=f"pool{i + 1}")(x, train)
    if self.hidden:
      x = Act(self.act)(fc(x, scaled(self.hidden, self.width), self.head, self.dtype, "fc1",
                           kernel_init=init))
    x = Dropout(self.dropout)(x, train)
    return Head(self.num_classes, self.dtype, kind=self.head, name="head",
                **({"kernel_init": init} if self.glorot else {}))(x)

  def geometry(self):
    return [layer for i in range(len(self.features))
            for layer in [(f"conv{i + 1}", 5, 1, 2), *pool_layer(f"pool{i + 1}", self.pool, 2)]]


register_model("fashionnet", FashionNet, input_shape=(28, 28, 1), dataset="fashion_mnist",
               description="2 conv (16, 32) + BN + max pool + FC: Fashion-MNIST ≈ 90%")
register_model("fashion_benchmark_convnet", FashionNet, input_shape=(28, 28, 1),
               dataset="fashion_mnist", features=(32, 64), norm="none", hidden=1024,
               dropout=0.4, glorot=True,
               description="Fashion-MNIST benchmark convnet: 2 conv (32, 64) + FC 1024 + "
                           "dropout 0.4: 91.6%",
               test_kwargs={"width": 0.125})
