"""Which lowering of a convolution is fastest, per backend and shape (issue 30).

    python benchmarks/conv_forms.py [--shapes=mnist1d,fashionnet,resnet20] [--rounds=9]

For each convolution of the lab's nets (MNIST-1D ConvPooling and ConvBase, FashionNet,
ResNet-20, at their training batch), times forward + both gradients (``jax.vjp`` with a
fixed cotangent: what a training step computes) of each form in
``cnnlab.ops.conv.FORMS``, the forms alternating within each round; prints the median ms
of each, its ratio to ``xla``, and the form ``choose_form`` picks. Every form is first
checked equal to ``xla``. ``cnnlab.ops.conv.choose_form`` encodes what this measured
(RESULTS.md, "Convolution forms").
"""

import argparse
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

from cnnlab.ops import conv as C

# name: (input shape N,*spatial,C_in; window; C_out; strides; padding)
SHAPES = {
    "mnist1d": [
        ("conv1d_pool conv1", (100, 40, 1), (3,), 20, 1, "SAME"),
        ("conv1d_pool conv2", (100, 20, 20), (3,), 20, 1, "SAME"),
        ("conv1d_base conv1", (100, 40, 1), (5,), 25, 2, 1),
        ("conv1d_base conv2", (100, 19, 25), (3,), 25, 2, 1),
        ("conv1d_base conv3", (100, 10, 25), (3,), 25, 2, 1),
    ],
    "fashionnet": [
        ("fashionnet conv1", (100, 28, 28, 1), (5, 5), 16, 1, 2),
        ("fashionnet conv2", (100, 14, 14, 16), (5, 5), 32, 1, 2),
    ],
    "resnet20": [
        ("resnet20 stem", (128, 32, 32, 3), (3, 3), 16, 1, 1),
        ("resnet20 stage1", (128, 32, 32, 16), (3, 3), 16, 1, 1),
        ("resnet20 stage2", (128, 16, 16, 32), (3, 3), 32, 1, 1),
        ("resnet20 stage3", (128, 8, 8, 64), (3, 3), 64, 1, 1),
    ],
}


def step_fn(form, strides, padding):
  def f(x, k, ct):
    y, vjp = jax.vjp(lambda a, b: C.conv(a, b, strides=strides, padding=padding, form=form), x, k)
    return y, vjp(ct)
  return jax.jit(f)


def main(argv=None) -> None:
  ap = argparse.ArgumentParser()
  ap.add_argument("--shapes", default="mnist1d,fashionnet,resnet20")
  ap.add_argument("--rounds", type=int, default=9)
  ap.add_argument("--calls", type=int, default=0, help="calls per timing (0: about 0.2 s)")
  args = ap.parse_args(argv)
  print(f"backend {jax.default_backend()}, jax {jax.__version__}, {args.rounds} rounds; "
        "ms per forward + both gradients (median), ratio to xla")
  print("| convolution | input | " + " | ".join(C.FORMS) + " | best | choose_form |")
  print("|---|---|" + "---|" * (len(C.FORMS) + 2))
  for group in args.shapes.split(","):
    for name, shape, window, c_out, strides, padding in SHAPES[group]:
      rng = np.random.default_rng(0)
      x = jnp.asarray(rng.normal(size=shape), jnp.float32)
      k = jnp.asarray(rng.normal(size=window + (shape[-1], c_out)) * 0.1, jnp.float32)
      y = C.conv(x, k, strides=strides, padding=padding, form="xla")
      ct = jnp.asarray(rng.normal(size=y.shape), jnp.float32)
      fns = {f: step_fn(f, strides, padding) for f in C.FORMS}
      ref = fns["xla"](x, k, ct)
      for f, fn in fns.items():  # compile, and check equality before timing
        for a, b in zip(jax.tree_util.tree_leaves(fn(x, k, ct)), jax.tree_util.tree_leaves(ref)):
          scale = float(jnp.abs(b).max()) or 1.0  # sums over a whole batch: relative to it
          np.testing.assert_allclose(a / scale, b / scale, atol=1e-5, err_msg=f"{name} {f}")
      calls = args.calls
      if not calls:
        t = time.perf_counter()
        jax.block_until_ready(fns["xla"](x, k, ct))
        calls = max(3, int(0.2 / max(time.perf_counter() - t, 1e-5)))
      times = {f: [] for f in C.FORMS}
      for _ in range(args.rounds):
        for f, fn in fns.items():
          t = time.perf_counter()
          for _ in range(calls):
            r = fn(x, k, ct)
          jax.block_until_ready(r)
          times[f].append((time.perf_counter() - t) / calls * 1e3)
      med = {f: statistics.median(v) for f, v in times.items()}
      best = min(med, key=med.get)
      cells = " | ".join(f"{med[f]:.3f} ({med[f] / med['xla']:.2f}×)" for f in C.FORMS)
      print(f"| {name} | {shape} | {cells} | {best} | "
            f"{C.choose_form(shape, k.shape)} |", flush=True)


if __name__ == "__main__":
  main()
