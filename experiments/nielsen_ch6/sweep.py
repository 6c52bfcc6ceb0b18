"""Nielsen, *Neural Networks and Deep Learning*, ch. 6: the ladder of improvements.

    # CPU (measured here: README.md): 6 rungs × 3 seeds packed, 57 min on 2 cores
    python -m cnnlab.sweep --config=experiments/nielsen_ch6/sweep.py:cpu --pack_seeds \
        --sweep_dir=sweeps/nielsen_ch6_cpu
    # the book's budget (60 / 40 epochs): a GPU run, see "Run time"
    python -m cnnlab.sweep --config=experiments/nielsen_ch6/sweep.py --pack_seeds \
        --sweep_dir=sweeps/nielsen_ch6
    # the five-net vote (the dropout rung, 5 seeds side by side): 15-28 minutes on the CPU,
    # then the five nets scored as one
    python -m cnnlab.sweep --config=experiments/nielsen_ch6/sweep.py:cpu_vote --pack_seeds \
        --sweep_dir=sweeps/nielsen_ch6_cpu_vote
    python -m cnnlab.evaluate --sweep_dir=sweeps/nielsen_ch6_cpu_vote --ensemble=all
    python -m cnnlab.sweep --config=experiments/nielsen_ch6/sweep.py:vote --pack_seeds \
        --sweep_dir=sweeps/nielsen_ch6_vote
    python -m cnnlab.report --sweep_dir=sweeps/nielsen_ch6_cpu \
        --rows=model.name,model.act,data.expand --cols=metric --best_of_seeds \
        --metric=best.test_at_best_validation.accuracy,last.train_epoch.accuracy \
        --published=experiments/nielsen_ch6/published.json \
        --baseline=model.name=nielsen_conv1 --out_dir=experiments/nielsen_ch6

The book's protocol (``configs/mnist.py:nielsen_*``, ``network3.py``): plain SGD,
mini-batch 10, 50,000 training / 10,000 validation images (the last 10,000 of the
training set), 60 epochs (40 with dropout), η 0.1 for sigmoid and 0.03 for ReLU,
λ 0.1 for the ReLU nets (L2 in Nielsen's ``0.5·λ·Σw²/num_batches`` form), test
accuracy at the epoch of best validation accuracy, 3 seeds (the book: best of 3).
The ladder on MNIST, as published: one conv-pool layer (sigmoid) 98.78 → two 99.06
→ ReLU 99.23 → expanded data 99.37 → an extra FC layer 99.43 → dropout, FC 1000-1000
99.60 → a vote of five such nets 99.67 (``:vote``, ``:cpu_vote``: the dropout rung
with 5 seeds, scored as one ensemble by ``cnnlab.evaluate --ensemble``'s
``ensemble_vote_accuracy``; each net votes for its top class). Here on Fashion-MNIST
(``data.name``; set it to "mnist" with the MNIST files for the book's numbers).
Expected on Fashion-MNIST: the same order of improvements, at lower accuracies.
Run time: batch 10 makes each run 300,000 steps (1.5 million with the 5× expanded
data); with 3 seeds packed the 2-core CPU runs about 70 steps/s on the two-conv net
and 33 with FC 1000-1000, so the ladder at the book's budget is about a day there: a
GPU job. ``:cpu`` gives each rung ``CPU_STEPS`` = 30,000 steps (6 passes over the
50,000 images, 1.2 over the 250,000 expanded ones) and the dropout rung 20,000 (the
book's 60 : 40 epochs), evaluates every 3,000 steps (the validation-best point is
picked among those), everything else the book's: 57 minutes for the 6 rungs × 3
seeds on the 2-core CPU (2026-11-30). Result (README.md, 2026-12-03): test accuracy at
the best validation point 88.1 → 88.1 → 89.0 → 89.1 → 88.8 → 86.4% (mean of 3 seeds;
ReLU with L2 +0.9 [+0.3, +1.6] over rung 1, paired, not significant after Holm), and
the vote of five dropout nets (``:cpu_vote``) 86.75% against their mean 85.86%.
"""

import os

from cnnlab.sweep import product, seeds, sweep, zip

_HERE = os.path.dirname(os.path.abspath(__file__))


CPU_STEPS, CPU_EVAL_EVERY = 30_000, 3_000
BUDGETS = ("book", "cpu", "vote", "cpu_vote")
VOTE_NETS = 5  # the book's last rung: a vote of five dropout nets


def _budget(arg) -> str:
  """The ``budget`` argument (``--config=experiments/nielsen_ch6/sweep.py:budget=cpu``,
  or a bare ``:cpu``)."""
  from cnnlab.config import config_args
  return config_args(arg, "experiments/nielsen_ch6/sweep.py", budget=BUDGETS).budget


def get_config(arg=None):
  from cnnlab.config import load_config_file
  module, _ = load_config_file(os.path.join(_HERE, "..", "..", "configs", "mnist.py"))
  c = module.get_config("nielsen_conv1")
  c.data.name = "fashion_mnist"
  if _budget(arg).startswith("cpu"):
    c.train.eval_every_steps = CPU_EVAL_EVERY
  return c


def get_sweep(arg=None):
  budget = _budget(arg)
  # train.num_steps (when set) overrides train.num_epochs: the CPU budget in steps
  steps = [CPU_STEPS] * 5 + [CPU_STEPS * 2 // 3] if budget.startswith("cpu") else [0] * 6
  rungs = dict(
      name=["nielsen_conv1", "nielsen_conv2", "nielsen_conv2", "nielsen_conv2",
            "nielsen_conv2_fc2", "nielsen_dropout"],
      act=["sigmoid", "sigmoid", "relu", "relu", "relu", "relu"],
      lr=[0.1, 0.1, 0.03, 0.03, 0.03, 0.03],
      l2=[0.0, 0.0, 0.1, 0.1, 0.1, 0.1],
      expand=["", "", "", "nielsen_shift", "nielsen_shift", "nielsen_shift"],
      epochs=[60, 60, 60, 60, 60, 40],
      steps=steps)
  vote = budget.endswith("vote")
  if vote:  # the dropout rung alone, with five seeds to vote
    rungs = {k: v[-1:] for k, v in rungs.items()}
  return product(
      zip(sweep("model.name", rungs["name"]), sweep("model.act", rungs["act"]),
          sweep("optim.lr", rungs["lr"]), sweep("optim.l2", rungs["l2"]),
          sweep("data.expand", rungs["expand"]), sweep("train.num_epochs", rungs["epochs"]),
          sweep("train.num_steps", rungs["steps"])),
      seeds(VOTE_NETS if vote else 3))
