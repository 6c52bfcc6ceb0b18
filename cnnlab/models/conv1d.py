"""Networks for sequence data (MNIST-1D, Greydanus & Kobak 2020), inputs ``(N, L, C)``.

* ``conv1d_base``: the paper's ConvBase — three Conv1d of 25 channels (kernel 5 stride
  2 pad 1, then kernel 3 stride 2 pad 1 twice) with ReLU, flatten, dense head.
* ``conv1d_pool``: the pooling benchmark's ConvPooling — two Conv1d of 20 channels,
  kernel 3, each followed by ReLU and a 2-wide pooling (``pool``); ``pool="none"``
  is no_pool, ``conv_stride=2`` with ``pool="none"`` is stride_2.
* ``mlp1d``: two hidden layers of 100 with ReLU; ``logistic1d``: linear.
"""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn

from cnnlab.layers import Act, Conv, Pool
from cnnlab.models.common import fc, Head, ZooModel, pool_layer, scaled
from cnnlab.models.registry import register_model


class ConvBase1D(ZooModel):
  UNUSED_FIELDS = ('norm',)  # shared fields it has no layer for
  channels: int = 25
  depth: int = 3
  pool: str = "none"

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
    return [layer for i in range(self.depth)
            for layer in [(f"conv{i + 1}", 5 if i == 0 else 3, 2, 1),
                          *pool_layer(f"pool{i + 1}", self.pool, 2)]]


class ConvPool1D(ZooModel):
  UNUSED_FIELDS = ('norm',)  # shared fields it has no layer for
  channels: int = 20
  depth: int = 2
  conv_stride: int = 1

  @nn.compact
  def __call__(self, x, train: bool = False):
    x = x.astype(self.dtype)
    for i in range(self.depth):
      x = Conv(scaled(self.channels, self.width), 3, self.conv_stride, "SAME", dtype=self.dtype,
               name=f"conv{i + 1}")(x)
      x = Act(self.act)(x)
      x = Pool(self.pool, 2, input_act=self.act, name=f"pool{i + 1}")(x, train)
    return Head(self.num_classes, self.dtype, kind=self.head, name="head")(x)

  def geometry(self):
    return [layer for i in range(self.depth)
            for layer in [(f"conv{i + 1}", 3, self.conv_stride, "SAME"),
                          *pool_layer(f"pool{i + 1}", self.pool, 2)]]


class MLP(ZooModel):
  UNUSED_FIELDS = ('pool', 'norm')  # shared fields it has no layer for
  """Fully connected layers; with ``residual``, each hidden layer after the first adds
  its input back (``h + act(W·h)``), as the MNIST-1D paper's MLP does."""
  hidden: Sequence[int] = (100, 100)
  residual: bool = False

  @property
  def depth(self) -> int:
    return len(self.hidden) + 1

  @nn.compact
  def __call__(self, x, train: bool = False):
    x = x.astype(self.dtype)
    for i, h in enumerate(self.hidden):
      y = Act(self.act)(fc(x, scaled(h, self.width), self.head, self.dtype, f"fc{i + 1}"))
      x = x + y if self.residual and i > 0 and x.shape == y.shape else y
    return Head(self.num_classes, self.dtype, kind=self.head, name="head")(x)

  def geometry(self):
    return []


class GRU1D(ZooModel):
  UNUSED_FIELDS = ('pool', 'act', 'norm')  # shared fields it has no layer for
  """The MNIST-1D paper's recurrent baseline: a bidirectional GRU of 6 units per direction
  over the 40 samples, its whole output sequence ``(40, 12)`` flattened into the head.

  Flax's GRU cell carries one bias per gate where PyTorch's has two (``b_i`` and
  ``b_h``, redundant for ``r`` and ``z``), so it has 5,110 parameters against the
  reference implementation's 5,134.
  """
  hidden: int = 6
  bidirectional: bool = True

  @nn.compact
  def __call__(self, x, train: bool = False):
    x = x.astype(self.dtype)
    h = scaled(self.hidden, self.width)
    forward = nn.RNN(nn.GRUCell(features=h, dtype=self.dtype), name="gru_fwd")
    if self.bidirectional:
      backward = nn.RNN(nn.GRUCell(features=h, dtype=self.dtype), name="gru_bwd")
      x = nn.Bidirectional(forward, backward, name="gru")(x)
    else:
      x = forward(x)
    return Head(self.num_classes, self.dtype, kind=self.head, name="head")(x)

  def geometry(self):
    return []  # recurrent: every output of the GRU sees the whole sequence


_SRC = "MNIST-1D (Greydanus & Kobak)"
register_model("conv1d_base", ConvBase1D, input_shape=(40, 1), dataset="mnist1d",
               description=f"{_SRC} ConvBase: 3 strided Conv1d of 25 channels",
               # with a pool after each of 3 strided convs, 40 samples run out: the
               # registry tests sweep poolings over the 2-conv variant
               test_kwargs={"depth": 2})
register_model("conv1d_pool", ConvPool1D, input_shape=(40, 1), dataset="mnist1d",
               description=f"{_SRC} ConvPooling: 2 Conv1d of 20 + ReLU + pool")
register_model("mlp1d", MLP, input_shape=(40, 1), dataset="mnist1d", residual=True,
               description=f"{_SRC} MLP: 2 hidden layers of 100, the second residual")
register_model("logistic1d", MLP, input_shape=(40, 1), dataset="mnist1d", hidden=(),
               description=f"{_SRC} logistic regression baseline")
register_model("gru1d", GRU1D, input_shape=(40, 1), dataset="mnist1d",
               description=f"{_SRC} GRU: bidirectional, 6 units per direction")
