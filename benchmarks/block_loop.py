"""ResNet blocks as one ``nn.scan`` loop vs unrolled: step time and compile time.

    python benchmarks/block_loop.py [--depths=20,56] [--batch=128] [--out=benchmarks/RESULTS.md]

The CIFAR ResNets keep a stage's identical blocks as one ``nn.scan`` (stacked
parameters); ``block_loop`` (``cnnlab/models/resnet.py``) runs that scan as a loop
("scan") or as straight-line code ("unroll"), same parameters. This times the lab's
own training step (``make_steps`` + ``make_train_loop``: SGD momentum, batch norm,
28×28×1 inputs resident on the device) in both forms on whatever backend JAX has:
compile + first step, then seconds per step (median of 3 repeats).
"""

import argparse
import platform
import time

import jax
import numpy as np
import optax

from cnnlab.models import create_model
from cnnlab.train.steps import StepSpec, create_state, make_steps, make_train_loop

try:
  from benchmarks._tables import command, publish
except ImportError:  # run as a script from the repository root
  from _tables import command, publish

SHAPE = (28, 28, 1)


def time_form(depth: int, loop: str, batch: int, steps: int):
  model = create_model("resnet_cifar", SHAPE, depth=depth, num_classes=10, block_loop=loop)
  tx = optax.sgd(0.1, momentum=0.9)
  step, _ = make_steps(model, tx, StepSpec((0.5,), (0.3,), num_classes=10), jit=False)
  run = make_train_loop(step)
  rng = np.random.default_rng(0)
  images = jax.device_put(rng.integers(0, 256, (4 * batch,) + SHAPE, dtype=np.uint8))
  labels = jax.device_put(rng.integers(0, 10, 4 * batch).astype(np.int32))
  idx = rng.integers(0, 4 * batch, (1, batch)).astype(np.int32)
  state = create_state(model, tx, jax.random.PRNGKey(0), SHAPE)
  t0 = time.perf_counter()
  state, m = run(state, images, labels, idx)
  np.asarray(m["loss"])
  compile_s = time.perf_counter() - t0
  times = []
  for _ in range(3):
    t0 = time.perf_counter()
    for _ in range(steps):
      state, m = run(state, images, labels, idx)
    np.asarray(m["loss"])
    times.append((time.perf_counter() - t0) / steps)
  return compile_s, float(np.median(times))


def main(argv=None):
  p = argparse.ArgumentParser()
  p.add_argument("--depths", default="20,56")
  p.add_argument("--batch", type=int, default=128)
  p.add_argument("--steps", type=int, default=3)
  p.add_argument("--out", default=None)
  a = p.parse_args(argv)
  rows = []
  for depth in (int(d) for d in a.depths.split(",")):
    res = {loop: time_form(depth, loop, a.batch, a.steps) for loop in ("scan", "unroll")}
    for loop, (compile_s, step_s) in res.items():
      rows.append([f"ResNet-{depth}", loop, f"{compile_s:.1f}", f"{step_s:.3f}",
                   f"{a.batch / step_s:,.0f}", f"{res['scan'][1] / step_s:.1f}"])
  env = [f"- date: {time.strftime('%Y-%m-%dT%H:%M:%S')}",
         f"- device: {jax.devices()[0].device_kind} ({jax.default_backend()}), "
         f"{platform.platform()}; jax {jax.__version__}",
         f"- command: {command()}; batch {a.batch}, median of 3 repeats of {a.steps} steps"]
  publish(env, ["net", "block_loop", "compile + first step s", "s / step", "images/s",
                "speed-up over scan"], rows, a.out)


if __name__ == "__main__":
  main()
