"""A training step against its arithmetic limit on this machine (issue 30).

    python benchmarks/step_limit.py [--pool=max] [--rounds=9] [--steps=1000]
    CNNLAB_CONV_FORM=xla python benchmarks/step_limit.py      # the step before issue 30's forms

The MNIST-1D pooling benchmark's step (ConvPooling, batch 100, Adam; the lab's own
``Run``, so it is the program the trainer compiles). Prints:

* the step's FLOPs (XLA's ``cost_analysis`` of the compiled program);
* its **GEMM limit**: the step traced with every convolution as im2col, and each of its
  matrix products (``dot_general``: forward, input and weight gradients, the head) timed
  alone at its own shapes; their sum is what the step's arithmetic costs at the speed
  this core multiplies matrices of those shapes (a step cannot beat it by much);
* the compiled step (one program, the same batch, called back to back) and the step
  through the trainer (``run.train``'s training time over ``--steps`` steps, the
  trainer's host path included), each as ms and as a multiple of the limit.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time

import jax
import jax.numpy as jnp
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def config(pool: str, steps: int):
  from cnnlab.config import load_config_file
  module, _ = load_config_file(os.path.join(ROOT, "experiments", "mnist1d_pooling", "sweep.py"))
  c = module.get_config()
  c.model.pool, c.data.options = pool, {"num_train": 1000}
  c.train.num_steps, c.train.eval_every_steps = steps, steps
  c.train.checkpoint_every_steps = 0
  return c


def _dots(jaxpr):
  """Every dot_general of a jaxpr and its sub-jaxprs: (lhs aval, rhs aval, params)."""
  for eqn in jaxpr.eqns:
    if eqn.primitive.name == "dot_general":
      yield eqn.invars[0].aval, eqn.invars[1].aval, eqn.params
    for v in eqn.params.values():
      for sub in (v if isinstance(v, (list, tuple)) else [v]):
        inner = getattr(sub, "jaxpr", sub)
        if hasattr(inner, "eqns"):
          yield from _dots(inner)


def _time_ms(fn, *args, rounds=9, min_s=0.1):
  jax.block_until_ready(fn(*args))
  t = time.perf_counter()
  jax.block_until_ready(fn(*args))
  calls = max(3, int(min_s / max(time.perf_counter() - t, 1e-6)))
  times = []
  for _ in range(rounds):
    t = time.perf_counter()
    for _ in range(calls):
      r = fn(*args)
    jax.block_until_ready(r)
    times.append((time.perf_counter() - t) / calls * 1e3)
  return statistics.median(times)


def gemm_limit_ms(c, state, args, rounds):
  from cnnlab.train.run import Run
  forced = os.environ.get("CNNLAB_CONV_FORM")
  os.environ["CNNLAB_CONV_FORM"] = "im2col"
  try:  # a fresh Run: a traced function would reuse its earlier trace, forms and all
    run = Run.build(c, log=lambda m: None)
    jaxpr = jax.make_jaxpr(run.train_loop.fn)(state, *args).jaxpr
  finally:
    if forced is None:
      del os.environ["CNNLAB_CONV_FORM"]
    else:
      os.environ["CNNLAB_CONV_FORM"] = forced
  total, flops, rows = 0.0, 0, []
  rng = np.random.default_rng(0)
  copies = 16  # independent copies in one program: the dispatch of a call (~25 µs) amortised
  for lhs, rhs, params in _dots(jaxpr):
    a = [jnp.asarray(rng.normal(size=lhs.shape), lhs.dtype) for _ in range(copies)]
    b = [jnp.asarray(rng.normal(size=rhs.shape), rhs.dtype) for _ in range(copies)]
    dn = params["dimension_numbers"]
    f = jax.jit(lambda a, b, dn=dn: [jax.lax.dot_general(x, y, dn) for x, y in zip(a, b)])
    ms = _time_ms(f, a, b, rounds=rounds, min_s=0.05) / copies
    contracted = int(np.prod([lhs.shape[i] for i in dn[0][0]]))
    fl = 2 * int(np.prod(f(a[:1], b[:1])[0].shape)) * contracted
    total, flops = total + ms, flops + fl
    rows.append((lhs.shape, rhs.shape, fl, ms))
  return total, flops, rows


def main(argv=None) -> None:
  ap = argparse.ArgumentParser()
  ap.add_argument("--pool", default="max")
  ap.add_argument("--rounds", type=int, default=9)
  ap.add_argument("--steps", type=int, default=1000)
  ap.add_argument("--verbose", action="store_true", help="print each GEMM")
  args = ap.parse_args(argv)
  from cnnlab.train import train
  from cnnlab.train.run import Run

  c = config(args.pool, args.steps)
  run = Run.build(c, log=lambda m: None)
  state = run.init_state()
  feed = run.feeds["train"]
  idx = np.arange(c.train.batch_size, dtype=np.int32)[None]
  step_args = feed(idx)
  compiled = run.train_loop.fn.lower(state, *step_args).compile()
  cost = compiled.cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  step_flops = float(cost.get("flops", float("nan")))
  limit, gemm_flops, rows = gemm_limit_ms(c, state, step_args, args.rounds)

  def step_once(s):
    return compiled(s, *step_args)[0]

  state = step_once(state)
  jax.block_until_ready(state)
  times = []
  for _ in range(args.rounds):
    t = time.perf_counter()
    for _ in range(200):
      state = step_once(state)
    jax.block_until_ready(state)
    times.append((time.perf_counter() - t) / 200 * 1e3)
  step_ms = statistics.median(times)

  workdir = tempfile.mkdtemp(prefix="step_limit_")
  try:
    result = train(c, workdir, log=lambda m: None)
  finally:
    shutil.rmtree(workdir, ignore_errors=True)
  trainer_ms = result.train_time_s / args.steps * 1e3

  form = os.environ.get("CNNLAB_CONV_FORM", "auto")
  print(f"MNIST-1D ConvPooling ({args.pool} pool), batch {c.train.batch_size}, "
        f"{jax.default_backend()}, jax {jax.__version__}, conv form {form}")
  if args.verbose:
    for lhs, rhs, fl, ms in rows:
      print(f"  GEMM {lhs} · {rhs}: {fl / 1e6:.2f} MFLOP, {ms * 1e3:.1f} µs, "
            f"{fl / ms / 1e6:.1f} GFLOP/s")
  print(f"step FLOPs (XLA cost analysis): {step_flops / 1e6:.1f} MFLOP; "
        f"its {len(rows)} GEMMs {gemm_flops / 1e6:.1f} MFLOP")
  print(f"GEMM limit: {limit:.3f} ms ({gemm_flops / limit / 1e6:.1f} GFLOP/s over the GEMMs)")
  best = max(fl / ms for _, _, fl, ms in rows) / 1e6
  print(f"(at the best rate among them, {best:.1f} GFLOP/s, the step's FLOPs would take "
        f"{step_flops / best / 1e6:.3f} ms)")
  print(f"compiled step: {step_ms:.3f} ms = {step_ms / limit:.2f}× the limit")
  print(f"through the trainer ({args.steps} steps): {trainer_ms:.3f} ms = "
        f"{trainer_ms / limit:.2f}× the limit")


if __name__ == "__main__":
  main()
