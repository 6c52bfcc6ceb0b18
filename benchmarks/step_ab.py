"""An in-process A/B of the compiled MNIST-1D step: variants set by environment variables.

    taskset -c 1 python benchmarks/step_ab.py "" "CNNLAB_CONV_FORM=xla"

Each argument is a variant (``NAME=VALUE,...``; ``""`` the default): its ``Run`` is built
and its step compiled with those variables set, then the variants alternate over 15
rounds of 200 steps in one process (this VM's speed varies between processes); prints
each variant's median ms a step and its ratio to the first (``benchmarks/NOTES.md`` §9).
"""

import os
import statistics
import sys
import time

import jax
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from step_limit import config  # noqa: E402


def main(variants, rounds: int = 15, steps: int = 200) -> None:
  from cnnlab.train.run import Run
  c = config(os.environ.get("POOL", "max"), 1000)
  built = []
  for v in variants:
    env = dict(kv.split("=", 1) for kv in v.split(",") if kv)
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
      run = Run.build(c, log=lambda m: None)
      state = run.init_state()
      args = run.feeds["train"](np.arange(c.train.batch_size, dtype=np.int32)[None])
      compiled = run.train_loop.fn.lower(state, *args).compile()
    finally:
      for k, val in old.items():
        if val is None:
          os.environ.pop(k, None)
        else:
          os.environ[k] = val
    built.append([compiled, state, args])
  times = [[] for _ in built]
  for _ in range(rounds):
    for i, b in enumerate(built):
      compiled, state, args = b
      t = time.perf_counter()
      for _ in range(steps):
        state = compiled(state, *args)[0]
      jax.block_until_ready(state)
      b[1] = state
      times[i].append((time.perf_counter() - t) / steps * 1e3)
  base = statistics.median(times[0])
  for v, t in zip(variants, times):
    m = statistics.median(t)
    print(f"{v or 'default':32s} {m:.3f} ms ({m / base:.2f}×)")


if __name__ == "__main__":
  main(sys.argv[1:] or [""])
