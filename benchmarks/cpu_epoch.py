"""The FashionNet epoch on a CPU: cnnlab's trainer under XLA CPU variants, against PyTorch.

    python benchmarks/cpu_epoch.py --out=benchmarks/RESULTS.md

Each cnnlab variant runs ``python -m cnnlab.main --config=configs/fashionnet.py`` (the
real trainer and data: Fashion-MNIST, batch 100, Adam) for ``--steps`` steps in a
fresh process with its ``XLA_FLAGS`` (they must be set before JAX starts) and config
overrides (``configs/fashionnet.py`` sets ``train.cpu_devices=0``: one host device per
core; the single-device variants pass ``train.cpu_devices=1``; the "lax.conv" ones set
``CNNLAB_CONV_FORM=xla``, the convolution form issue 30 replaced on small patches) and reads
``train_images_per_s`` from its result.json (warm-up excluded); an epoch is
60,000 / that. PyTorch trains the same net (``benchmarks/torch_nets.py``) eagerly, as
a plain loop over the same data held in memory, batch 100, Adam. Variants and
frameworks alternate over ``--rounds`` rounds; the table gives the median.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from _tables import command, publish  # noqa: E402

REPO = os.path.dirname(HERE)

ONE = ("--config.train.cpu_devices=1",)  # FashionNet's config splits over the cores unless told
XLA = ("CNNLAB_CONV_FORM=xla",)  # every convolution as lax.conv (cnnlab/ops/conv.py)
VARIANTS = {  # name: (XLA_FLAGS, config overrides and NAME=value environment settings)
    "config default (train.cpu_devices=0: a host device per core)": ("", ()),
    "config default, every conv lax.conv": ("", XLA),
    "default (one device)": ("", ONE),
    "one device, every conv lax.conv": ("", ONE + XLA),
    "2 host devices, data-parallel": ("--xla_force_host_platform_device_count=2", ONE),
    "oneDNN": ("--xla_cpu_use_onednn=true", ONE),
    "XNNPACK": ("--xla_cpu_use_xnnpack=true", ONE),
    "Eigen single-threaded": ("--xla_cpu_multi_thread_eigen=false", ONE),
    "concurrency-optimised scheduler":
        ("--xla_cpu_enable_concurrency_optimized_scheduler=true", ONE),
    "2 host devices + XNNPACK":
        ("--xla_force_host_platform_device_count=2 --xla_cpu_use_xnnpack=true", ONE),
}

TORCH_SCRIPT = r"""
import sys, time, json
sys.path.insert(0, {here!r})
import numpy as np, torch, torch_nets
from cnnlab.data import load_dataset
ds = load_dataset("fashion_mnist")
x = torch.as_tensor(ds.train.images).permute(0, 3, 1, 2).contiguous()
y = torch.as_tensor(ds.train.labels.astype(np.int64))
net = torch_nets.build("fashionnet"); opt = torch.optim.Adam(net.parameters(), 1e-3)
order = torch.randperm(len(y))
def run(steps, start):
  for i in range(start, start + steps):
    idx = order[i * 100:(i + 1) * 100]
    xb = (x[idx].float() / 255.0 - 0.286) / 0.353
    loss = torch.nn.functional.cross_entropy(net(xb), y[idx])
    opt.zero_grad(set_to_none=True); loss.backward(); opt.step()
  return loss.item()
run(10, 0)  # warm-up
t0 = time.perf_counter(); run({steps}, 10); dt = time.perf_counter() - t0
print(json.dumps({{"images_per_s": {steps} * 100 / dt, "threads": torch.get_num_threads(),
                  "torch": torch.__version__}}))
"""


def run_cnnlab(variant, steps: int) -> float:
  flags, settings = variant
  overrides = [o for o in settings if o.startswith("--")]
  extra_env = dict(o.split("=", 1) for o in settings if not o.startswith("--"))
  work = tempfile.mkdtemp(prefix="cpu_epoch_")
  try:
    env = {**os.environ, "XLA_FLAGS": flags, "JAX_PLATFORMS": "cpu", **extra_env}
    cmd = [sys.executable, "-m", "cnnlab.main", "--config=configs/fashionnet.py",
           f"--workdir={work}/run", "--config.train.num_epochs=0",
           f"--config.train.num_steps={steps}", "--config.train.checkpoint_every_steps=0",
           "--config.train.log_every_steps=0", f"--config.train.eval_every_steps={steps}",
           "--compilation_cache_dir=", *overrides]
    out = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True)
    if out.returncode:
      raise RuntimeError(out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "failed")
    with open(os.path.join(work, "run", "result.json")) as f:
      return json.load(f)["train_images_per_s"]
  finally:
    shutil.rmtree(work, ignore_errors=True)


def _settings(variant) -> str:
  flags, overrides = variant
  return " ".join(f"`{x}`" for x in (flags, *overrides) if x) or "—"


def run_torch(steps: int, pythonpath: str):
  env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (pythonpath, REPO) if p)}
  out = subprocess.run([sys.executable, "-c", TORCH_SCRIPT.format(here=HERE, steps=steps)],
                       env=env, cwd=REPO, capture_output=True, text=True)
  if out.returncode:
    raise RuntimeError(out.stderr.strip().splitlines()[-1])
  return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--steps", type=int, default=200)
  p.add_argument("--rounds", type=int, default=2)
  p.add_argument("--variants", default="all", help="names separated by ;, or all")
  p.add_argument("--torch_path", default="", help="PYTHONPATH entry holding torch, if apart")
  p.add_argument("--no_torch", action="store_true")
  p.add_argument("--out", default=None)
  a = p.parse_args(argv)
  names = list(VARIANTS) if a.variants == "all" else a.variants.split(";")
  unknown = [n for n in names if n not in VARIANTS]
  if unknown:
    p.error(f"unknown variant(s) {unknown}; valid: {'; '.join(VARIANTS)}")
  ips = {n: [] for n in names}
  errors = {}
  torch_ips, torch_info = [], {}
  for _ in range(a.rounds):
    if not a.no_torch:
      info = run_torch(a.steps, a.torch_path)
      torch_ips.append(info["images_per_s"])
      torch_info = info
    for n in names:
      if n in errors:
        continue
      try:
        ips[n].append(run_cnnlab(VARIANTS[n], a.steps))
      except RuntimeError as e:
        errors[n] = str(e)
  torch_epoch = 60000 / statistics.median(torch_ips) if torch_ips else None
  rows = []
  if torch_ips:
    rows.append(["PyTorch eager (same net, Adam)", "—", f"{statistics.median(torch_ips):,.0f}",
                 f"{torch_epoch:.1f}", "1.00"])
  for n in names:
    if n in errors:
      rows.append([n, _settings(VARIANTS[n]), "error: " + errors[n][:80], "—", "—"])
      continue
    med = statistics.median(ips[n])
    ratio = f"{(60000 / med) / torch_epoch:.2f}" if torch_epoch else "—"
    rows.append([n, _settings(VARIANTS[n]), f"{med:,.0f}",
                 f"{60000 / med:.1f}", ratio])
  head = ["variant", "XLA_FLAGS / config", "images/s", "s / epoch", "× PyTorch epoch time"]
  import jax
  env = [f"- date: {datetime.datetime.now().isoformat(timespec='seconds')}",
         f"- {os.cpu_count()} CPU cores, {platform.platform()}; jax {jax.__version__}"
         + (f", torch {torch_info.get('torch')} ({torch_info.get('threads')} threads)"
            if torch_info else ""),
         f"- command: {command()}; median of {a.rounds} rounds of "
         f"{a.steps} steps"]
  publish(env, head, rows, a.out)


if __name__ == "__main__":
  main()
