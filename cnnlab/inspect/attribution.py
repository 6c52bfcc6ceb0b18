"""Which input pixels a trained net's outputs (or one feature) answer to.

* :func:`saliency` (Simonyan et al. 2014): the gradient of a class score;
  :func:`smoothgrad` (Smilkov et al. 2017): its mean over noisy copies of the input.
* :func:`integrated_gradients` (Sundararajan et al. 2017): the path integral of the
  gradient from a baseline, by Gauss–Legendre quadrature; its completeness error
  (``Σ attributions`` against ``f(x) − f(baseline)``) is returned with it.
* :func:`occlusion` (Zeiler & Fergus 2014, Fig. 7): the class probability with a patch
  of the input replaced by the baseline, for every patch position.
* :func:`projection`: a feature's strongest activation projected back to the input by
  ``"deconvnet"`` (Zeiler & Fergus 2014), ``"guided"`` backprop (Springenberg et al.
  2015) or the plain ``"gradient"``.

Backward rules through an activation ``a = φ(z)`` with upstream signal ``g``:

==============  ===========================================================================
gradient        ``φ'(z)·g``
guided          ``φ'(z)·max(g, 0)``: for ReLU Springenberg's ``[z > 0]·[g > 0]·g``
deconvnet       ``max(g, 0)`` where φ's declared range is non-negative (ReLU, sigmoid,
                softplus, relu6, |tanh|: the rectification mirrors the forward's), ``g``
                where it includes negatives (tanh, leaky_relu, gelu, silu, …: a signed
                activation carries sign both ways, so nothing is rectified)
==============  ===========================================================================

The rules are ``jax.custom_vjp`` functions put in place of every ``Act`` module's call
by ``flax.linen.intercept_methods``: models are not changed. Pooling keeps its own
gradient, which for max-like pools routes the signal through the switches (the argmax
of each window) as the deconvnet does. Everything runs in batches of ``batch_size``
examples, so memory stays bounded whatever the number of examples.
"""

from __future__ import annotations

import functools
from typing import Callable, Optional, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from cnnlab.layers import Act
from cnnlab.ops.activations import get_activation

RULES = ("gradient", "guided", "deconvnet")


def backward_rule(act: str, rule: str) -> Callable[[jax.Array], jax.Array]:
  """The activation ``act`` with the backward ``rule`` (same forward values)."""
  if rule not in RULES:
    raise ValueError(f"backward rule {rule!r} unknown; valid: {', '.join(RULES)}")
  spec = get_activation(act)
  fn = spec
  if rule == "gradient":
    return fn
  rectify = rule == "guided" or spec.nonnegative

  @jax.custom_vjp
  def f(z):
    return fn(z)

  def fwd(z):
    y, vjp = jax.vjp(fn, z)
    return y, vjp

  def bwd(vjp, g):
    g = jnp.maximum(g, 0) if rectify else g
    return (vjp(g)[0] if rule == "guided" else g,)

  f.defvjp(fwd, bwd)
  return f


def rule_in_place(rule: str):
  """A context in which every ``Act`` module computes with the backward ``rule``."""
  def swap(next_fun, args, kwargs, context):
    if rule != "gradient" and isinstance(context.module, Act) and \
        context.method_name == "__call__":
      return backward_rule(context.module.fn, rule)(*args)
    return next_fun(*args, **kwargs)
  return nn.intercept_methods(swap)


def apply_with_rule(model, variables, x, rule: str = "gradient", **kwargs):
  """``model.apply`` in eval mode with every ``Act`` module's backward ``rule``."""
  with rule_in_place(rule):
    return model.apply(variables, x, train=False, **kwargs)


def _batches(n: int, batch_size: int):
  for i in range(0, n, batch_size):
    yield slice(i, min(i + batch_size, n))


@functools.partial(jax.jit, static_argnums=(0,))
def _class_grad(model, variables, x, target):
  def score(z):
    out = model.apply(variables, z, train=False)
    return jnp.take_along_axis(out, target[:, None], axis=1).sum(), out
  return jax.grad(score, has_aux=True)(x)


def saliency(model, variables, x, target, batch_size: int = 64) -> np.ndarray:
  """``∂ score[target] / ∂ x`` per example (x already preprocessed)."""
  x, target = np.asarray(x), np.asarray(target, np.int32)
  out = [np.asarray(_class_grad(model, variables, x[s], target[s])[0])
         for s in _batches(len(x), batch_size)]
  return np.concatenate(out)


def smoothgrad(model, variables, x, target, samples: int = 32, noise: float = 0.15,
               seed: int = 0, batch_size: int = 64) -> np.ndarray:
  """The mean saliency over ``samples`` copies of each input with Gaussian noise of
  ``noise`` × the input's range (Smilkov et al.'s 10–20%)."""
  x, target = np.asarray(x, np.float32), np.asarray(target, np.int32)
  rng = np.random.default_rng(seed)
  total = np.zeros_like(x)
  scale = noise * (x.max(axis=tuple(range(1, x.ndim)), keepdims=True)
                   - x.min(axis=tuple(range(1, x.ndim)), keepdims=True))
  for _ in range(samples):
    noisy = x + rng.standard_normal(x.shape).astype(np.float32) * scale
    total += saliency(model, variables, noisy, target, batch_size)
  return total / samples


def integrated_gradients(model, variables, x, target, baseline=None, steps: int = 64,
                         batch_size: int = 64) -> Tuple[np.ndarray, np.ndarray]:
  """``(attributions, completeness error)``: ``(x − x₀)·∫₀¹ ∇f(x₀ + α(x − x₀)) dα`` with
  ``steps`` Gauss–Legendre nodes, and per example ``Σ attributions − (f(x) − f(x₀))``.

  ``baseline`` defaults to zeros (the data set's mean, once normalised)."""
  x, target = np.asarray(x, np.float32), np.asarray(target, np.int32)
  x0 = np.zeros_like(x) if baseline is None else np.broadcast_to(
      np.asarray(baseline, np.float32), x.shape)
  nodes, weights = np.polynomial.legendre.leggauss(steps)
  alphas, weights = (nodes + 1) / 2, weights / 2  # on [0, 1]
  attr = np.zeros_like(x)
  per = max(1, batch_size // steps)  # examples per batch of steps × examples
  for s in _batches(len(x), per):
    xs, bs, ts = x[s], x0[s], target[s]
    path = bs[None] + alphas.reshape((-1,) + (1,) * xs.ndim) * (xs - bs)[None]
    flat = path.reshape((-1,) + xs.shape[1:])
    g = np.asarray(_class_grad(model, variables, flat, np.tile(ts, steps))[0])
    g = g.reshape((steps,) + xs.shape)
    attr[s] = (xs - bs) * np.tensordot(weights, g, axes=1)
  scores = _scores(model, variables, x, target, batch_size)
  base_scores = _scores(model, variables, x0, target, batch_size)
  error = attr.reshape(len(x), -1).sum(axis=1) - (scores - base_scores)
  return attr, error


def _scores(model, variables, x, target, batch_size: int) -> np.ndarray:
  out = [np.asarray(eval_outputs(model, variables, x[s]))[np.arange(s.stop - s.start),
                                                          target[s]]
         for s in _batches(len(x), batch_size)]
  return np.concatenate(out)


@functools.partial(jax.jit, static_argnums=(0,))
def eval_outputs(model, variables, x):
  """``model.apply`` in eval mode, compiled once per model and input shape."""
  return model.apply(variables, x, train=False)


@functools.partial(jax.jit, static_argnums=(0,))
def _probs(model, variables, x):
  return jax.nn.softmax(model.apply(variables, x, train=False), axis=-1)


def occlusion(model, variables, x, target, patch: int = 4, stride: int = 2,
              value: float = 0.0, batch_size: int = 64) -> np.ndarray:
  """The probability of class ``target`` with a ``patch``-wide square (segment, for 1-D
  inputs) of the input set to ``value`` (0: the data mean, once normalised), at every
  ``stride``: ``(N, *positions)``. Low values mark the parts the net relies on."""
  x, target = np.asarray(x, np.float32), np.asarray(target, np.int32)
  spatial = x.shape[1:-1]
  starts = [range(0, max(n - patch, 0) + 1, stride) for n in spatial]
  grid = np.stack(np.meshgrid(*starts, indexing="ij"), -1).reshape(-1, len(spatial))
  out = np.zeros((len(x), len(grid)), np.float32)
  per = max(1, batch_size)
  for i in range(len(x)):
    for s in _batches(len(grid), per):
      batch = np.repeat(x[i:i + 1], s.stop - s.start, axis=0)
      for j, corner in enumerate(grid[s]):
        idx = (j,) + tuple(slice(c, c + patch) for c in corner)
        batch[idx] = value
      out[i, s] = np.asarray(_probs(model, variables, batch))[:, target[i]]
  return out.reshape((len(x),) + tuple(len(r) for r in starts))


def projection(model, variables, x, layer: str, channel: int, rule: str = "deconvnet",
               batch_size: int = 32) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
  """``(projections, values, positions)``: for each example, channel ``channel`` of
  ``layer``'s output kept at its strongest position only (the others zeroed), projected
  to the input by ``rule``; the strongest value; its position in the layer's map (a
  tuple of indices per example, as rows of an int array)."""
  x = np.asarray(x, np.float32)
  outs, tops, where = [], [], []
  for s in _batches(len(x), batch_size):
    p, t, w = _projection(model, layer, rule)(variables, x[s], channel)
    outs.append(np.asarray(p))
    tops.append(np.asarray(t))
    where.append(np.asarray(w))
  return np.concatenate(outs), np.concatenate(tops), np.concatenate(where)


@functools.lru_cache(maxsize=64)
def _projection(model, layer: str, rule: str):
  from cnnlab.inspect.receptive import module_outputs

  def feature(variables, z):
    with rule_in_place(rule):
      return module_outputs(model, variables, z, [layer])[layer]

  @jax.jit
  def run(variables, z, channel):
    y, vjp = jax.vjp(lambda v: feature(variables, v), z)
    fmap = y[..., channel].reshape(y.shape[0], -1)
    top = fmap.max(axis=1)
    onehot = jax.nn.one_hot(fmap.argmax(axis=1), fmap.shape[1], dtype=y.dtype) * top[:, None]
    cot = jnp.zeros_like(y).at[..., channel].set(onehot.reshape(y.shape[:-1]))
    where = jnp.stack(jnp.unravel_index(fmap.argmax(axis=1), y.shape[1:-1]), axis=1)
    return vjp(cot)[0], top, where

  return run


def top_activations(model, variables, x, layer: str, k: int = 9, batch_size: int = 128,
                    ) -> Tuple[np.ndarray, np.ndarray]:
  """``(indices, values)`` of shape ``(C, k)``: for every channel of ``layer``, the ``k``
  examples of ``x`` with the strongest activation anywhere in the map (Zeiler & Fergus
  2014, Fig. 2), streamed over batches."""
  from cnnlab.inspect.receptive import outputs_fn
  fn = outputs_fn(model, (layer,))
  best_v: Optional[np.ndarray] = None
  best_i: Optional[np.ndarray] = None
  for s in _batches(len(x), batch_size):
    y = np.asarray(fn(variables, np.asarray(x[s], np.float32))[layer])
    peak = y.reshape(y.shape[0], -1, y.shape[-1]).max(axis=1).T  # (C, batch)
    idx = np.broadcast_to(np.arange(s.start, s.stop), peak.shape)
    v = peak if best_v is None else np.concatenate([best_v, peak], 1)
    i = idx if best_i is None else np.concatenate([best_i, idx], 1)
    order = np.argsort(-v, axis=1, kind="stable")[:, :k]
    best_v, best_i = np.take_along_axis(v, order, 1), np.take_along_axis(i, order, 1)
  return best_i, best_v
