"""Rosenblatt's perceptron (1958): one linear threshold unit, the lab's historical baseline.

``f(x) = w·x + b`` with ``w = 0, b = 0`` at the start; the class is ``f(x) > 0``.
Trained with the ``perceptron`` loss (:mod:`cnnlab.train.losses`) by plain SGD at
batch 1, each step is the perceptron rule: on a mistake ``w ← w + η·s·x``,
``b ← b + η·s`` with ``s = ±1`` the true class's sign; otherwise nothing.
``configs/perceptron.py`` trains it on two digit classes.
"""

from __future__ import annotations


import flax.linen as nn

from cnnlab.models.common import Head, ZooModel
from cnnlab.models.registry import register_model


class Perceptron(ZooModel):
  UNUSED_FIELDS = ('pool', 'act', 'norm', 'width')  # shared fields it has no layer for
  num_classes: int = 1

  @nn.compact
  def __call__(self, x, train: bool = False):
    return Head(self.num_classes, self.dtype, kind=self.head,
                kernel_init=nn.initializers.zeros_init(), name="head")(x.astype(self.dtype))

  def geometry(self):
    return []


register_model("perceptron", Perceptron, input_shape=(8, 8, 1), dataset="digits",
               description="Rosenblatt's perceptron: one linear threshold unit, zero start")
