"""Pooling × activation on MNIST-1D (ConvPooling net, paper protocol), 3 seeds: 27 runs.

    python -m cnnlab.sweep --config=configs/sweeps/mnist1d_pool_act.py --workers=2
    python -m cnnlab.report --sweep_dir=sweeps/mnist1d_pool_act --rows=model.pool \
        --cols=model.act --metric=best.test.accuracy --baseline=model.pool=max --plots \
        --html --out_dir=docs/sweeps/mnist1d_pool_act

Each run is ``configs/mnist1d.py:conv1d_pool`` (Adam 1e-2, batch 100, sequential
batches, 6000 steps, best test accuracy of the evaluations every 250 steps, as in
the paper). Expected and measured: docs/sweeps.md "A real sweep" (the table there is this
command's output: ReLU 94.3-94.7% with every pooling, L2 pooling's means best with tanh
and |tanh|, no difference to max pooling significant after Holm with 3 seeds). Run time:
10-30 s per run on a 2-core CPU; the 27 runs took 2 min 19 s with 2 workers on
2026-11-30's machine, 4 min 27 s on 2026-12-03's (6 min 50 s before issue 30's kernels).
"""

import os

from cnnlab.sweep import product, seeds, sweep

_HERE = os.path.dirname(os.path.abspath(__file__))


def get_config():
  from cnnlab.config import load_config_file
  module, _ = load_config_file(os.path.join(_HERE, "..", "mnist1d.py"))
  c = module.get_config("conv1d_pool")
  c.train.checkpoint_every_steps = 2000
  return c


def get_sweep():
  return product(sweep("model.pool", ["max", "avg", "l2_sum"]),
                 sweep("model.act", ["relu", "tanh", "abs_tanh"]),
                 seeds(3))
