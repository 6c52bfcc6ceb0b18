"""One MNIST-1D ConvPooling run of the pooling benchmark's protocol at 1k training examples
(600 ten-step epochs): wall and training time, for comparing two versions of the trainer.

    git worktree add /tmp/before <commit>
    PYTHONPATH=/tmp/before python benchmarks/one_mnist1d_run.py /tmp/before   # alternate
    PYTHONPATH=.           python benchmarks/one_mnist1d_run.py .             # the two

The path names the checkout whose experiment config is read (``benchmarks/NOTES.md`` §8).
"""

import os
import shutil
import sys
import tempfile
import time

from cnnlab.config import load_config_file
from cnnlab.train import runtime, train


def main(root: str) -> None:
  runtime.enable_compilation_cache(os.path.join(tempfile.gettempdir(), "one_mnist1d_xla"))
  module, _ = load_config_file(os.path.join(root, "experiments", "mnist1d_pooling", "sweep.py"))
  c = module.get_config()
  c.model.pool, c.data.options = "max", {"num_train": 1000}
  workdir = tempfile.mkdtemp(prefix="one_mnist1d_")
  try:
    t = time.time()
    r = train(c, workdir, log=lambda m: None)
    print(f"{root}: wall {time.time() - t:.2f} s, training {r.train_time_s:.2f} s, best test "
          f"accuracy {r.value('best.test.accuracy'):.4f}")
  finally:
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
  main(sys.argv[1] if len(sys.argv) > 1 else ".")
