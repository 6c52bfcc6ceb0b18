"""He et al. (2016), CIFAR-10 §4.2: plain vs residual nets of 20, 32, 44 and 56 layers.

    python -m cnnlab.sweep --config=experiments/he2016_depth/sweep.py --pack_seeds \
        --sweep_dir=sweeps/he2016_depth          # on a GPU (the device tool's H100)
    python -m cnnlab.report --sweep_dir=sweeps/he2016_depth --rows=model.depth \
        --cols=model.shortcut --metric=test_accuracy --as_error \
        --published=experiments/he2016_depth/published.json --out_dir=experiments/he2016_depth

The paper's recipe (``configs/cifar10.py:resnet_cifar``: SGD momentum 0.9, lr 0.1,
L2 1e-4, batch 128, ÷10 at 50% and 75% of training; 4-pixel-padded random crops and
horizontal flips) on Fashion-MNIST (28×28×1), with ``shortcut`` "A" (residual, the
paper's option A) or "none" (plain), over ``EPOCHS`` epochs instead of the paper's
164 (64k steps) so that all 8 nets × 2 seeds fit one GPU session (seeds packed with
vmap). Published (CIFAR-10 test error %): ResNet 8.75 / 7.51 / 7.17 / 6.97 (20 / 32 /
44 / 56 layers, 6.43 at 110); the plain nets get worse with depth (their Fig. 6:
plain-56 above plain-20). Expected on Fashion-MNIST: the same ordering, not the
numbers — residual error falls or holds with depth while plain error rises.
Run time: GPU only (on a 2-core CPU a ResNet-56 epoch takes tens of minutes).
"""

from cnnlab.sweep import product, seeds, sweep
from cnnlab.train.config import base_config

EPOCHS = 30


def get_config():
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
  return c


def get_sweep():
  return product(sweep("model.shortcut", ["A", "none"]), sweep("model.depth", [20, 32, 44, 56]),
                 seeds(2))
