"""cnnlab's training step against PyTorch on the same net, batch, precision and optimizer.

    python benchmarks/vs_pytorch.py --nets=fashionnet,lenet5 --out=benchmarks/RESULTS.md
    python benchmarks/vs_pytorch.py --nets=resnet20,resnet56,resnet18_cifar --dtype=bfloat16 \
        --batch=512 --torch_modes=eager,default,reduce-overhead,max-autotune   # on a GPU

Both sides train from a synthetic uint8 data set resident on the device, gather each
batch by random index and normalise it on the device, and take an SGD step with
momentum 0.9 on softmax cross-entropy. cnnlab runs its own step
(:func:`cnnlab.train.steps.make_steps` + ``make_train_loop``, state donated) in the
trainer's loop form for the backend: one compiled program per step on CPU, ``--chunk``
steps per ``lax.scan`` elsewhere. PyTorch runs eager and each ``torch.compile`` mode
(``reduce-overhead`` is CUDA graphs: GPU only), channels-last on GPU, ``autocast`` for
bfloat16. Each net is checked to have the same parameter count on both sides.

Timing: warm-up and compilation first (reported as compile time), then ``--rounds``
rounds alternating the frameworks, ``--steps`` steps each, synchronised at the end;
the median round gives images/s. Achieved TFLOP/s is 3 × the forward FLOPs (XLA's cost
analysis of the cnnlab net) × images/s, and MFU divides it by a measured matmul peak
in the same precision. Prints a Markdown table with the environment and, with
``--out``, appends both to that file. PyTorch is a benchmark-only dependency.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _tables import command, publish  # noqa: E402
from cnnlab.models import MODELS, create_model  # noqa: E402
from cnnlab.models.summary import forward_flops  # noqa: E402
from cnnlab.ops.shapes import param_count  # noqa: E402
from cnnlab.train.steps import StepSpec, create_state, make_steps, make_train_loop  # noqa: E402

DATA = 4096  # examples resident on the device
LR, MOMENTUM = 0.01, 0.9


def matmul_peak(dtype) -> float:
  """FLOP/s of a large square matmul in ``dtype`` on JAX's default device."""
  n = 4096 if jax.default_backend() != "cpu" else 1024
  a = jnp.ones((n, n), dtype)
  f = jax.jit(lambda a: a @ a)
  f(a).block_until_ready()
  reps = 50 if jax.default_backend() != "cpu" else 5
  t0 = time.perf_counter()
  for _ in range(reps):
    out = f(a)
  out.block_until_ready()
  return 2 * n ** 3 * reps / (time.perf_counter() - t0)


class CnnlabRunner:
  def __init__(self, name, batch, dtype, chunk):
    spec = MODELS.get(name)
    self.shape = spec.input_shape
    self.model = create_model(name, self.shape, num_classes=10, dtype=dtype)
    tx = optax.sgd(LR, momentum=MOMENTUM)
    c = self.shape[-1]
    step, _ = make_steps(self.model, tx, StepSpec((0.5,) * c, (0.25,) * c, num_classes=10),
                         jit=False)
    self.loop = make_train_loop(step)
    self.state = create_state(self.model, tx, jax.random.PRNGKey(0), self.shape)
    self.params = param_count(self.state.params)
    rng = np.random.default_rng(0)
    self.images = jax.device_put(rng.integers(0, 256, (DATA,) + self.shape, dtype=np.uint8))
    self.labels = jax.device_put(rng.integers(0, 10, DATA).astype(np.int32))
    self.length = 1 if jax.default_backend() == "cpu" else chunk
    self.batch = batch
    self.rng = rng

  def run(self, steps):
    calls = max(1, steps // self.length)
    idx = self.rng.integers(0, DATA, (calls, self.length, self.batch)).astype(np.int32)
    idx = [jax.device_put(i) for i in idx]
    t0 = time.perf_counter()
    for i in idx:
      self.state, m = self.loop(self.state, self.images, self.labels, i)
    np.asarray(m["loss"])
    return calls * self.length * self.batch / (time.perf_counter() - t0)

  def memory(self):
    stats = jax.devices()[0].memory_stats() or {}
    peak = stats.get("peak_bytes_in_use")
    return f"{peak / 2**30:.2f} GiB (process peak)" if peak else "—"


class TorchRunner:
  def __init__(self, name, batch, dtype, mode, device, channels_last):
    import torch
    import torch_nets
    self.torch = torch
    self.device = device
    shape = MODELS.get(name).input_shape
    model = torch_nets.build(name).to(device)
    if channels_last:
      model = model.to(memory_format=torch.channels_last)
    self.params = torch_nets.param_count(model)
    self.opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    self.net = model if mode == "eager" else torch.compile(model, mode=mode)
    self.autocast = dtype == "bfloat16"
    self.batch = batch
    g = torch.Generator().manual_seed(0)
    self.images = torch.randint(0, 256, (DATA, shape[-1]) + tuple(shape[:-1]), generator=g,
                                dtype=torch.uint8).to(device)
    self.labels = torch.randint(0, 10, (DATA,), generator=g).to(device)
    self.channels_last = channels_last

  def step(self, idx):
    torch = self.torch
    x = (self.images[idx].float() / 255.0 - 0.5) / 0.25
    if self.channels_last:
      x = x.contiguous(memory_format=torch.channels_last)
    with torch.autocast(self.device, dtype=torch.bfloat16, enabled=self.autocast):
      loss = torch.nn.functional.cross_entropy(self.net(x), self.labels[idx])
    loss.backward()
    self.opt.step()
    self.opt.zero_grad(set_to_none=True)
    return loss

  def run(self, steps):
    torch = self.torch
    idx = torch.randint(0, DATA, (steps, self.batch)).to(self.device)
    self._sync()
    t0 = time.perf_counter()
    for i in range(steps):
      loss = self.step(idx[i])
    loss.item()
    self._sync()
    return steps * self.batch / (time.perf_counter() - t0)

  def _sync(self):
    if self.device == "cuda":
      self.torch.cuda.synchronize()

  def memory(self):
    if self.device != "cuda":
      return "—"
    return f"{self.torch.cuda.max_memory_allocated() / 2**30:.2f} GiB"


def timed(fn):
  t0 = time.perf_counter()
  out = fn()
  return out, time.perf_counter() - t0


def bench_net(name, a, peak, torch_modes):
  rows = []
  batch = a.batch or (100 if MODELS.get(name).input_shape[-1] == 1 else 512)
  dtype = jnp.bfloat16 if a.dtype == "bfloat16" else jnp.float32
  runners = {}
  mine, build_s = timed(lambda: CnnlabRunner(name, batch, dtype, a.chunk))
  _, warm_s = timed(lambda: mine.run(mine.length))  # compile + first call
  runners["cnnlab"] = (mine, build_s + warm_s)
  if torch_modes:
    import torch
    device = "cuda" if torch.cuda.is_available() else "cpu"
    for mode in torch_modes:
      if mode == "reduce-overhead" and device != "cuda":
        continue
      r, build_s = timed(lambda m=mode: TorchRunner(name, batch, a.dtype, m, device,
                                                    channels_last=device == "cuda"))
      if r.params != mine.params:
        raise SystemExit(f"{name}: PyTorch twin has {r.params:,} parameters, cnnlab "
                         f"{mine.params:,}: not the same net")
      _, warm_s = timed(lambda r=r: r.run(3))  # compile + warm-up
      runners[f"torch {mode}"] = (r, build_s + warm_s)
  ips = {k: [] for k in runners}
  for _ in range(a.rounds):  # alternate the frameworks round by round
    for k, (r, _) in runners.items():
      ips[k].append(r.run(a.steps))
  flops = 3 * forward_flops(mine.model, mine.shape)
  best_torch = max((statistics.median(v) for k, v in ips.items() if k != "cnnlab"), default=None)
  for k, (r, compile_s) in runners.items():
    med = statistics.median(ips[k])
    rows.append([name, batch, a.dtype, k, f"{med:,.0f}",
                 f"{med / best_torch:.2f}" if best_torch else "—",
                 f"{flops * med / 1e12:.3f}", f"{100 * flops * med / peak:.1f}%",
                 f"{compile_s:.1f}", r.memory(), f"{60000 / med:.2f}"])
  return rows


def environment(torch_modes):
  lines = [f"- date: {datetime.datetime.now().isoformat(timespec='seconds')}",
           f"- device: {jax.devices()[0].device_kind} ({jax.default_backend()}), "
           f"{os.cpu_count()} CPU cores, {platform.platform()}",
           f"- jax {jax.__version__}, python {platform.python_version()}",
           f"- command: {command()}"]
  if torch_modes:
    import torch
    lines.insert(2, f"- torch {torch.__version__} ({torch.get_num_threads()} CPU threads)")
  return lines


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--nets", default="fashionnet,lenet5")
  p.add_argument("--batch", type=int, default=0, help="default: 100 for 1-channel nets, else 512")
  p.add_argument("--dtype", choices=("float32", "bfloat16"), default="float32")
  p.add_argument("--rounds", type=int, default=5)
  p.add_argument("--steps", type=int, default=50, help="steps per round")
  p.add_argument("--chunk", type=int, default=50, help="steps per lax.scan off CPU")
  p.add_argument("--torch_modes", default="eager,default",
                 help="eager and torch.compile modes (default, reduce-overhead, max-autotune); "
                      "empty: cnnlab only")
  p.add_argument("--out", default=None, help="append the table to this Markdown file")
  a = p.parse_args(argv)
  modes = [m for m in a.torch_modes.split(",") if m]
  peak = matmul_peak(jnp.bfloat16 if a.dtype == "bfloat16" else jnp.float32)
  rows = []
  for name in a.nets.split(","):
    rows += bench_net(name, a, peak, modes)
  head = ["net", "batch", "dtype", "framework", "images/s", "× best torch", "TFLOP/s", "MFU",
          "compile + warm-up s", "memory", "s / 60k images"]
  publish(environment(modes) + [f"- matmul peak ({a.dtype}): {peak / 1e12:.3f} TFLOP/s"],
          head, rows, a.out)


if __name__ == "__main__":
  main()
