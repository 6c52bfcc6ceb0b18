"""The ImageNet-scale models (AlexNet, VGG, ResNet-18/34/50) on Imagenette.

    python -m cnnlab.main --config=configs/imagenette.py:resnet18
    python -m cnnlab.main --config=configs/imagenette.py:vgg16 --config.model.pool=avg

ImageNet itself (1.28M images) does not fit the lab's in-memory data sets;
Imagenette (10 easy ImageNet classes, 9,469 train / 3,925 validation photos,
TFDS ``imagenette/320px-v2``) is its offline-cacheable stand-in: downloaded once
through TFDS, resized so the shorter side is size/0.875 and centre-cropped to
size×size (224; 227 for AlexNet), then cached. Training adds flips and
16-pixel-padded random crops.

Recipes follow the papers' ImageNet settings, scaled to the smaller set:
SGD momentum 0.9, batch 64, L2 5e-4 (AlexNet, VGG; Krizhevsky 2012, Simonyan &
Zisserman 2015) or 1e-4 (ResNet; He et al. 2016), lr 0.01 (AlexNet, VGG) or 0.1
with 5 warm-up epochs (ResNet), 90 epochs with ÷10 at 1/3 and 2/3.

Expected: no published Imagenette figure exists for these recipes; for
reference, the published ImageNet top-1 accuracies are AlexNet 59.3% (single
net), VGG-16 73.0%, ResNet-18/34/50 69.8 / 73.3 / 76.1% (torchvision's
reproductions). Run time: GPU-scale (90 epochs of 9,469 images at 224×224);
nothing here was measured on the 2-core CPU, which has no network to fetch the data.
"""

from cnnlab.config import base_config, config_args

ARGS = ("alexnet", "vgg11", "vgg13", "vgg16", "vgg19", "resnet18", "resnet34", "resnet50")


def get_config(arg: str = "resnet18"):
  choices = ("resnet18",) + tuple(a for a in ARGS if a != "resnet18")  # the default first
  arg = config_args(arg, "configs/imagenette.py", model=choices).model
  c = base_config(arg)
  c.data.name = "imagenette"
  c.data.options = {"size": 227 if arg == "alexnet" else 224}
  c.data.augment = ("crop", "flip")
  c.data.crop_padding = 16
  c.optim.name = "momentum"
  c.optim.momentum = 0.9
  c.optim.schedule = "piecewise"
  c.optim.boundaries = (1 / 3, 2 / 3)
  c.train.batch_size = 64
  c.train.num_epochs = 90
  c.train.eval_batch_size = 250
  c.train.log_every_steps = 100
  c.train.checkpoint_every_steps = 1000
  if arg.startswith("resnet"):
    c.optim.lr, c.optim.l2 = 0.1, 1e-4
    c.optim.warmup_steps = 5 * (9469 // 64)
  else:
    c.optim.lr, c.optim.l2 = 0.01, 5e-4
  return c
