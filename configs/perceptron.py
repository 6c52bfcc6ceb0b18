"""Rosenblatt's perceptron on two classes of the 8×8 digits (3 vs 8), the perceptron rule.

    python -m cnnlab.main --config=configs/perceptron.py
    python -m cnnlab.main --config=configs/perceptron.py --config.data.classes="(0, 1)"

One linear threshold unit from w = 0, the ``perceptron`` loss, plain SGD at batch 1
and η = 1: each step is ``w ← w + s·x`` on a mistake and nothing otherwise (the
perceptron's decisions do not depend on η when it starts at zero). Data: scikit-learn's
bundled digits (offline; the last 360 images are the test set), classes 3 and 8
relabelled 0 and 1. Expected: the measured test accuracy is in docs/training.md ("Measured");
run time a few seconds on a 2-core CPU.
"""

from cnnlab.config import base_config


def get_config():
  c = base_config("perceptron")
  c.data.name = "digits"
  c.data.classes = (3, 8)
  c.train.loss = "perceptron"
  c.optim.name = "sgd"
  c.optim.lr = 1.0
  c.train.batch_size = 1
  c.train.num_epochs = 10
  c.train.eval_batch_size = 500
  c.train.log_every_steps = 500
  c.train.checkpoint_every_steps = 0
  return c
