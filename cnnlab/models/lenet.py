"""LeNet-5 as published (LeCun, Bottou, Bengio & Haffner 1998, "Gradient-based learning
applied to document recognition", §II.B).

32×32 input → C1 6@5×5 → S2 trainable subsampling → C3 16@5×5 with the original sparse
connection table (Table I) → S4 → C5 120@5×5 → F6 84 → output, squashing
``1.7159·tanh(2x/3)`` after every layer but the output. A subsampling unit adds its
2×2 inputs, multiplies by a trainable coefficient and adds a trainable bias: here the
pooling (``pool``, average by default) times a per-map coefficient plus a bias, so
``pool="max"`` gives a trainable max-subsampling. Weights start uniform in
±2.4/fan_in as in the paper (appendix C).

The output layer is a dense layer (850 parameters) instead of the paper's Euclidean
RBF units (840): the parameter count is 60,850 against the paper's "about 60,000".
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from cnnlab.layers import Act, Conv, Pool
from cnnlab.ops import conv as conv_ops
from cnnlab.models.common import fc, Head, ModelConfigError, ZooModel, pool_layer, scaled
from cnnlab.models.registry import register_model

# Table I of the paper: which S2 maps (rows) feed each C3 map (columns).
C3_TABLE = np.array([
    [1, 0, 0, 0, 1, 1, 1, 0, 0, 1, 1, 1, 1, 0, 1, 1],
    [1, 1, 0, 0, 0, 1, 1, 1, 0, 0, 1, 1, 1, 1, 0, 1],
    [1, 1, 1, 0, 0, 0, 1, 1, 1, 0, 0, 1, 0, 1, 1, 1],
    [0, 1, 1, 1, 0, 0, 1, 1, 1, 1, 0, 0, 1, 0, 1, 1],
    [0, 0, 1, 1, 1, 0, 0, 1, 1, 1, 1, 0, 1, 1, 0, 1],
    [0, 0, 0, 1, 1, 1, 0, 0, 1, 1, 1, 1, 0, 1, 1, 1],
], bool)


def lecun_uniform_2_4(key, shape, dtype=jnp.float32):
  """U(−2.4/F, 2.4/F) with F the fan-in (LeCun et al. 1998, appendix C)."""
  fan_in = int(np.prod(shape[:-1]))
  return jax.random.uniform(key, shape, dtype, -2.4 / fan_in, 2.4 / fan_in)


class Subsampling(nn.Module):
  """S2/S4: a pooling, times a trainable per-map coefficient, plus a trainable bias."""
  pool: str = "avg"
  input_act: Any = None

  @nn.compact
  def __call__(self, x, train: bool = False):
    y = Pool(self.pool, 2, 2, input_act=self.input_act, name="pool")(x, train)
    c = x.shape[-1]
    coef = self.param("coef", nn.initializers.ones_init(), (c,))
    bias = self.param("bias", nn.initializers.zeros_init(), (c,))
    return (y * coef + bias).astype(y.dtype)


class _GroupParams(nn.Module):
  """The kernel and bias of one grouped convolution, as :class:`Conv` would store them."""
  shape: Any

  @nn.compact
  def __call__(self):
    return (self.param("kernel", lecun_uniform_2_4, self.shape),
            self.param("bias", nn.initializers.zeros_init(), (self.shape[-1],)))


class SparseC3(nn.Module):
  """C3 with the connection table: 1,516 parameters, stored as four grouped convolutions
  (the maps with 3, 4, 4 and 6 inputs), computed as one dense 6→16 convolution whose
  kernel holds them at their table positions and zeros elsewhere.

  Why not grouped convolutions: XLA's CPU backend runs them ~70× slower than the dense
  one (a LeNet-5 training step took 1.9 s against 0.027 s, benchmarks/NOTES.md).
  """
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    cols = [np.nonzero(C3_TABLE[:, j])[0] for j in range(16)]
    groups = [range(0, 6), range(6, 12), range(12, 15), range(15, 16)]
    kernel = jnp.zeros((5, 5, 6, 16), jnp.float32)
    bias = []
    for g, outs in enumerate(groups):
      per = len(cols[outs[0]])  # inputs per map in this group
      k, b = _GroupParams((5, 5, per, len(outs)), name=f"group{g}")()
      # kernel[..., t, j] of the group is C3's weight from S2 map cols[o][t] to map o.
      rows = np.array([[cols[o][t] for o in outs] for t in range(per)])
      outs_idx = np.array([[o for o in outs] for _ in range(per)])
      kernel = kernel.at[:, :, rows, outs_idx].set(k)
      bias.append(b)
    return conv_ops.conv(x, kernel.astype(self.dtype), jnp.concatenate(bias).astype(self.dtype),
                         1, "VALID", 1, 1, layer="C3")


class LeNet5(ZooModel):
  UNUSED_FIELDS = ('norm',)  # shared fields it has no layer for
  POOL_LAYER = "S2"

  pool: str = "avg"
  act: str = "lecun_tanh"
  sparse_c3: bool = True

  def check(self):
    if self.sparse_c3 and self.width != 1.0:
      raise ModelConfigError("LeNet5: the sparse C3 table fixes 6→16 maps; use "
                             "sparse_c3=False with width != 1")

  @nn.compact
  def __call__(self, x, train: bool = False):
    act = Act(self.act)
    conv = lambda f, name: Conv(scaled(f, self.width), 5, dtype=self.dtype,
                                kernel_init=lecun_uniform_2_4, name=name)
    x = act(conv(6, "C1")(x.astype(self.dtype)))
    x = act(Subsampling(self.pool, self.act, name="S2")(x, train))
    x = act(SparseC3(dtype=self.dtype, name="C3")(x) if self.sparse_c3 else conv(16, "C3")(x))
    x = act(Subsampling(self.pool, self.act, name="S4")(x, train))
    x = act(conv(120, "C5")(x))
    x = act(fc(x, scaled(84, self.width), self.head, self.dtype, "F6",
               kernel_init=lecun_uniform_2_4))
    return Head(self.num_classes, self.dtype, kind=self.head, name="head")(x)

  def geometry(self):
    return [("C1", 5), *pool_layer("S2", self.pool, 2, 2), ("C3", 5),
            *pool_layer("S4", self.pool, 2, 2), ("C5", 5)]


register_model("lenet5", LeNet5, input_shape=(32, 32, 1), dataset="mnist",
               description="LeNet-5 (LeCun et al. 1998), sparse C3, scaled tanh")
