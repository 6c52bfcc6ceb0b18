"""MNIST-1D (Greydanus & Kobak 2020) with the paper's protocol, for each of its models.

    python -m cnnlab.main --config=configs/mnist1d.py:conv1d_base   # the main job (default)
    python -m cnnlab.main --config=configs/mnist1d.py:mlp1d --workdir=runs/mnist1d_mlp

Protocol (the paper's notebook): Adam, lr 1e-2, batch 100, sequential batches
without shuffling, 6000 steps, the default data set (4000 train / 1000 test),
test accuracy every 250 steps; the paper reports the best of these evaluations
(``best.test`` in result.json). The data set is generated offline, bit-exact.

Expected (paper, Table 1, mean ± std over runs) and measured here, seed 0, 2-core CPU
(``best.test.accuracy`` of the first command above with each model; wall time with
``--compilation_cache_dir=''``; 2026-11-30):

    model        paper     measured best (final)   run time
    conv1d_base  94 ± 2    95.0% (94.5%)            7 s
    conv1d_pool  —         94.5% (94.4%)            8 s
    mlp1d        68 ± 2    66.7% (65.5%)            5 s
    logistic1d   32 ± 1    33.1% (31.4%)            3 s
    gru1d        91 ± 2    90.8% (90.8%)           17 s

Over 3 seeds: ``experiments/mnist1d_table1`` (conv1d_base 93.8 ± 0.9%).
"""

from cnnlab.config import base_config, config_args

ARGS = ("conv1d_base", "conv1d_pool", "mlp1d", "logistic1d", "gru1d")


def get_config(arg: str = "conv1d_base"):
  arg = config_args(arg, "configs/mnist1d.py", model=ARGS).model
  c = base_config(arg)
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
