"""Zeiler & Fergus (2013) stochastic-pooling network on Fashion-MNIST.

    python -m cnnlab.main --config=configs/zeiler_fergus.py
    python -m cnnlab.main --config=configs/zeiler_fergus.py --config.model.pool=stochastic

Three layers of 64 5×5 filters, 3×3/2 pooling and local response normalisation,
then the classifier; the paper's comparison is pooling type (max, average,
stochastic) at fixed architecture. Its MNIST/CIFAR recipe (momentum 0.9, lr 0.01,
280 epochs) is shortened here to 30 epochs with a cosine decay, which is where
Fashion-MNIST test accuracy levels off. The paper did not use Fashion-MNIST, so
there is no published figure, and no
full run has been measured here yet (FashionNet's measured 90.5% after 5 epochs,
README, is the baseline to beat). Run time: its forward pass is 35.9 MFLOPs per
image against FashionNet's 4.9 M (``python -m cnnlab.models.summary zeiler_fergus``),
so expect roughly 7× FashionNet's 20 s per epoch on a 2-core CPU (experiments/zeiler_fergus
measured 300 images/s with max pooling, 100 with stochastic pooling).
"""

from cnnlab.config import base_config


def get_config():
  c = base_config("zeiler_fergus")
  c.data.name = "fashion_mnist"
  c.optim.name = "momentum"
  c.optim.momentum = 0.9
  c.optim.lr = 0.01
  c.optim.schedule = "cosine"
  c.train.batch_size = 128
  c.train.num_epochs = 30
  c.train.log_every_steps = 200
  c.train.checkpoint_every_steps = 1000
  return c
