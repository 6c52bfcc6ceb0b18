"""A search against its grid: MNIST-1D ConvPooling at 1,000 training examples.

    # the reference: the whole grid (4 lr × 2 wd × 9 poolings × 4 activations, less
    # stochastic pooling after the three that go negative; × 3 seeds: 792 runs)
    python -m cnnlab.sweep --config=experiments/mnist1d_search/sweep.py --workers=2 \\
        --sweep_dir=sweeps/mnist1d_search_grid
    # the search (TPE, successive halving) on a quarter of the grid's compute, and the
    # comparison: python experiments/mnist1d_search/compare.py (see README.md)

The space (``get_space``): learning rate log-uniform 1e-4…1e-1, weight decay (AdamW's,
decoupled) log-uniform 1e-5…1e-2, the ten poolings of the pooling benchmark
(``experiments/mnist1d_pooling``; its tenth, "stride 2", is a convolution's stride, not a
pooling op) and four activations. Stochastic pooling needs non-negative inputs: only
after ReLU (a search's trial that draws it after another activation fails at once, named;
the grid leaves those points out). The grid (``get_sweep``) is that space at a coarse
resolution: lr 1e-4, 1e-3, 1e-2, 1e-1 and weight decay 1e-5, 1e-3. Each run: Adam(W),
batch 100, 2,000 steps (200 passes over the 1,000 examples: the benchmark's 6,000 were
far past the best validation point at this size), evaluated every 250 steps;
the metric is the best test accuracy, as the benchmark's. 3 seeds a point.
"""

import os

from cnnlab.sweep import product, seeds, sweep

_HERE = os.path.dirname(os.path.abspath(__file__))
POOLS = ["none", "max", "avg", "l2_sum", "min", "stochastic", "mixed", "gated",
         "distance_weighted"]
ACTS = ["relu", "tanh", "leaky_relu", "gelu"]
LRS = [1e-4, 1e-3, 1e-2, 1e-1]
WDS = [1e-5, 1e-3]


def get_config():
  from cnnlab.config import load_config_file
  module, _ = load_config_file(os.path.join(_HERE, "..", "..", "configs", "mnist1d.py"))
  c = module.get_config("conv1d_pool")
  c.data.options = {"num_train": 1000}
  c.optim.weight_decay = 1e-5
  c.train.num_steps = 2000
  c.train.eval_every_steps = 250
  c.train.checkpoint_every_steps = 0  # the final state (a rung's stop saves its own)
  return c


def get_sweep():
  points = product(sweep("optim.lr", LRS), sweep("optim.weight_decay", WDS),
                   sweep("model.pool", POOLS), sweep("model.act", ACTS), seeds(3))
  return [p for p in points if p["model.pool"] != "stochastic" or p["model.act"] == "relu"]


def get_space():
  from cnnlab.search.space import choice, log_uniform
  return {"optim.lr": log_uniform(1e-4, 1e-1), "optim.weight_decay": log_uniform(1e-5, 1e-2),
          "model.pool": choice(*POOLS), "model.act": choice(*ACTS)}
