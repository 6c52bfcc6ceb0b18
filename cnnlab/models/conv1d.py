"""Networks for sequence data (MNIST-1D, Greydanus & Kobak 2020), inputs ``(N, L, C)``.

* ``conv1d_base``: the paper's ConvBase — three Conv1d of 25 channels (kernel 5 stride
  2 pad 1, then kernel 3 stride 2 pad 1 twice) with ReLU, flatten, dense head.
* ``conv1d_pool``: the pooling benchmark's ConvPooling — two Conv1d of 20 channels,
  kernel 3, each followed by ReLU and a 2-wide pooling (``pool``); ``pool="none"``
  is no_pool, ``conv_stride=2`` with ``pool="none"`` is stride_2.
* ``mlp1d``: two hidden layers of 100 with ReLU; ``logistic1d``: linear.
"""

from __future__ import annotations

from typing import Any, Sequence

import flax.linen as nn
import jax.numpy as jnp

from cnnlab.layers import Act, Conv, Pool
from cnnlab.models.common import fc, Head, ZooModel, scaled
from cnnlab.models.registry import register_model


class ConvBase1D(ZooModel):
  num_classes: int = 10
  channels: int = 25
  depth: int = 3
  pool: str = "none"
  act: str = "relu"
  width: float = 1.0
  dtype: Any = jnp.float32
  head: str = "dense"  # or "conv": the classifier as a convolution (score maps)

  @nn.compact
  def __call__(self, x, train: bool = False):
    x = x.astype(self.dtype)
    for i in range(self.depth):
      k = 5 if i == 0 else 3
      x = Act(self.act)(Conv(scaled(self.channels, self.width), k, 2, 1, dtype=self.dtype,
                             name=f"conv{i + 1}")(x))
      if self.pool != "none":
        x = Pool(self.pool, 2, input_act=self.act, name=f"pool{i + 1}")(x, train)
    return Head(self.num_classes, self.dtype, kind=self.head, name="head")(x)

  def geometry(self):
    return [(f"conv{i + 1}", 5 if i == 0 else 3, 2, 1) for i in range(self.depth)]


class ConvPool1D(ZooModel):
  num_classes: int = 10
  channels: int = 20
  depth: int = 2
  conv_stride: int = 1
  pool: str = "max"
  act: str = "relu"
  width: float = 1.0
  dtype: Any = jnp.float32
  head: str = "dense"  # or "conv": the classifier as a convolution (score maps)

  @nn.compact
  def __call__(self, x, train: bool = False):
    x = x.astype(self.dtype)
    for i in range(self.depth):
      x = Conv(scaled(self.channels, self.width), 3, self.conv_stride, "SAME", dtype=self.dtype,
               name=f"conv{i + 1}")(x)
      x = Act(self.act)(x)
      x = Pool(self.pool, 2, input_act=self.act, name=f"pool{i + 1}")(x, train)
    return Head(self.num_classes, self.dtype, kind=self.head, name="head")(x)


class MLP(ZooModel):
  num_classes: int = 10
  hidden: Sequence[int] = (100, 100)
  act: str = "relu"
  width: float = 1.0
  dtype: Any = jnp.float32
  head: str = "dense"  # or "conv": the classifier as a convolution (score maps)

  @property
  def depth(self) -> int:
    return len(self.hidden) + 1

  @nn.compact
  def __call__(self, x, train: bool = False):
    x = x.astype(self.dtype)
    for i, h in enumerate(self.hidden):
      x = Act(self.act)(fc(x, scaled(h, self.width), self.head, self.dtype, f"fc{i + 1}"))
    return Head(self.num_classes, self.dtype, kind=self.head, name="head")(x)


_SRC = "MNIST-1D (Greydanus & Kobak)"
register_model("conv1d_base", ConvBase1D, input_shape=(40, 1), dataset="mnist1d",
               description=f"{_SRC} ConvBase: 3 strided Conv1d of 25 channels",
               # with a pool after each of 3 strided convs, 40 samples run out: the
               # registry tests sweep poolings over the 2-conv variant
               test_kwargs={"depth": 2})
register_model("conv1d_pool", ConvPool1D, input_shape=(40, 1), dataset="mnist1d",
               description=f"{_SRC} ConvPooling: 2 Conv1d of 20 + ReLU + pool")
register_model("mlp1d", MLP, input_shape=(40, 1), dataset="mnist1d",
               description=f"{_SRC} MLP: 2 hidden layers of 100")
register_model("logistic1d", MLP, input_shape=(40, 1), dataset="mnist1d", hidden=(),
               description=f"{_SRC} logistic regression baseline")
