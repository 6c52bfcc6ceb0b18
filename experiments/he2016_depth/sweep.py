"""He et al. (2016), CIFAR-10 §4.2: plain vs residual nets of 20, 32, 44 and 56 layers.

    # CPU (README.md): 8 nets × 3 seeds, one-epoch warm-up, 2 h 30 min on 2 cores
    python -m cnnlab.sweep --config=experiments/he2016_depth/sweep.py:cpu,seeds=3 \
        --sweep_dir=sweeps/he2016_depth_cpu_warmup
    # GPU (the device tool's H100): 30 epochs of all 60,000 images, 2 seeds packed
    python -m cnnlab.sweep --config=experiments/he2016_depth/sweep.py --pack_seeds \
        --sweep_dir=sweeps/he2016_depth
    python -m cnnlab.report --sweep_dir=sweeps/he2016_depth_cpu_warmup --rows=model.depth \
        --cols=model.shortcut --metric=test_accuracy --as_error --baseline=model.shortcut=none \
        --published=experiments/he2016_depth/published.json --out_dir=experiments/he2016_depth
    python -m cnnlab.report --sweep_dir=sweeps/he2016_depth_cpu_warmup --rows=model.depth \
        --cols=model.shortcut --metric=last.train_epoch.accuracy --as_error \
        --baseline=model.shortcut=none --out_dir=experiments/he2016_depth/train_error
    python -m cnnlab.report --sweep_dir=sweeps/he2016_depth_cpu_warmup --rows=model.depth \
        --cols=model.shortcut --metric=test_accuracy --as_error --baseline=model.depth=20 \
        --out_dir=experiments/he2016_depth/depth
    python experiments/he2016_depth/report.py --sweep_dir=sweeps/he2016_depth_cpu_warmup
    # the table of 2026-11-30 without warm-up, one seed (README.md: "Without warm-up")
    python -m cnnlab.sweep --config=experiments/he2016_depth/sweep.py:cpu,warmup_epochs=0,seeds=1 \
        --sweep_dir=sweeps/he2016_depth_cpu

The paper's recipe (``configs/cifar10.py:resnet_cifar``: SGD momentum 0.9, lr 0.1,
L2 1e-4, batch 128, ÷10 at 50% and 75% of training; 4-pixel-padded random crops and
horizontal flips) on Fashion-MNIST (28×28×1), with ``shortcut`` "A" (residual, the
paper's option A) or "none" (plain). Published (CIFAR-10 test error %, 164 epochs):
ResNet 8.75 / 7.51 / 7.17 / 6.97 (20 / 32 / 44 / 56 layers, 6.43 at 110); the plain
nets get worse with depth, in training error too (their Fig. 6: the degradation
problem). Expected on Fashion-MNIST: the same ordering, not the numbers — residual
error falls or holds with depth while plain error rises.

Warm-up: the learning rate rises linearly from 0 to 0.1 over the first
``warmup_epochs`` (default 1; 0 turns it off), then follows the schedule above (the drops
stay at 50% and 75% of all steps). He et al. train their 110-layer net at 0.01 for about
400 iterations before going to 0.1; at lr 0.1 from step 0 the residual nets' loss spikes
in the first 10 steps, more the deeper the net (README.md), and the CPU budget's 390
steps leave little time to recover from it.

Budgets: the default ("gpu") trains ``EPOCHS`` = 30 epochs of all 60,000 images, 2
seeds packed with vmap. ``:cpu`` is what a 2-core CPU affords (ResNet-20 trains at
about 320 images/s there): the same nets and recipe on the first 10,000 training images
for 5 epochs (390 steps: 78 of warm-up, the lr ÷10 at steps 195 and 292), ``seeds``
(default 2; the README's table has 3) seeds one after another, float32, the test set
evaluated once at the end.
The training error is the mean over the last epoch's augmented batches (split
``train_epoch``), as the paper's Fig. 6 plots it.

Measured with ``:cpu,seeds=3`` (2026-12-04, mean of 3 seeds, test error %): ResNet 17.0 /
19.2 / 19.6 / 21.9, plain 19.6 / 23.1 / 29.7 / 41.9 at 20 / 32 / 44 / 56 layers — each
ResNet beats its plain twin in every seed, by more the deeper the net (−2.6 to −20.0
points, significant after Holm at 32 and 56). Without the warm-up (one seed, 2026-11-30)
ResNet-32 to 56 were 7–22 points worse than ResNet-20, and ResNet-20 to 44 worse than
their plain twins.
"""

from cnnlab.sweep import product, seeds, sweep
from cnnlab.config import base_config

EPOCHS = 30
CPU_TRAIN_SIZE, CPU_EPOCHS = 10_000, 5
BUDGETS = ("gpu", "cpu")


def _args(arg):
  """``budget`` (``:budget=cpu`` or a bare ``:cpu``), ``warmup_epochs`` and ``seeds``
  (``:cpu,warmup_epochs=0,seeds=1``)."""
  from cnnlab.config import config_args
  return config_args(arg, "experiments/he2016_depth/sweep.py", budget=BUDGETS,
                     warmup_epochs=1.0, seeds=2)


def get_config(arg=None):
  args = _args(arg)
  c = base_config("resnet_cifar")
  c.data.name = "fashion_mnist"
  c.data.augment = ("crop", "flip")
  c.data.crop_padding = 4
  c.optim.name, c.optim.momentum = "momentum", 0.9
  c.optim.lr, c.optim.l2 = 0.1, 1e-4
  c.optim.schedule, c.optim.boundaries = "piecewise", (0.5, 0.75)
  c.train.batch_size = 128
  c.train.num_epochs = EPOCHS
  c.train.dtype = "bfloat16"
  c.train.eval_every_steps = 0
  c.train.log_every_steps = 200
  c.train.checkpoint_every_steps = 2000
  if args.budget == "cpu":
    c.data.train_size = CPU_TRAIN_SIZE
    c.train.num_epochs = CPU_EPOCHS
    c.train.dtype = "float32"  # XLA's CPU backend has no fast bf16 convolutions
    c.train.eval_every_steps = 10**9  # the test set once, at the end
    c.train.log_every_steps = 50
    c.train.checkpoint_every_steps = 100
  train_size = c.data.train_size or 60_000
  c.optim.warmup_steps = round(args.warmup_epochs * (train_size // c.train.batch_size))
  return c


def get_sweep(arg=None):
  return product(sweep("model.shortcut", ["A", "none"]), sweep("model.depth", [20, 32, 44, 56]),
                 seeds(_args(arg).seeds))
