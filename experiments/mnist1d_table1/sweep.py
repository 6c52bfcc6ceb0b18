"""MNIST-1D Table 1 (Greydanus & Kobak 2020): 4 models × {original, shuffled} × 3 seeds.

    python -m cnnlab.sweep --config=experiments/mnist1d_table1/sweep.py --workers=2 \
        --sweep_dir=sweeps/mnist1d_table1
    python -m cnnlab.report --sweep_dir=sweeps/mnist1d_table1 --rows=model.name \
        --cols=data.options.shuffle_seq --metric=best.test.accuracy \
        --published=experiments/mnist1d_table1/published.json \
        --out_dir=experiments/mnist1d_table1

The paper's protocol (``configs/mnist1d.py``): Adam 1e-2, batch 100, sequential
batches without shuffling, 6000 steps, the default 4000/1000 data set, the best of
the test evaluations every 250 steps. ``shuffle_seq=True`` applies one fixed
permutation to the 40 positions of every sequence (the paper's "shuffled" column),
which destroys spatial structure but no information. Expected and measured:
``experiments/mnist1d_table1/README.md``. Run time: about 4 minutes with 2 workers
on a 2-core CPU (24 runs of 4–21 s each).
"""

import os

from cnnlab.sweep import product, seeds, sweep

_HERE = os.path.dirname(os.path.abspath(__file__))


def get_config():
  from cnnlab.config import load_config_file
  module, _ = load_config_file(os.path.join(_HERE, "..", "..", "configs", "mnist1d.py"))
  c = module.get_config("conv1d_base")
  c.data.options = {"shuffle_seq": False}
  c.train.checkpoint_every_steps = 3000
  return c


def get_sweep():
  return product(sweep("model.name", ["logistic1d", "mlp1d", "conv1d_base", "gru1d"]),
                 sweep("data.options.shuffle_seq", [False, True]),
                 seeds(3))
