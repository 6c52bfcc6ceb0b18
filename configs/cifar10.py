"""CIFAR-10 with each CIFAR model's published recipe.

    python -m cnnlab.main --config=configs/cifar10.py:resnet56
    python -m cnnlab.main --config=configs/cifar10.py:resnet_cifar --config.model.depth=26 \
        --config.model.pool=max

Recipes (all with 4-pixel-padded random crops and horizontal flips, the whole
50,000-image training set, test accuracy after the last epoch):

    model                  recipe                                         published
    resnet20/32/44/56/110  He et al. 2016 §4.2: SGD momentum 0.9, lr 0.1,  91.25 / 92.49 / 92.83
    resnet1202, plain*,    L2 1e-4, batch 128, 64k steps (164 epochs),     / 93.03 / 93.57 /
    resnet_cifar           ÷10 at 32k and 48k; resnet110/1202 warm up      92.07% (resnet1202)
                           at lr 0.01 for 400 steps
    allcnn_a/b/c           Springenberg et al. 2015: SGD momentum 0.9,     All-CNN-C 92.75%
                           lr 0.05, L2 1e-3, 350 epochs, ÷10 at 200, 250,  (with augmentation)
                           300 (no ZCA whitening here)
    densenet_bc            Huang et al. 2017: Nesterov 0.9, lr 0.1,        95.49% (BC, L=100,
                           batch 64, L2 1e-4, 300 epochs, ÷10 at 50%, 75%  k=12)
    resnet18_cifar         SGD momentum 0.9, lr 0.1, L2 5e-4, batch 128,   ≈ 95% (common
                           200 epochs, cosine                              reimplementations)
    alexnet_cifar          cuda-convnet layers-18pct: momentum 0.9, lr     82% (no augmentation)
                           0.01, L2 4e-3, 100 epochs, ÷10 at 50%, 75%
    vgg8, inception_small  momentum 0.9, lr 0.05 / 0.1, L2 5e-4, 100       no published figure
                           epochs, cosine
    airbench94             Nesterov 0.9, lr 0.2, L2 5e-4, label smoothing  94.01% with airbench's
                           0.2, batch 512, 20 epochs one-cycle, flip +     own recipe (whitening
                           2-pixel translate                               init, Lookahead, TTA)

CIFAR-10 is read from $CNNLAB_DATA_DIR/cifar10/ (the python or binary release)
or TFDS (online); it is not shipped offline, so the figures above are the
published ones, not measured here. Run time: these are GPU-scale runs (tens to
hundreds of epochs of 50,000 images); docs/training.md records measured runs.
"""

from cnnlab.config import base_config, config_args

RESNETS = ("resnet20", "resnet32", "resnet44", "resnet56", "resnet110", "resnet1202",
           "resnet_cifar", "plain20", "plain56")
ARGS = RESNETS + ("allcnn_a", "allcnn_b", "allcnn_c", "densenet_bc", "resnet18_cifar",
                  "alexnet_cifar", "vgg8", "inception_small", "airbench94")


def get_config(arg: str = "resnet20"):
  arg = config_args(arg, "configs/cifar10.py", model=ARGS).model
  c = base_config(arg)
  c.data.name = "cifar10"
  c.data.augment = ("crop", "flip")
  c.data.crop_padding = 4
  c.optim.name = "momentum"
  c.optim.momentum = 0.9
  c.train.batch_size = 128
  c.train.log_every_steps = 200
  c.train.checkpoint_every_steps = 2000
  if arg in RESNETS:
    c.optim.lr, c.optim.l2 = 0.1, 1e-4
    c.optim.schedule, c.optim.boundaries = "piecewise", (0.5, 0.75)
    c.train.num_epochs, c.train.num_steps = 0, 64000
    if arg in ("resnet110", "resnet1202"):
      c.optim.warmup_steps = 400  # "0.01 until the training error is below 80%"
  elif arg.startswith("allcnn"):
    c.optim.lr, c.optim.l2 = 0.05, 1e-3
    c.optim.schedule, c.optim.boundaries = "piecewise", (200 / 350, 250 / 350, 300 / 350)
    c.train.num_epochs = 350
  elif arg == "densenet_bc":
    c.optim.name, c.optim.lr, c.optim.l2 = "nesterov", 0.1, 1e-4
    c.optim.schedule, c.optim.boundaries = "piecewise", (0.5, 0.75)
    c.train.batch_size, c.train.num_epochs = 64, 300
  elif arg == "resnet18_cifar":
    c.optim.lr, c.optim.l2, c.optim.schedule = 0.1, 5e-4, "cosine"
    c.train.num_epochs = 200
  elif arg == "airbench94":
    c.data.augment, c.data.max_shift = ("flip", "translate"), 2
    c.optim.name, c.optim.lr, c.optim.l2, c.optim.schedule = "nesterov", 0.2, 5e-4, "onecycle"
    c.train.batch_size, c.train.num_epochs, c.train.label_smoothing = 512, 20, 0.2
  elif arg == "alexnet_cifar":
    c.data.augment = ()
    c.optim.lr, c.optim.l2 = 0.01, 4e-3
    c.optim.schedule, c.optim.boundaries = "piecewise", (0.5, 0.75)
    c.train.num_epochs = 100
  else:  # vgg8, inception_small
    c.optim.lr = 0.05 if arg == "vgg8" else 0.1
    c.optim.l2, c.optim.schedule = 5e-4, "cosine"
    c.train.num_epochs = 100
  return c
