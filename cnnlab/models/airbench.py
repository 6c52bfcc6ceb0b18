"""The airbench94 CIFAR-10 network (K. Jordan, "94% on CIFAR-10 in 3.29 seconds on a
single GPU", 2024), the fastest-training published CIFAR net, used as a speed benchmark.

conv 2×2 (24 = 2·C·2·2 filters, VALID: the patch-whitening layer) → GELU → three conv
groups [conv 3×3 → max pool 2 → BN → GELU → conv 3×3 → BN → GELU] of 64, 256 and 256
channels → max pool 3 → FC 10, scaled by 1/9 (airbench's classifier has no bias; this one has
the lab's uniform head, 10 parameters more, so that it converts to a conv head). Batch
norm with airbench's
momentum, 0.6 in PyTorch's convention (running ← 0.4·running + 0.6·batch), but
PyTorch's default ε 1e-5 instead of airbench's 1e-12, which gave NaN losses on
constant channels of tiny test inputs.
Airbench also initialises the whitening layer from the data's patch statistics,
freezes it and the BN scales, and uses Lookahead; those belong to its training recipe,
not the architecture, and are not reproduced here.
"""

from __future__ import annotations


import flax.linen as nn

from cnnlab.layers import Act, Conv, Norm, Pool
from cnnlab.models.common import Head, ZooModel, pool_layer, scaled
from cnnlab.models.registry import register_model

BN = {"momentum": 0.4, "eps": 1e-5}


class Airbench94(ZooModel):
  POOL_LAYER = "group1_pool"

  act: str = "gelu"
  norm: str = "batch"

  @nn.compact
  def __call__(self, x, train: bool = False):
    x = x.astype(self.dtype)
    act = Act(self.act)
    x = act(Conv(2 * x.shape[-1] * 2 * 2, 2, dtype=self.dtype, name="whiten")(x))
    for i, f in enumerate((64, 256, 256)):
      f = scaled(f, self.width)
      x = Conv(f, 3, padding="SAME", use_bias=False, dtype=self.dtype,
               name=f"group{i + 1}_conv1")(x)
      x = Pool(self.pool, 2, input_act=self.act, name=f"group{i + 1}_pool")(x, train)
      x = act(Norm(self.norm, options=BN if self.norm == "batch" else None,
                   name=f"group{i + 1}_norm1")(x, train))
      x = Conv(f, 3, padding="SAME", use_bias=False, dtype=self.dtype,
               name=f"group{i + 1}_conv2")(x)
      x = act(Norm(self.norm, options=BN if self.norm == "batch" else None,
                   name=f"group{i + 1}_norm2")(x, train))
    x = Pool("max", 3, name="head_pool")(x, train)
    return Head(self.num_classes, self.dtype, kind=self.head, name="head")(x) / 9.0

  def geometry(self):
    return [("whiten", 2), *[layer for g in (1, 2, 3) for layer in [
        (f"group{g}_conv1", 3, 1, "SAME"), *pool_layer(f"group{g}_pool", self.pool, 2),
        (f"group{g}_conv2", 3, 1, "SAME")]], ("head_pool", 3, 3)]


register_model("airbench94", Airbench94, input_shape=(32, 32, 3), dataset="cifar10",
               description="airbench94 (Jordan 2024): whitening conv + 3 conv groups, 94% CIFAR-10",
               test_kwargs={"width": 0.125}, test_input_shape=(32, 32, 3))
