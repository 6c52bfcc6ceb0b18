"""The networks of Nielsen's *Neural Networks and Deep Learning*, chapter 6 (network3.py).

``ConvPoolLayer`` computes ``act(maxpool(conv(x)) + b)``: VALID 5×5 convolutions
without bias, the pooling, then the bias and the activation — the activation comes
after the pooling, which matters for |tanh| and for non-max pools. Weights are
``N(0, 1/n_out)`` (conv: ``n_out = maps·25/pool_area``), biases ``N(0, 1)``, and the
softmax layer starts at zero. Dropout is applied to the inputs of the fully
connected and softmax layers, and at test time those layers scale their inputs by
``1 − p`` (network3's ``(1-p_dropout)*T.dot(...)``).

The ladder: ``nielsen_fc`` (one hidden layer of 100), ``nielsen_conv1`` (one
ConvPool of 20 maps), ``nielsen_conv2`` (+ 40 maps), ``nielsen_conv2_fc2`` (an extra
FC layer of 100), ``nielsen_dropout`` (two FC layers of 1000, dropout 0.5). Use
``act="relu"`` for the ReLU steps of the chapter.
"""

from __future__ import annotations

from typing import Any, Sequence

import flax.linen as nn
import jax.numpy as jnp
import numpy as np

from cnnlab.layers import Act, Conv, Dropout, Pool
from cnnlab.models.common import fc, Head, ZooModel, pool_layer, scaled
from cnnlab.models.registry import register_model


class ConvPool(nn.Module):
  """network3.ConvPoolLayer: ``act(pool(conv(x)) + b)``."""
  features: int
  act: str = "sigmoid"
  pool: str = "max"
  pool_size: int = 2
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    n_out = self.features * 25 / self.pool_size ** 2
    x = Conv(self.features, 5, use_bias=False, dtype=self.dtype,
             kernel_init=nn.initializers.normal(float(np.sqrt(1.0 / n_out))), name="conv")(x)
    x = Pool(self.pool, self.pool_size, name="pool")(x, train)
    b = self.param("bias", nn.initializers.normal(1.0), (self.features,))
    return Act(self.act)(x + b.astype(x.dtype))


class NielsenNet(ZooModel):
  UNUSED_FIELDS = ('norm',)  # shared fields it has no layer for
  POOL_LAYER = "ConvPool_0/pool"
  POOL_AFTER = None  # act(pool(conv(x)) + b): the pools see raw conv outputs

  conv_maps: Sequence[int] = (20, 40)
  fc_layers: Sequence[int] = (100,)
  dropout: float = 0.0
  act: str = "sigmoid"

  @property
  def depth(self) -> int:
    return len(self.conv_maps) + len(self.fc_layers) + 1

  @nn.compact
  def __call__(self, x, train: bool = False):
    x = x.astype(self.dtype)
    for i, maps in enumerate(self.conv_maps):
      x = ConvPool(scaled(maps, self.width), self.act, self.pool, dtype=self.dtype,
                   name=f"ConvPool_{i}")(x, train)
    for i, units in enumerate(self.fc_layers):
      x = Dropout(self.dropout, mode="scale_at_test")(x, train)
      n_out = scaled(units, self.width)
      x = fc(x, n_out, self.head, self.dtype, f"FC_{i}",
             kernel_init=nn.initializers.normal(float(np.sqrt(1.0 / n_out))),
             bias_init=nn.initializers.normal(1.0))
      x = Act(self.act)(x)
    x = Dropout(self.dropout, mode="scale_at_test")(x, train)
    return Head(self.num_classes, self.dtype, kind=self.head,
                kernel_init=nn.initializers.zeros_init(), name="head")(x)

  def geometry(self):
    return [layer for i in range(len(self.conv_maps)) for layer in [
        (f"ConvPool_{i}/conv", 5), *pool_layer(f"ConvPool_{i}", self.pool, 2)]]


_SRC = "Nielsen NNDL ch. 6"
register_model("nielsen_fc", NielsenNet, input_shape=(28, 28, 1), dataset="mnist",
               conv_maps=(), fc_layers=(100,), description=f"{_SRC}: FC 100 baseline")
register_model("nielsen_conv1", NielsenNet, input_shape=(28, 28, 1), dataset="mnist",
               conv_maps=(20,), fc_layers=(100,), description=f"{_SRC}: ConvPool 20 + FC 100")
register_model("nielsen_conv2", NielsenNet, input_shape=(28, 28, 1), dataset="mnist",
               conv_maps=(20, 40), fc_layers=(100,),
               description=f"{_SRC}: ConvPool 20, 40 + FC 100")
register_model("nielsen_conv2_fc2", NielsenNet, input_shape=(28, 28, 1), dataset="mnist",
               conv_maps=(20, 40), fc_layers=(100, 100),
               description=f"{_SRC}: ConvPool 20, 40 + FC 100, 100")
register_model("nielsen_dropout", NielsenNet, input_shape=(28, 28, 1), dataset="mnist",
               conv_maps=(20, 40), fc_layers=(1000, 1000), dropout=0.5,
               description=f"{_SRC}: ConvPool 20, 40 + FC 1000, 1000, dropout 0.5")
