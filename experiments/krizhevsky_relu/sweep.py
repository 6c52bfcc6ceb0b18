"""Krizhevsky, Sutskever & Hinton (2012), Figure 1: how fast ReLU nets train against tanh.

    python -m cnnlab.sweep --config=experiments/krizhevsky_relu/sweep.py --workers=2 \
        --sweep_dir=sweeps/krizhevsky_relu
    python experiments/krizhevsky_relu/report.py --sweep_dir=sweeps/krizhevsky_relu

The paper: a four-layer convolutional network with ReLUs reaches 25% training error
on CIFAR-10 six times faster (in epochs) than the same network with tanh units; the
learning rate of each was chosen to make training as fast as possible; no
regularisation of any kind. Here: the 4-layer cuda-convnet CIFAR net (``alexnet_cifar``:
3 conv + FC, no normalisation) on the first 5,000 Fashion-MNIST training images,
SGD with momentum 0.9, batch 100, no weight decay, for ReLU, tanh, |tanh| and
sigmoid, each at 3 learning rates. The training error is the mean over each epoch's
batches (what cuda-convnet plots); a run stops at the first epoch whose training
error is ≤ 20% (``train.target_metric``; ReLU and tanh also to ≤ 10%), or after 30
epochs. ReLU and tanh, the paper's pair, run 3 seeds at the 20% target, the others one.
The report takes each activation's fastest learning rate (the lowest mean over seeds)
and the ratio of its epochs to ReLU's, paired by seed, and computes the verdict on the
paper's 6×.
Expected: tanh several times slower than ReLU (≈ 6× on CIFAR-10); sigmoid slower
still. Measured (2026-12-03): tanh 0.9× ReLU's epochs to 20% [0.6, 1.3], verdict
`lower`; sigmoid 6.8×, |tanh| 3.2× (one seed). Run time: about 40 minutes with 2
workers on a 2-core CPU (30 runs).
"""


from cnnlab.sweep import fixed, product, seeds, sweep
from cnnlab.config import base_config

TRAIN_SIZE, BATCH, MAX_EPOCHS, TARGET_ACCURACY = 5000, 100, 30, 0.80


def get_config():
  c = base_config("alexnet_cifar")
  c.model.norm = "none"
  c.data.name = "fashion_mnist"
  c.data.train_size = TRAIN_SIZE
  c.optim.name, c.optim.momentum = "momentum", 0.9
  c.train.batch_size = BATCH
  c.train.num_epochs = MAX_EPOCHS
  c.train.target_metric, c.train.target_value = "train_epoch.accuracy", TARGET_ACCURACY
  c.train.eval_every_steps = TRAIN_SIZE // BATCH * MAX_EPOCHS  # test set: at the end only
  c.train.log_every_steps = 50
  c.train.checkpoint_every_steps = 250
  return c


def get_sweep():
  # Every activation to 20% training error; ReLU and tanh (the paper's pair) with 3 seeds,
  # so that their ratio gets an interval and a verdict; the pair also to 10% (one seed).
  lrs = sweep("optim.lr", [0.01, 0.03, 0.1])
  return (product(sweep("model.act", ["relu", "tanh"]), lrs, seeds(3)) +
          product(sweep("model.act", ["abs_tanh", "sigmoid"]), lrs, seeds(1)) +
          product(sweep("model.act", ["relu", "tanh"]), lrs, fixed("train.target_value", 0.90),
                  seeds(1)))
