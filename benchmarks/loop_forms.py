"""Times one training step in the trainer's two loop forms, on whatever backend JAX has.

    python benchmarks/loop_forms.py [--model=fashionnet] [--batch=100] [--chunk=60]

Forms: ``step`` (one compiled program per step, the trainer's CPU form), ``scan1``
(the same step wrapped in a length-1 ``lax.scan``) and ``scan`` (``--chunk`` steps in
one ``lax.scan``, the accelerator form). Data: synthetic 28×28×1 images resident on
the device, batches gathered by index inside the program, as in the trainer.
Prints one JSON line: seconds per step for each form (median of 3 repeats).
"""

import argparse
import json
import time

import jax
import numpy as np
import optax

from cnnlab.models import create_model
from cnnlab.train.steps import StepSpec, create_state, make_steps, make_train_loop


def main():
  p = argparse.ArgumentParser()
  p.add_argument("--model", default="fashionnet")
  p.add_argument("--batch", type=int, default=100)
  p.add_argument("--chunk", type=int, default=60)
  a = p.parse_args()
  shape = (28, 28, 1)
  model = create_model(a.model, shape, num_classes=10)
  tx = optax.adam(1e-3)
  step, _ = make_steps(model, tx, StepSpec((0.5,), (0.3,), num_classes=10), jit=False)
  rng = np.random.default_rng(0)
  images = jax.device_put(rng.integers(0, 256, (6000,) + shape, dtype=np.uint8))
  labels = jax.device_put(rng.integers(0, 10, 6000).astype(np.int32))
  loop = make_train_loop(step)

  def scan1(state, images, labels, idx):  # force a scan even for one step
    def body(s, rows):
      return step(s, {"image": images[rows], "label": labels[rows]})
    return jax.lax.scan(body, state, idx)
  scan1 = jax.jit(scan1, donate_argnums=0)

  out = {"backend": jax.default_backend(), "device": str(jax.devices()[0]), "model": a.model,
         "batch": a.batch, "chunk": a.chunk}
  for form, fn, length in (("step", loop, 1), ("scan1", scan1, 1), ("scan", loop, a.chunk)):
    state = create_state(model, tx, jax.random.PRNGKey(0), shape)
    idx = rng.integers(0, 6000, (length, a.batch)).astype(np.int32)
    state, m = fn(state, images, labels, idx)  # compile and warm up
    np.asarray(m["loss"])
    times = []
    for _ in range(3):
      reps = max(1, 20 // length)
      t0 = time.perf_counter()
      for _ in range(reps):
        state, m = fn(state, images, labels, idx)
      np.asarray(m["loss"])
      times.append((time.perf_counter() - t0) / (reps * length))
    out[f"{form}_s_per_step"] = float(np.median(times))
  print(json.dumps(out))


if __name__ == "__main__":
  main()
