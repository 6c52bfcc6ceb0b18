"""The two-conv Fashion-MNIST convnets at ≈ 90–92%: FashionNet and the benchmark's convnet.

    python -m cnnlab.sweep --config=experiments/fashion_mnist_convnets/sweep.py --workers=2 \
        --sweep_dir=sweeps/fashion_mnist_convnets
    python -m cnnlab.report --sweep_dir=sweeps/fashion_mnist_convnets --rows=model.name \
        --cols=data.name --metric=test_accuracy \
        --published=experiments/fashion_mnist_convnets/published.json \
        --out_dir=experiments/fashion_mnist_convnets

Both nets with FashionNet's recipe (``configs/fashionnet.py``): Adam 1e-3 with cosine
decay, batch 100, 5 epochs, final test accuracy, 3 seeds. The benchmark convnet's own
protocol (plain SGD 1e-3, batch 400, 200,000 steps) is
``configs/fashionnet.py:fashion_benchmark_convnet``, a GPU-sized run (≈ 55 h here).
Expected: FashionNet ≈ 90.5%, the benchmark convnet ≈ 91.6% (published) or above.
Run time: about 30 minutes with 2 workers on a 2-core CPU (6 runs; the benchmark
convnet takes 5× FashionNet's FLOPs).
"""

import os

from cnnlab.sweep import product, seeds, sweep

_HERE = os.path.dirname(os.path.abspath(__file__))


def get_config():
  from cnnlab.config import load_config_file
  module, _ = load_config_file(os.path.join(_HERE, "..", "..", "configs", "fashionnet.py"))
  return module.get_config("fashionnet")


def get_sweep():
  return product(sweep("model.name", ["fashionnet", "fashion_benchmark_convnet"]), seeds(3))
