"""AlexNet-family networks.

* ``alexnet_cifar``: the 4-layer CIFAR net of cuda-convnet's ``layers-18pct.cfg``
  (Krizhevsky's Figure 1 experiment uses a network of this shape): conv 5×5×32 →
  max pool 3/2 → LRN → conv 5×5×32 → avg pool 3/2 → LRN → conv 5×5×64 → avg pool
  3/2 → FC 10. ``pool`` replaces the max pooling of the first stage; later stages
  keep cuda-convnet's average pooling unless ``all_pools=True``.
* ``alexnet``: Krizhevsky, Sutskever & Hinton 2012 for 227×227 inputs, as one tower:
  conv 11×11/4 96 → LRN → max 3/2 → conv 5×5 256 → LRN → max 3/2 → conv 3×3 384 →
  conv 3×3 384 → conv 3×3 256 → max 3/2 → FC 4096 → FC 4096 → FC classes, with
  dropout 0.5 before the first two FC layers.
"""

from __future__ import annotations


import flax.linen as nn

from cnnlab.layers import Act, Conv, Dropout, Norm, Pool
from cnnlab.models.common import fc, Head, ZooModel, pool_layer, scaled
from cnnlab.models.registry import register_model

LRN = {"size": 5, "k": 2.0, "alpha": 1e-4, "beta": 0.75}


class AlexNetCifar(ZooModel):
  norm: str = "lrn"
  all_pools: bool = False

  @nn.compact
  def __call__(self, x, train: bool = False):
    x = x.astype(self.dtype)
    for i, f in enumerate((32, 32, 64)):
      x = Act(self.act)(Conv(scaled(f, self.width), 5, padding=2, dtype=self.dtype,
                             name=f"conv{i + 1}")(x))
      pool = self.pool if (i == 0 or self.all_pools) else "avg"
      x = Pool(pool, 3, 2, padding="SAME", input_act=self.act, name=f"pool{i + 1}")(x, train)
      if i < 2:
        x = Norm(self.norm, options={"size": 3, "alpha": 5e-5, "k": 1.0}
                 if self.norm == "lrn" else None, name=f"norm{i + 1}")(x, train)
    return Head(self.num_classes, self.dtype, kind=self.head, name="head")(x)

  def geometry(self):
    return [layer for i in range(3) for layer in [
        (f"conv{i + 1}", 5, 1, 2),
        *pool_layer(f"pool{i + 1}", self.pool if (i == 0 or self.all_pools) else "avg", 3, 2,
                    "SAME")]]


class AlexNet(ZooModel):
  num_classes: int = 1000
  norm: str = "lrn"
  dropout: float = 0.5

  @nn.compact
  def __call__(self, x, train: bool = False):
    x = x.astype(self.dtype)
    act = Act(self.act)
    w = lambda f: scaled(f, self.width)
    x = act(Conv(w(96), 11, 4, dtype=self.dtype, name="conv1")(x))
    x = Norm(self.norm, options=LRN if self.norm == "lrn" else None, name="norm1")(x, train)
    # LRN keeps signs, so the pools see the activation's range.
    x = Pool(self.pool, 3, 2, input_act=self.act, name="pool1")(x, train)
    x = act(Conv(w(256), 5, padding=2, dtype=self.dtype, name="conv2")(x))
    x = Norm(self.norm, options=LRN if self.norm == "lrn" else None, name="norm2")(x, train)
    x = Pool(self.pool, 3, 2, input_act=self.act, name="pool2")(x, train)
    for i, f in enumerate((384, 384, 256)):
      x = act(Conv(w(f), 3, padding=1, dtype=self.dtype, name=f"conv{i + 3}")(x))
    x = Pool(self.pool, 3, 2, input_act=self.act, name="pool5")(x, train)
    for i in range(2):
      x = Dropout(self.dropout)(x, train)
      x = act(fc(x, w(4096), self.head, self.dtype, f"fc{i + 6}"))
    return Head(self.num_classes, self.dtype, kind=self.head, name="head")(x)

  def geometry(self):
    return [("conv1", 11, 4), *pool_layer("pool1", self.pool, 3, 2), ("conv2", 5, 1, 2),
            *pool_layer("pool2", self.pool, 3, 2), ("conv3", 3, 1, 1), ("conv4", 3, 1, 1),
            ("conv5", 3, 1, 1), *pool_layer("pool5", self.pool, 3, 2)]


register_model("alexnet_cifar", AlexNetCifar, input_shape=(32, 32, 3), dataset="cifar10",
               description="cuda-convnet layers-18pct: 3 conv + FC (Krizhevsky 2012 Fig. 1)")
register_model("alexnet", AlexNet, input_shape=(227, 227, 3), dataset="imagenet",
               description="AlexNet (Krizhevsky et al. 2012), single tower, 227×227",
               test_kwargs={"width": 0.0625}, test_input_shape=(67, 67, 3))
