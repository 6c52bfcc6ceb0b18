"""Where a FashionNet training step spends its time on a CPU: each layer's forward and
backward, timed alone with the lab's ops under XLA (jitted) and in PyTorch, batch 100.

    python benchmarks/cpu_profile.py [--torch_path=DIR] [--out=benchmarks/RESULTS.md]

Layers, channels-last for JAX and NCHW for PyTorch: conv1 (28×28, 1→16, 5×5, pad 2),
pool1 (max 2), conv2 (14×14, 16→32), pool2, batch norm of conv2's output, and the
classifier (1568→10). For each, the forward alone and forward + backward (gradients
with respect to the input and the weights), median of 20 calls after warm-up.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from _tables import command, publish  # noqa: E402

B = 100


def _median_time(fn, *args, reps=20):
  out = fn(*args)
  jax.block_until_ready(out)
  times = []
  for _ in range(reps):
    t0 = time.perf_counter()
    jax.block_until_ready(fn(*args))
    times.append(time.perf_counter() - t0)
  return statistics.median(times)


def jax_layers():
  from cnnlab.ops import conv as conv_ops, pooling
  conv = lambda x, w: conv_ops.conv(x, w, None, 1, 2)  # the lab's own ops
  pool = lambda x: pooling.max_pool(x, 2)

  def bn(x, s):
    m = x.mean((0, 1, 2))
    v = x.var((0, 1, 2))
    return (x - m) * jax.lax.rsqrt(v + 1e-5) * s

  dense = lambda x, w: x.reshape(x.shape[0], -1) @ w
  r = np.random.default_rng(0)
  f32 = lambda *s: jnp.asarray(r.normal(size=s), jnp.float32)
  return {
      "conv1 28×28 1→16 5×5": (conv, f32(B, 28, 28, 1), f32(5, 5, 1, 16)),
      "pool1 max 2 (28×28×16)": (pool, f32(B, 28, 28, 16), None),
      "conv2 14×14 16→32 5×5": (conv, f32(B, 14, 14, 16), f32(5, 5, 16, 32)),
      "batch norm (14×14×32)": (bn, f32(B, 14, 14, 32), f32(32)),
      "pool2 max 2 (14×14×32)": (pool, f32(B, 14, 14, 32), None),
      "dense 1568→10": (dense, f32(B, 7, 7, 32), f32(1568, 10)),
  }


def time_jax(fn, x, w):
  if w is None:
    fwd = jax.jit(fn)
    bwd = jax.jit(jax.grad(lambda x: fn(x).sum()))
    return _median_time(fwd, x), _median_time(bwd, x)
  fwd = jax.jit(fn)
  bwd = jax.jit(jax.grad(lambda x, w: fn(x, w).sum(), argnums=(0, 1)))
  return _median_time(fwd, x, w), _median_time(bwd, x, w)


def time_torch(name):
  import torch
  import torch.nn.functional as F
  r = torch.Generator().manual_seed(0)
  t = lambda *s: torch.randn(*s, generator=r)
  layers = {
      "conv1 28×28 1→16 5×5": (lambda x, w: F.conv2d(x, w, padding=2), t(B, 1, 28, 28),
                               t(16, 1, 5, 5)),
      "pool1 max 2 (28×28×16)": (lambda x: F.max_pool2d(x, 2), t(B, 16, 28, 28), None),
      "conv2 14×14 16→32 5×5": (lambda x, w: F.conv2d(x, w, padding=2), t(B, 16, 14, 14),
                                t(32, 16, 5, 5)),
      "batch norm (14×14×32)": (lambda x, s: F.batch_norm(x, None, None, s, None, True),
                                t(B, 32, 14, 14), t(32)),
      "pool2 max 2 (14×14×32)": (lambda x: F.max_pool2d(x, 2), t(B, 32, 14, 14), None),
      "dense 1568→10": (lambda x, w: x.flatten(1) @ w, t(B, 32, 7, 7), t(1568, 10)),
  }
  fn, x, w = layers[name]
  args = [x] if w is None else [x, w]

  def fwd():
    with torch.no_grad():
      return fn(*args)

  def bwd():
    leaves = [a.detach().requires_grad_() for a in args]
    fn(*leaves).sum().backward()

  out = []
  for f in (fwd, bwd):
    for _ in range(3):
      f()
    times = []
    for _ in range(20):
      t0 = time.perf_counter()
      f()
      times.append(time.perf_counter() - t0)
    out.append(statistics.median(times))
  return out


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--torch_path", default="")
  p.add_argument("--no_torch", action="store_true")
  p.add_argument("--out", default=None)
  a = p.parse_args(argv)
  if a.torch_path:
    sys.path.insert(0, a.torch_path)
  rows, totals = [], np.zeros(4)
  for name, (fn, x, w) in jax_layers().items():
    jf, jb = time_jax(fn, x, w)
    tf, tb = (np.nan, np.nan) if a.no_torch else time_torch(name)
    totals += (jf, jb, tf, tb)
    rows.append([name, f"{jf * 1e3:.2f}", f"{jb * 1e3:.2f}", f"{tf * 1e3:.2f}", f"{tb * 1e3:.2f}",
                 f"{jb / tb:.1f}" if tb == tb else "—"])
  rows.append(["**sum**"] + [f"**{v * 1e3:.2f}**" for v in totals] +
              [f"**{totals[1] / totals[3]:.1f}**" if totals[3] == totals[3] else "—"])
  head = ["layer (batch 100)", "XLA fwd ms", "XLA fwd+bwd ms", "torch fwd ms",
          "torch fwd+bwd ms", "XLA / torch (fwd+bwd)"]
  env = [f"- {os.cpu_count()} CPU cores; jax {jax.__version__}; command: {command()}"]
  publish(env, head, rows, a.out)


if __name__ == "__main__":
  main()
