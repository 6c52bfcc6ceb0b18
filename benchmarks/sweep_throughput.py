"""The MNIST-1D pooling benchmark as a sweep: cnnlab's sweep runner against a PyTorch twin.

    python benchmarks/sweep_throughput.py --out=benchmarks/RESULTS.md            # seed 0: 60 runs
    python benchmarks/sweep_throughput.py --seeds=3 --out=benchmarks/RESULTS.md  # all 180 runs

The grid is ``experiments/mnist1d_pooling/sweep.py``'s (10 poolings × 6 training sizes ×
3 seeds; ``--seeds``, ``--sizes`` and ``--pools`` take a stated subset). Protocol: the
paper's ConvPooling, Adam 1e-2, batch 100, sequential batches, 6000 steps, test accuracy
every 250 steps, best of them.

* **cnnlab**: ``python -m cnnlab.sweep --config=<the subset> --workers=N`` exactly as a user
  runs it (a fresh sweep directory and a fresh compilation cache each round);
  **cnnlab-share** adds ``--pin_workers=share`` (each worker pinned to its share of the
  cores, XLA's thread pool sized to it: other rounding).
* **PyTorch**: the way a PyTorch user runs a sweep: a loop over the configs in a
  ``multiprocessing`` pool of N worker processes, ``torch.set_num_threads(cores // N)``,
  the twin of ``benchmarks/torch_nets.py`` (``ConvPooling1d``; its poolings are tested
  against cnnlab's ops), the paper's training loop.

Both read the same arrays (cnnlab's data cache, filled before timing). Frameworks alternate
(``--rounds``; the order flips each round) on the same cores. The table gives the wall
time, runs per hour, and where each run's worker time went, in seconds per run: process
start-up, data, set-up (model, optimizer, initialisation), compile, train, eval,
checkpoint, other (logging, the host loop), idle (a worker waiting: claiming a run, or done
while the others finish). A second table compares the best test accuracies per pooling.
PyTorch is a benchmark-only dependency.
"""

from __future__ import annotations

import argparse
import datetime
import json
import multiprocessing as mp
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Dict, List

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)

from _tables import command, publish  # noqa: E402

SWEEP = os.path.join(REPO, "experiments", "mnist1d_pooling", "sweep.py")
# cnnlab's runner as users launch it, and with workers pinned to their share of the cores
FRAMEWORKS = {"cnnlab": [], "cnnlab-share": ["--pin_workers=share"], "pytorch": None}
PARTS = ("start-up", "data", "setup", "compile", "train", "eval", "checkpoint", "other", "idle")


def grid(seeds: int, sizes: List[int], pools: List[str]) -> List[Dict]:
  """The benchmark's points (the pooling sweep's, filtered) as dicts of sweep paths."""
  sys.path.insert(0, REPO)
  from cnnlab.config import load_config_file
  module, _ = load_config_file(SWEEP)
  keep = lambda p: (p["seed"] < seeds and (not sizes or p["data.options.num_train"] in sizes)  # noqa: E731
                    and (not pools or label(p) in pools))
  return [p for p in module.get_sweep() if keep(p)]


def label(p: Dict) -> str:
  """``stride_2`` for the strided-convolution baseline, ``none`` for no pooling, else the pool."""
  return "stride_2" if p.get("model.conv_stride", 1) == 2 else p["model.pool"]


def write_subset(path: str, seeds: int, sizes: List[int], pools: List[str]) -> None:
  """A sweep config file holding the subset of the pooling sweep's points."""
  with open(path, "w") as f:
    f.write(f'''"""The MNIST-1D pooling sweep, {seeds} seed(s), sizes {sizes or "all"}, pools
{pools or "all"} (written by benchmarks/sweep_throughput.py)."""
import sys
sys.path.insert(0, {HERE!r})
from cnnlab.config import load_config_file
_module, _ = load_config_file({SWEEP!r})


def get_config():
  return _module.get_config()


def get_sweep():
  import sweep_throughput
  return sweep_throughput.grid({seeds}, {sizes!r}, {pools!r})
''')


def fill_data_cache(points: List[Dict], out_dir: str) -> Dict[int, str]:
  """Loads each training size once through cnnlab (filling its cache) and writes the arrays
  for the PyTorch side: ``{num_train: npz path}``."""
  from cnnlab.data.catalog import load_dataset
  paths = {}
  for n in sorted({p["data.options.num_train"] for p in points}):
    ds = load_dataset("mnist1d", num_train=n)
    paths[n] = os.path.join(out_dir, f"mnist1d-{n}.npz")
    np.savez(paths[n], x_train=ds.train.images[..., 0], y_train=ds.train.labels,
             x_test=ds.test.images[..., 0], y_test=ds.test.labels)
  return paths


# -- cnnlab: the sweep runner --------------------------------------------------------------


def run_cnnlab(config_file: str, work: str, workers: int, steps: int, eval_every: int,
               extra: List[str]) -> Dict:
  sweep_dir = os.path.join(work, "sweep")
  env = dict(os.environ, CNNLAB_COMPILATION_CACHE=os.path.join(work, "xla"))
  cmd = [sys.executable, "-m", "cnnlab.sweep", f"--config={config_file}",
         f"--workers={workers}", f"--sweep_dir={sweep_dir}",
         f"--config.train.num_steps={steps}", f"--config.train.eval_every_steps={eval_every}",
         *extra]
  t0 = time.time()
  subprocess.run(cmd, env=env, cwd=REPO, check=True, stdout=subprocess.DEVNULL)
  wall = time.time() - t0
  from cnnlab.sweep.planning import run_id as id_of
  con = sqlite3.connect(os.path.join(sweep_dir, "index.sqlite"))
  rows = con.execute("SELECT run_id, status, pid, started, updated, result FROM runs").fetchall()
  points = json.loads(con.execute("SELECT value FROM meta WHERE key = 'points'").fetchone()[0])
  con.close()
  point_of = {id_of(p): p for p in points}
  bad = [r[0] for r in rows if r[1] != "done"]
  if bad:
    raise RuntimeError(f"cnnlab runs not done: {bad[:3]} (see {sweep_dir}/logs)")
  parts = {k: 0.0 for k in PARTS}
  by_pid: Dict[int, List] = {}
  accs = {}
  for run_id, _, pid, started, updated, result in rows:
    r = json.loads(result)
    for k, v in r["time_breakdown_s"].items():
      parts[k] += v
    by_pid.setdefault(pid, []).append((started, updated))
    accs[key_of(point_of[run_id])] = r["best"]["test"]["accuracy"]
  busy = sum(parts.values())
  # A worker's time from the launch to the end: start-up until its first claim, then runs
  # (their result's wall time) and gaps (claiming, writing results, waiting at the end).
  parts["start-up"] = sum(min(s for s, _ in spans) - t0 for spans in by_pid.values())
  parts["idle"] = max(workers * wall - parts["start-up"] - busy, 0.0)
  return {"wall": wall, "runs": len(rows), "parts": parts, "acc": accs}


def key_of(p: Dict):
  return (label(p), p["data.options.num_train"], p["seed"])


# -- PyTorch: a loop over configs in a multiprocessing pool ------------------------------


def _torch_init(threads: int) -> None:
  import torch
  torch.set_num_threads(threads)
  torch.set_num_interop_threads(1)


def _torch_run(task):
  """One run of the paper's protocol in PyTorch; returns its accuracy and its times."""
  t_start = time.time()
  import torch
  import torch.nn.functional as F
  import torch_nets
  p, data_path, steps, eval_every = task
  t = time.time()
  d = np.load(data_path)
  x_train, y_train = torch.tensor(d["x_train"]), torch.tensor(d["y_train"]).long()
  x_test, y_test = torch.tensor(d["x_test"]), torch.tensor(d["y_test"]).long()
  data_s = time.time() - t
  t = time.time()
  torch.manual_seed(p["seed"])
  model = torch_nets.ConvPooling1d(p["model.pool"], p.get("model.conv_stride", 1))
  opt = torch.optim.Adam(model.parameters(), lr=1e-2)
  setup_s = time.time() - t
  train_s = eval_s = 0.0
  best = 0.0
  batch, n = 100, len(x_train)
  t = time.time()
  for step in range(1, steps + 1):
    bix = ((step - 1) * batch) % n  # the paper's sequential batches
    loss = F.cross_entropy(model(x_train[bix:bix + batch]), y_train[bix:bix + batch])
    opt.zero_grad()
    loss.backward()
    opt.step()
    if step % eval_every == 0:
      now = time.time()
      train_s += now - t
      model.eval()
      with torch.no_grad():
        acc = (model(x_test).argmax(-1) == y_test).float().mean().item()
      model.train()
      best = max(best, acc)
      t = time.time()
      eval_s += t - now
  train_s += time.time() - t
  end = time.time()
  return {"key": key_of(p), "acc": best, "pid": os.getpid(), "started": t_start, "ended": end,
          "data": data_s, "setup": setup_s, "train": train_s, "eval": eval_s,
          "other": (end - t_start) - data_s - setup_s - train_s - eval_s}


def run_torch(points: List[Dict], data: Dict[int, str], workers: int, threads: int, steps: int,
              eval_every: int) -> Dict:
  tasks = [(p, data[p["data.options.num_train"]], steps, eval_every) for p in points]
  t0 = time.time()
  with mp.get_context("spawn").Pool(workers, initializer=_torch_init,
                                    initargs=(threads,)) as pool:
    results = pool.map(_torch_run, tasks, chunksize=1)
  wall = time.time() - t0
  parts = {k: 0.0 for k in PARTS}
  first: Dict[int, float] = {}
  for r in results:
    for k in ("data", "setup", "train", "eval", "other"):
      parts[k] += r[k]
    first[r["pid"]] = min(first.get(r["pid"], r["started"]), r["started"])
  busy = sum(parts.values())
  parts["start-up"] = sum(s - t0 for s in first.values())
  parts["idle"] = max(workers * wall - parts["start-up"] - busy, 0.0)
  return {"wall": wall, "runs": len(results), "parts": parts,
          "acc": {r["key"]: r["acc"] for r in results}}


# -- the tables ---------------------------------------------------------------------------


def timing_rows(measured: Dict[str, List[Dict]], workers: int) -> List[List]:
  rows = []
  for fw, rounds in measured.items():
    wall = statistics.median(r["wall"] for r in rounds)
    runs = rounds[0]["runs"]
    per = {k: statistics.median(r["parts"][k] / r["runs"] for r in rounds) for k in PARTS}
    rows.append([fw, runs, workers, f"{wall:.0f} s", f"{runs * 3600 / wall:.0f}"]
                + [f"{per[k]:.2f}" for k in PARTS])
  return rows


def accuracy_rows(measured: Dict[str, List[Dict]]) -> List[List]:
  accs = {fw: rounds[-1]["acc"] for fw, rounds in measured.items()}
  if "cnnlab" not in accs or "pytorch" not in accs:
    return []
  a, b = accs["cnnlab"], accs["pytorch"]
  rows = []
  for pool in dict.fromkeys(k[0] for k in a):
    keys = [k for k in a if k[0] == pool and k in b]
    ma = 100 * np.mean([a[k] for k in keys])
    mb = 100 * np.mean([b[k] for k in keys])
    rows.append([pool, len(keys), f"{ma:.1f}", f"{mb:.1f}", f"{ma - mb:+.1f}"])
  keys = [k for k in a if k in b]
  diff = 100 * np.array([a[k] - b[k] for k in keys])
  rows.append(["all", len(keys), f"{100 * np.mean([a[k] for k in keys]):.1f}",
               f"{100 * np.mean([b[k] for k in keys]):.1f}",
               f"{diff.mean():+.1f} (per run: mean absolute Δ {np.abs(diff).mean():.1f})"])
  return rows


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--seeds", type=int, default=1, help="seeds per point (3: all 180 runs)")
  p.add_argument("--sizes", default="", help="training sizes, e.g. 1000,50000 (default all)")
  p.add_argument("--pools", default="", help="e.g. max,stride_2 (default all ten)")
  p.add_argument("--workers", type=int, default=2)
  p.add_argument("--torch_threads", type=int, default=0, help="default: cores // workers")
  p.add_argument("--frameworks", default="cnnlab,pytorch",
                 help=f"of {', '.join(FRAMEWORKS)}")
  p.add_argument("--rounds", type=int, default=1)
  p.add_argument("--steps", type=int, default=6000)
  p.add_argument("--eval_every", type=int, default=250)
  p.add_argument("--work_dir", default=None, help="default: a temporary directory, removed")
  p.add_argument("--out", default=None, help="append the tables to this Markdown file")
  a = p.parse_args(argv)
  sizes = [int(s) for s in a.sizes.split(",") if s]
  pools = [s for s in a.pools.split(",") if s]
  frameworks = [f for f in a.frameworks.split(",") if f]
  unknown = set(frameworks) - set(FRAMEWORKS)
  if unknown:
    p.error(f"--frameworks: unknown {sorted(unknown)}; valid: {', '.join(FRAMEWORKS)}")
  cores = os.cpu_count() or 1
  threads = a.torch_threads or max(cores // a.workers, 1)
  work = a.work_dir or tempfile.mkdtemp(prefix="sweep_throughput_")
  os.makedirs(work, exist_ok=True)
  try:
    points = grid(a.seeds, sizes, pools)
    if not points:
      p.error("--seeds/--sizes/--pools select no point of the pooling sweep")
    config_file = os.path.join(work, "pooling_subset.py")
    write_subset(config_file, a.seeds, sizes, pools)
    data = fill_data_cache(points, work)
    measured: Dict[str, List[Dict]] = {f: [] for f in frameworks}
    for k in range(a.rounds):
      for fw in (frameworks if k % 2 == 0 else frameworks[::-1]):
        print(f"round {k + 1}: {fw}, {len(points)} runs ...", flush=True)
        if fw.startswith("cnnlab"):
          r = run_cnnlab(config_file, os.path.join(work, f"{fw}_{k}"), a.workers, a.steps,
                         a.eval_every, FRAMEWORKS[fw])
        else:
          r = run_torch(points, data, a.workers, threads, a.steps, a.eval_every)
        print(f"  {r['wall']:.1f} s", flush=True)
        measured[fw].append(r)
  finally:
    if a.work_dir is None:
      shutil.rmtree(work, ignore_errors=True)
  import jax
  env = [f"### {datetime.date.today()}: {len(points)} runs ({a.seeds} seed(s)), {a.workers} "
         f"workers, {cores} cores, {a.steps} steps", "",
         command(), "",
         f"{platform.processor() or platform.machine()}, Python {platform.python_version()}, "
         f"jax {jax.__version__}" + (f", torch {_torch_version()} ({threads} thread(s) a "
                                     f"worker)" if "pytorch" in frameworks else "")
         + f"; median of {a.rounds} round(s), frameworks alternating."]
  walls = {fw: statistics.median(r["wall"] for r in rs) for fw, rs in measured.items()}
  if "pytorch" in walls:
    env += [""] + [f"{fw} / PyTorch wall time: **{w / walls['pytorch']:.2f}×**."
                   for fw, w in walls.items() if fw != "pytorch"]
  head = ["framework", "runs", "workers", "wall", "runs/h"] + [f"{k} s/run" for k in PARTS]
  publish(env, head, timing_rows(measured, a.workers), a.out)
  acc = accuracy_rows(measured)
  if acc:
    publish(["Best test accuracy (%), mean over the runs of each pooling:"],
            ["pooling", "runs", "cnnlab", "PyTorch", "Δ"], acc, a.out)
  return 0


def _torch_version() -> str:
  import torch
  return torch.__version__


if __name__ == "__main__":
  sys.exit(main())
