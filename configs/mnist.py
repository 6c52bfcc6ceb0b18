"""MNIST with the published recipes: LeNet-5 and the networks of Nielsen's ch. 6.

    python -m cnnlab.main --config=configs/mnist.py:lenet5
    python -m cnnlab.main --config=configs/mnist.py:nielsen_conv2 --config.model.act=relu

Nielsen, *Neural Networks and Deep Learning*, ch. 6 (``network3.py``): plain SGD,
mini-batch 10, 50,000 training images with the last 10,000 held out for
validation, cross-entropy on a softmax layer, L2 in Nielsen's form
``0.5·λ·Σw²/num_batches``. The book's figures (test accuracy at the epoch of best
validation accuracy, ``best.test_at_best_validation`` in result.json; his runs, one seed):

    model               recipe                                          book
    nielsen_fc          sigmoid, η 0.1, 60 epochs                       97.80%
    nielsen_conv1       sigmoid, η 0.1, 60 epochs                       98.78%
    nielsen_conv2       sigmoid, η 0.1, 60 epochs                       99.06%
    nielsen_conv2 relu  --config.model.act=relu --config.optim.lr=0.03
                        --config.optim.l2=0.1                           99.23%
    nielsen_conv2_fc2   relu, η 0.03, λ 0.1, expanded data, 60 epochs   99.43%
    nielsen_dropout     relu, η 0.03, λ 0.1, expanded data, dropout 0.5,
                        FC 1000-1000, 40 epochs                         99.60%

LeNet-5 (LeCun et al. 1998): the 28×28 digits centred in a 32×32 field
(``data.pad_to``), 20 epochs; the paper reports 0.95% test error without
distortions (99.05%). Its optimizer (stochastic diagonal Levenberg–Marquardt) is
replaced by SGD with momentum and a step decay.

Run time on a 2-core CPU: mini-batch 10 makes Nielsen's runs step-bound, about
5,000 steps per epoch; LeNet-5 at batch 32 takes about a minute per epoch. MNIST
is read from $CNNLAB_DATA_DIR/mnist/ (IDX files) or TFDS (online): it is not
shipped offline, so these figures are the published ones, not measured here.
"""

from cnnlab.config import base_config, config_args

NIELSEN = ("nielsen_fc", "nielsen_conv1", "nielsen_conv2", "nielsen_conv2_fc2",
           "nielsen_dropout")
ARGS = ("lenet5",) + NIELSEN


def get_config(arg: str = "lenet5"):
  arg = config_args(arg, "configs/mnist.py", model=ARGS).model
  c = base_config(arg)
  c.data.name = "mnist"
  c.train.log_every_steps = 1000
  if arg == "lenet5":
    c.data.pad_to = (32, 32)
    c.optim.name = "momentum"
    c.optim.lr = 0.01
    c.optim.schedule = "piecewise"
    c.optim.boundaries = (0.5, 0.75)
    c.train.batch_size = 32
    c.train.num_epochs = 20
    c.train.checkpoint_every_steps = 2000
    return c
  c.data.validation_size = 10000
  c.data.validation_from = "end"
  c.optim.name = "sgd"
  c.optim.lr = 0.1
  c.optim.l2_form = "nielsen"
  c.train.batch_size = 10
  c.train.num_epochs = 60
  c.train.checkpoint_every_steps = 5000
  if arg in ("nielsen_conv2_fc2", "nielsen_dropout"):
    c.model.act = "relu"
    c.optim.lr = 0.03
    c.optim.l2 = 0.1
    c.data.expand = "nielsen_shift"
  if arg == "nielsen_dropout":
    c.train.num_epochs = 40
  return c
