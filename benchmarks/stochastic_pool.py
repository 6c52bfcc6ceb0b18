"""Where stochastic pooling's time goes: one (100, 40, 20) pool of MNIST-1D's ConvPooling.

    taskset -c 1 python benchmarks/stochastic_pool.py

Times (ms per call, jitted, 300 calls after a warm-up) the train-mode forward and
gradient, the test-mode forward, and pieces of samplers: ``jax.random.categorical``
over the windows (the Gumbel-max sampler used until issue 30), uniform and raw random
bits of the same size, and the patch extraction (``benchmarks/NOTES.md`` §8, §9).
"""

import time

import jax
import jax.numpy as jnp

from cnnlab.ops.pool_functions import extract_patches, stochastic_pool


def per_call_ms(f, *args, n: int = 300) -> float:
  jax.block_until_ready(f(*args))
  t = time.perf_counter()
  for _ in range(n):
    r = f(*args)
  jax.block_until_ready(r)
  return (time.perf_counter() - t) / n * 1e3


def main() -> None:
  x = jnp.abs(jax.random.normal(jax.random.PRNGKey(0), (100, 40, 20)))
  key = jax.random.PRNGKey(1)
  pool = lambda x, k: stochastic_pool(x, (2,), (2,), rng=k, train=True)  # noqa: E731
  cases = {
      "train forward": (jax.jit(pool), x, key),
      "train forward + gradient": (jax.jit(jax.grad(lambda x, k: pool(x, k).sum())), x, key),
      "test forward": (jax.jit(lambda x: stochastic_pool(x, (2,), (2,))), x),
      "categorical alone": (jax.jit(lambda k: jax.random.categorical(
          k, jnp.zeros((100, 20, 20, 2)), axis=-1)), key),
      "uniform alone": (jax.jit(lambda k: jax.random.uniform(k, (100, 20, 20, 2))), key),
      "random bits alone": (jax.jit(lambda k: jax.random.bits(k, (100, 20, 20, 2))), key),
      "patch extraction": (jax.jit(lambda x: extract_patches(x, (2,), (2,))), x),
  }
  for name, (f, *args) in cases.items():
    print(f"{name:26s} {per_call_ms(f, *args):.2f} ms")


if __name__ == "__main__":
  main()
