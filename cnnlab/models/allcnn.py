"""All-CNN (Springenberg, Dosovitskiy, Brox & Riedmiller 2015, "Striving for simplicity").

Base models A, B, C (Table 1) in the four variants of Table 2:

* ``base``: the model with 3×3 max pooling, stride 2 (``pool``);
* ``strided``: pooling removed, the preceding conv gets stride 2 (Strided-CNN);
* ``convpool``: an extra dense conv before each pooling (ConvPool-CNN, the control);
* ``allcnn``: each pooling replaced by a 3×3 conv with stride 2 (All-CNN).

All convolutions are followed by ReLU (``act``); the classifier is a 1×1 conv to
``num_classes`` maps and global average pooling. Dropout 20% on the input and 50%
after each pooling (or its replacement), as in the paper. All-CNN-C has 1,369,738
parameters ("1.4M").
"""

from __future__ import annotations


import flax.linen as nn
import jax.numpy as jnp

from cnnlab.layers import Act, Conv, Dropout, Norm, Pool
from cnnlab.models.common import ModelConfigError, ZooModel, norm_has_shift, pool_layer, scaled
from cnnlab.models.registry import register_model
from cnnlab.ops.pooling import global_avg_pool

# (features, kernel) per conv of each stage; stages are separated by pooling.
STAGES = {
    "A": [[(96, 5)], [(192, 5)]],
    "B": [[(96, 5), (96, 1)], [(192, 5), (192, 1)]],
    "C": [[(96, 3), (96, 3)], [(192, 3), (192, 3)]],
}
VARIANTS = ("base", "strided", "convpool", "allcnn")


class AllCNN(ZooModel):
  model: str = "C"
  variant: str = "allcnn"
  input_dropout: float = 0.2
  dropout: float = 0.5
  head: str = "conv"  # All-CNN classifies with a 1×1 convolution by design

  def check(self):
    if self.head != "conv":
      raise ModelConfigError("All-CNN: the classifier is a 1×1 convolution by design; "
                             f"head must be 'conv', got {self.head!r}")
    if self.model not in STAGES:
      raise ModelConfigError(f"All-CNN model {self.model!r} unknown; valid: A, B, C")
    if self.variant not in VARIANTS:
      raise ModelConfigError(f"All-CNN variant {self.variant!r} unknown; valid: "
                             f"{', '.join(VARIANTS)}")

  def _conv(self, x, features, kernel, stride, name, train, padding=None):
    pad = (kernel - 1) // 2 if padding is None else padding
    x = Conv(scaled(features, self.width), kernel, stride, pad,
             use_bias=not norm_has_shift(self.norm),
             dtype=self.dtype, name=name)(x)
    return Act(self.act)(Norm(self.norm, name=name + "_norm")(x, train))

  @nn.compact
  def __call__(self, x, train: bool = False):
    x = Dropout(self.input_dropout)(x.astype(self.dtype), train)
    n = 0
    for s, stage in enumerate(STAGES[self.model]):
      for i, (f, k) in enumerate(stage):
        n += 1
        last = i == len(stage) - 1
        stride = 2 if (last and self.variant == "strided") else 1
        x = self._conv(x, f, k, stride, f"conv{n}", train)
      if self.variant == "convpool":
        n += 1
        # "the additional convolutions have the same kernel size as the pooling" (3×3)
        x = self._conv(x, stage[-1][0], 3, 1, f"conv{n}", train)
      if self.variant in ("base", "convpool"):
        x = Pool(self.pool, 3, 2, padding="SAME", input_act=self.act,
                 name=f"pool{s + 1}")(x, train)
      elif self.variant == "allcnn":
        n += 1
        x = self._conv(x, stage[-1][0], 3, 2, f"conv{n}", train)
      x = Dropout(self.dropout)(x, train)
    x = self._conv(x, 192, 3, 1, f"conv{n + 1}", train, padding=0)
    x = self._conv(x, 192, 1, 1, f"conv{n + 2}", train)
    x = Conv(self.num_classes, 1, dtype=self.dtype, name="head")(x).astype(jnp.float32)
    self.sow("intermediates", "score_map", x)  # All-CNN's classifier is a convolution already
    return global_avg_pool(x)

  def geometry(self):
    out, n = [], 0
    for s, stage in enumerate(STAGES[self.model]):
      for i, (_, k) in enumerate(stage):
        n += 1
        stride = 2 if (i == len(stage) - 1 and self.variant == "strided") else 1
        out.append((f"conv{n}", k, stride, (k - 1) // 2))
      if self.variant == "convpool":
        n += 1
        out.append((f"conv{n}", 3, 1, 1))
      if self.variant in ("base", "convpool"):
        out += pool_layer(f"pool{s + 1}", self.pool, 3, 2, "SAME")
      elif self.variant == "allcnn":
        n += 1
        out.append((f"conv{n}", 3, 2, 1))
    return out + [(f"conv{n + 1}", 3, 1, 0), (f"conv{n + 2}", 1), ("head", 1)]


for _m in "ABC":
  register_model(f"allcnn_{_m.lower()}", AllCNN, input_shape=(32, 32, 3), dataset="cifar10",
                 model=_m, description=f"All-CNN-{_m} (Springenberg et al. 2015); "
                                       f"variant= base|strided|convpool|allcnn")
