"""FashionNet on Fashion-MNIST (Adam 1e-3 with cosine decay, batch 100, cross-entropy): ≈ 90%.

    python -m cnnlab.main --config=configs/fashionnet.py --workdir=runs/fashionnet

Data: Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist), files in
$CNNLAB_DATA_DIR/fashion_mnist/, or TFDS. Expected: ≥ 90% test accuracy after 5
epochs (measured 90.5%, README "Results"). Run time on a 2-core CPU: about 37 s
per epoch, 3–4 minutes in all.
"""

from cnnlab.train.config import base_config


def get_config():
  c = base_config("fashionnet")
  c.data.name = "fashion_mnist"
  c.optim.name = "adam"
  c.optim.lr = 1e-3
  # Constant 1e-3 measured 89.9% after epoch 4 but 89.3% after epoch 5 (noisy end);
  # a cosine decay to 0 over the run settles the last epoch.
  c.optim.schedule = "cosine"
  c.train.batch_size = 100
  c.train.num_epochs = 5
  c.train.log_every_steps = 200
  c.train.checkpoint_every_steps = 600
  return c
