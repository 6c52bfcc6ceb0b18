"""VGG (Simonyan & Zisserman 2015), configurations A, B, D, E (VGG-11/13/16/19), and a
narrow VGG-8 for small images.

3×3 SAME convolutions in stages separated by 2×2 max pooling (``pool``), then
``fc_width``–``fc_width``–classes fully connected layers with dropout. At 224×224 with
``fc_width=4096`` VGG-16 has 138,357,544 parameters, as published. For 32×32 inputs
use ``fc_width=512``; ``norm="batch"`` gives the BN variants.
"""

from __future__ import annotations


import flax.linen as nn

from cnnlab.layers import Act, Conv, Dropout, Norm, Pool
from cnnlab.models.common import (fc, Head, ModelConfigError, ZooModel, norm_has_shift,
                                  pool_layer, scaled)
from cnnlab.models.registry import register_model

M = "M"
CONFIGS = {
    "A": (64, M, 128, M, 256, 256, M, 512, 512, M, 512, 512, M),
    "B": (64, 64, M, 128, 128, M, 256, 256, M, 512, 512, M, 512, 512, M),
    "D": (64, 64, M, 128, 128, M, 256, 256, 256, M, 512, 512, 512, M, 512, 512, 512, M),
    "E": (64, 64, M, 128, 128, M, 256, 256, 256, 256, M, 512, 512, 512, 512, M,
          512, 512, 512, 512, M),
    "8": (32, M, 64, M, 128, 128, M, 256, 256, M),  # 6 conv + 2 FC = 8 weight layers
}


class VGG(ZooModel):
  num_classes: int = 1000
  config: str = "D"
  fc_width: int = 4096
  fc_layers: int = 2
  dropout: float = 0.5

  def check(self):
    if self.config not in CONFIGS:
      raise ModelConfigError(f"VGG config {self.config!r} unknown; valid: {', '.join(CONFIGS)}")

  @property
  def depth(self) -> int:
    return sum(1 for v in CONFIGS[self.config] if v != M) + self.fc_layers + 1

  @nn.compact
  def __call__(self, x, train: bool = False):
    x = x.astype(self.dtype)
    conv_i = pool_i = 0
    for v in CONFIGS[self.config]:
      if v == M:
        pool_i += 1
        x = Pool(self.pool, 2, input_act=self.act, name=f"pool{pool_i}")(x, train)
        continue
      conv_i += 1
      x = Conv(scaled(v, self.width), 3, padding=1, use_bias=not norm_has_shift(self.norm),
               dtype=self.dtype, kernel_init=nn.initializers.he_normal(), name=f"conv{conv_i}")(x)
      x = Act(self.act)(Norm(self.norm, name=f"norm{conv_i}")(x, train))
    for i in range(self.fc_layers):
      x = Act(self.act)(fc(x, scaled(self.fc_width, self.width), self.head, self.dtype,
                           f"fc{i + 1}"))
      x = Dropout(self.dropout)(x, train)
    return Head(self.num_classes, self.dtype, kind=self.head, name="head")(x)

  def geometry(self):
    out, c, p = [], 0, 0
    for v in CONFIGS[self.config]:
      if v == M:
        p += 1
        out += pool_layer(f"pool{p}", self.pool, 2)
      else:
        c += 1
        out.append((f"conv{c}", 3, 1, 1))
    return out


_TINY = {"width": 0.125, "fc_width": 64}
for _name, _cfg, _layers in (("vgg11", "A", 11), ("vgg13", "B", 13), ("vgg16", "D", 16),
                             ("vgg19", "E", 19)):
  register_model(_name, VGG, input_shape=(224, 224, 3), dataset="imagenet", config=_cfg,
                 description=f"VGG config {_cfg} ({_layers} weight layers), Simonyan & "
                             f"Zisserman 2015", test_kwargs=_TINY, test_input_shape=(32, 32, 3))
register_model("vgg8", VGG, input_shape=(32, 32, 3), dataset="cifar10", config="8",
               fc_width=256, fc_layers=1, num_classes=10,
               description="narrow VGG-8 for small images: 6 conv + 2 FC")
