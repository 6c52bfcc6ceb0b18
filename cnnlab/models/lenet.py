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
from cnnlab.models.common import fc, Head, ModelConfigError, ZooModel, scaled
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


class SparseC3(nn.Module):
  """C3 with the connection table: four grouped convolutions, 1,516 parameters."""
  features_per_group: Any = (6, 6, 3, 1)
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    cols = [list(np.nonzero(C3_TABLE[:, j])[0]) for j in range(16)]
    groups = [range(0, 6), range(6, 12), range(12, 15), range(15, 16)]
    outs = []
    for g, cols_g in enumerate(groups):
      idx = np.concatenate([cols[j] for j in cols_g])
      xg = jnp.take(x, jnp.asarray(idx), axis=-1)
      outs.append(Conv(len(cols_g), 5, groups=len(cols_g), dtype=self.dtype,
                       kernel_init=lecun_uniform_2_4, name=f"group{g}")(xg))
    return jnp.concatenate(outs, axis=-1)


class LeNet5(ZooModel):
  POOL_LAYER = "S2"

  num_classes: int = 10
  pool: str = "avg"
  act: str = "lecun_tanh"
  sparse_c3: bool = True
  width: float = 1.0
  dtype: Any = jnp.float32
  head: str = "dense"  # or "conv": the classifier as a convolution (score maps)

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

  @staticmethod
  def geometry():
    return [("C1", 5), ("S2", 2, 2), ("C3", 5), ("S4", 2, 2), ("C5", 5)]


register_model("lenet5", LeNet5, input_shape=(32, 32, 1), dataset="mnist",
               description="LeNet-5 (LeCun et al. 1998), sparse C3, scaled tanh")
