"""Lp pooling from p = 1 to ∞ on MNIST-1D: ``lp_sum(p=…)`` beside max pooling, 1k and 5k examples.

    python -m cnnlab.sweep --config=experiments/mnist1d_lp/sweep.py --workers=2 \\
        --sweep_dir=sweeps/mnist1d_lp
    python -m cnnlab.report --sweep_dir=sweeps/mnist1d_lp --rows=model.pool \\
        --cols=data.options.num_train --metric=best.test.accuracy --baseline=model.pool=max \\
        --out_dir=experiments/mnist1d_lp --plots --html

The classic Lp-pooling question (Sermanet, Chintala & LeCun 2012; Boureau et al. 2010):
between the sum (p = 1, for the ReLU's non-negative inputs a scaled average) and the
maximum (p → ∞), which power pools best? ConvPooling (``conv1d_pool``) with the MNIST-1D
paper's protocol (Adam 1e-2, batch 100, 6000 steps, best of the test evaluations every
250 steps), ``lp_sum`` at p ∈ {1, 2, 3, 4, 8} — each point named with its option,
``lp_sum(p=4)`` — and ``max``, on 1,000 and 5,000 training examples, 3 seeds.
Expected and measured: ``experiments/mnist1d_lp/README.md``. Run time: 36 runs of
10–15 s, about 5 minutes with 2 workers on a 2-core CPU (7.5 min on 2026-12-03's slower one).
"""

import os

from cnnlab.sweep import product, seeds, sweep

_HERE = os.path.dirname(os.path.abspath(__file__))
POOLS = ["lp_sum(p=1)", "lp_sum(p=2)", "lp_sum(p=3)", "lp_sum(p=4)", "lp_sum(p=8)", "max"]


def get_config():
  from cnnlab.config import load_config_file
  module, _ = load_config_file(os.path.join(_HERE, "..", "..", "configs", "mnist1d.py"))
  c = module.get_config("conv1d_pool")
  c.data.options = {"num_train": 1000}
  c.train.checkpoint_every_steps = 3000
  c.train.pad_train_to = 5000  # one compiled program for both training sizes
  return c


def get_sweep():
  return product(sweep("model.pool", POOLS), sweep("data.options.num_train", [1000, 5000]),
                 seeds(3))
