"""MNIST-1D pooling benchmark (Greydanus & Kobak 2020), extended: 10 poolings × 6 sizes × 3 seeds.

    python -m cnnlab.sweep --config=experiments/mnist1d_pooling/sweep.py --workers=2 \
        --sweep_dir=sweeps/mnist1d_pooling
    python -m cnnlab.report --sweep_dir=sweeps/mnist1d_pooling \
        --rows=model.pool,model.conv_stride --cols=data.options.num_train \
        --metric=best.test.accuracy --published=experiments/mnist1d_pooling/published.json \
        --baseline=model.pool=max --out_dir=experiments/mnist1d_pooling --plots --html

ConvPooling (``conv1d_pool``): two Conv1d of 20 channels, kernel 3, each followed by
ReLU and a pool of 2; "no pool" is ``pool=none`` and "stride 2" is ``pool=none`` with
strided convolutions (``conv_stride=2``). Adam 1e-2, batch 100, 6000 steps, 1000 test
examples, best of the evaluations every 250 steps, at training sizes 1k–50k.
The paper's five (no pool, stride 2, max, avg, L2) were single runs; the other five
(min, stochastic, mixed, gated, distance-weighted) extend the table. Expected and
measured: ``experiments/mnist1d_pooling/README.md``. Run time: about 5–15 s per run
(stochastic pooling the slowest), 180 runs, 16 min with 2 workers on a 2-core CPU
(48 min on 2026-12-03's slower one, tests running beside it).
"""

import os

from cnnlab.sweep import product, seeds, sweep, zip

_HERE = os.path.dirname(os.path.abspath(__file__))
POOLS = ["none", "none", "max", "avg", "l2_sum", "min", "stochastic", "mixed", "gated",
         "distance_weighted"]
STRIDES = [1, 2] + [1] * 8


def get_config():
  from cnnlab.config import load_config_file
  module, _ = load_config_file(os.path.join(_HERE, "..", "..", "configs", "mnist1d.py"))
  c = module.get_config("conv1d_pool")
  c.data.options = {"num_train": 4000}
  c.train.checkpoint_every_steps = 3000
  # the training split padded to the largest size: one compiled program per pooling
  c.train.pad_train_to = 50000
  return c


def get_sweep():
  return product(zip(sweep("model.pool", POOLS), sweep("model.conv_stride", STRIDES)),
                 sweep("data.options.num_train", [1000, 2000, 5000, 10000, 20000, 50000]),
                 seeds(3))
