"""MNIST-1D ConvBase with the paper's protocol (Greydanus & Kobak 2020, Table 1: CNN 94 ± 2%).

Adam, lr 1e-2, batch 100, sequential batches without shuffling, 6000 steps, the
default data set (4000 train / 1000 test), test accuracy every 250 steps; the
paper reports the best of these evaluations (``best.test`` in result.json).

    python -m cnnlab.main --config=configs/mnist1d_convbase.py --workdir=runs/mnist1d_convbase

Expected: best test accuracy ≈ 92–95% (see README for the measured number);
about 1 minute on a 2-core CPU.
"""

from cnnlab.train.config import base_config


def get_config():
  c = base_config("conv1d_base")
  c.data.name = "mnist1d"
  c.optim.name = "adam"
  c.optim.lr = 1e-2
  c.train.batch_size = 100
  c.train.shuffle = False
  c.train.num_epochs = 0
  c.train.num_steps = 6000
  c.train.eval_every_steps = 250
  c.train.log_every_steps = 500
  c.train.checkpoint_every_steps = 1000
  return c
