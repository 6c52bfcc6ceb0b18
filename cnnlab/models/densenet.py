"""DenseNet-BC for CIFAR-size inputs (Huang, Liu, van der Maaten & Weinberger 2017).

A 3×3 conv of 2k maps, three dense blocks of ``(depth − 4)/6`` bottleneck layers
(norm → act → 1×1 conv 4k → norm → act → 3×3 conv k, concatenated), separated by
transitions (norm → act → 1×1 conv compressing by θ = 0.5 → 2×2 pooling, ``pool``,
average by default), then norm → act → global average pooling → dense head.
DenseNet-BC-100 with k = 12 has 0.8 M parameters.
"""

from __future__ import annotations


import flax.linen as nn
import jax.numpy as jnp

from cnnlab.layers import Act, Conv, Norm, Pool
from cnnlab.models.common import GlobalConvHead, ModelConfigError, ZooModel, pool_layer
from cnnlab.ops.shapes import Parallel
from cnnlab.ops.pooling import global_avg_pool
from cnnlab.models.registry import register_model


class DenseNetBC(ZooModel):
  UNUSED_FIELDS = ('width',)  # shared fields it has no layer for
  # Transition pools see conv outputs (norm and activation come before the conv).
  POOL_LAYER = "transition1/pool"
  POOL_AFTER = None

  depth: int = 100
  growth_rate: int = 12
  compression: float = 0.5
  pool: str = "avg"
  norm: str = "batch"

  def check(self):
    if self.depth < 10 or (self.depth - 4) % 6:
      raise ModelConfigError(f"DenseNetBC: depth must be 6n+4 (40, 100, 190, ...), got "
                             f"{self.depth}")

  @nn.compact
  def __call__(self, x, train: bool = False):
    k, n = self.growth_rate, (self.depth - 4) // 6
    conv = lambda f, ks, name: Conv(f, ks, padding=(ks - 1) // 2, use_bias=False,
                                    dtype=self.dtype, kernel_init=nn.initializers.he_normal(),
                                    name=name)
    x = conv(2 * k, 3, "conv1")(x.astype(self.dtype))
    for b in range(3):
      for i in range(n):
        y = Act(self.act)(Norm(self.norm, name=f"block{b + 1}_{i}_norm1")(x, train))
        y = conv(4 * k, 1, f"block{b + 1}_{i}_conv1")(y)
        y = Act(self.act)(Norm(self.norm, name=f"block{b + 1}_{i}_norm2")(y, train))
        y = conv(k, 3, f"block{b + 1}_{i}_conv2")(y)
        x = jnp.concatenate([x, y], axis=-1)
      if b < 2:
        x = Act(self.act)(Norm(self.norm, name=f"transition{b + 1}_norm")(x, train))
        x = conv(int(x.shape[-1] * self.compression), 1, f"transition{b + 1}_conv")(x)
        x = Pool(self.pool, 2, name=f"transition{b + 1}_pool")(x, train)
    x = Act(self.act)(Norm(self.norm, name="final_norm")(x, train))
    if self.head == "conv":
      return GlobalConvHead(self.num_classes, self.dtype, name="head")(x)
    x = global_avg_pool(x)
    return nn.Dense(self.num_classes, dtype=self.dtype, name="head")(x).astype(jnp.float32)

  def geometry(self):
    n, out = (self.depth - 4) // 6, [("conv1", 3, 1, 1)]
    for b in range(3):
      # each layer's output is concatenated to its input: the identity is one branch
      out += [Parallel(f"block{b + 1}_{i}", ((), ((f"block{b + 1}_{i}_conv1", 1),
                                                   (f"block{b + 1}_{i}_conv2", 3, 1, 1))))
              for i in range(n)]
      if b < 2:
        out += [(f"transition{b + 1}_conv", 1),
                *pool_layer(f"transition{b + 1}_pool", self.pool, 2)]
    return out


register_model("densenet_bc", DenseNetBC, input_shape=(32, 32, 3), dataset="cifar10",
               description="DenseNet-BC (Huang et al. 2017), depth 6n+4, k=12; 100 → 0.8M",
               test_kwargs={"depth": 16, "growth_rate": 4}, test_input_shape=(16, 16, 3))
