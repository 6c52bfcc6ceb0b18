"""Residual networks (He, Zhang, Ren & Sun 2016) and their plain counterparts.

* ``resnet_cifar``: depth ``6n+2`` for any n — a 3×3 conv of 16 maps, three stages of
  n basic blocks with 16, 32, 64 maps (stride 2 entering stages 2 and 3), global
  pooling (``pool``, average by default) and a dense head. ``shortcut="A"`` is the
  paper's parameter-free shortcut (subsample and zero-pad the new channels), ``"B"``
  a 1×1 projection where the shape changes, ``"none"`` the plain network. Parameters:
  ResNet-20/32/44/56/110 have 0.27/0.46/0.66/0.85/1.7 M, as in Table 6.
  The n−1 identical blocks of a stage are one ``nn.scan`` (parameters stacked), and
  ``block_loop`` says how they run: ``"scan"`` as one loop (ResNet-1202 compiles about
  as fast as ResNet-20), ``"unroll"`` as straight-line code, ``"auto"`` unrolled on CPU
  (up to ResNet-56) and looped elsewhere; checkpoints are the same either way. Why:
  XLA's CPU backend runs a conv inside a loop with a slow kernel — ResNet-20's train
  step took 7.5 s scanned vs 0.50 s unrolled on the 2-core CPU (``benchmarks/NOTES.md``).
* ``resnet18/34/50``: the ImageNet networks (basic blocks [2,2,2,2], [3,4,6,3];
  bottleneck [3,4,6,3]) with projection shortcuts; ``stem="cifar"`` replaces the
  7×7/2 conv and 3×3/2 max pool (``pool``) with one 3×3 conv for 32×32 inputs
  (ResNet-18-CIFAR).
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from cnnlab.layers import Act, Conv, Norm, Pool, Tap
from cnnlab.models.common import (GlobalConvHead, ModelConfigError, ZooModel, check_pool,
                                  pool_layer, scaled)
from cnnlab.ops.shapes import Parallel
from cnnlab.models.registry import register_model

SHORTCUTS = ("A", "B", "none")
BLOCK_LOOPS = ("auto", "scan", "unroll")
AUTO_UNROLL_MAX = 8


def _conv(features, kernel, stride, dtype, name, padding=None):
  return Conv(features, kernel, stride, (kernel - 1) // 2 if padding is None else padding,
              use_bias=False, dtype=dtype, kernel_init=nn.initializers.he_normal(), name=name)


class BasicBlock(nn.Module):
  """conv3×3 → norm → act → conv3×3 → norm, plus the shortcut, → act."""
  features: int
  stride: int = 1
  shortcut: str = "A"
  act: str = "relu"
  norm: str = "batch"
  dtype: Any = jnp.float32
  zero_init_residual: bool = False

  @nn.compact
  def __call__(self, x, train: bool = False):
    y = _conv(self.features, 3, self.stride, self.dtype, "conv1")(x)
    y = Act(self.act)(Norm(self.norm, name="norm1")(y, train))
    y = _conv(self.features, 3, 1, self.dtype, "conv2")(y)
    y = Norm(self.norm, zero_scale=self.zero_init_residual, name="norm2")(y, train)
    if self.shortcut != "none":
      y = y + shortcut(x, self.features, self.stride, self.shortcut, self.norm, self.dtype, train)
    return Act(self.act)(y)


class Bottleneck(nn.Module):
  """1×1 → 3×3 (stride) → 1×1 with 4× expansion, projection where the shape changes."""
  features: int
  stride: int = 1
  shortcut: str = "B"
  act: str = "relu"
  norm: str = "batch"
  dtype: Any = jnp.float32
  zero_init_residual: bool = False

  @nn.compact
  def __call__(self, x, train: bool = False):
    out = self.features * 4
    y = Act(self.act)(Norm(self.norm, name="norm1")(
        _conv(self.features, 1, 1, self.dtype, "conv1")(x), train))
    y = Act(self.act)(Norm(self.norm, name="norm2")(
        _conv(self.features, 3, self.stride, self.dtype, "conv2")(y), train))
    y = Norm(self.norm, zero_scale=self.zero_init_residual, name="norm3")(
        _conv(out, 1, 1, self.dtype, "conv3")(y), train)
    if self.shortcut != "none":
      y = y + shortcut(x, out, self.stride, self.shortcut, self.norm, self.dtype, train)
    return Act(self.act)(y)


def shortcut(x, features, stride, kind, norm, dtype, train):
  """Identity when shapes match; else option A (subsample + zero channels) or B (projection)."""
  if stride == 1 and x.shape[-1] == features:
    return x
  if kind == "A":
    x = x[:, ::stride, ::stride, :]
    extra = features - x.shape[-1]
    return jnp.pad(x, ((0, 0), (0, 0), (0, 0), (extra // 2, extra - extra // 2)))
  y = _conv(features, 1, stride, dtype, "proj", padding=0)(x)
  return Norm(norm, name="proj_norm")(y, train)


def block_geometry(name, kind, stride, shortcut_kind, reshapes):
  """A residual block's geometry: the main path and the shortcut (identity, option A's
  subsampling, option B's 1×1 projection; none in a plain net) as parallel branches."""
  main = (((f"{name}/conv1", 3, stride, 1), (f"{name}/conv2", 3, 1, 1)) if kind == "basic" else
          ((f"{name}/conv1", 1), (f"{name}/conv2", 3, stride, 1), (f"{name}/conv3", 1)))
  if shortcut_kind == "none":
    return Parallel(name, (main,))
  if not reshapes:
    return Parallel(name, (main, ()))
  short = ("shortcut", 1, stride) if shortcut_kind == "A" else (f"{name}/proj", 1, stride)
  return Parallel(name, (main, (short,)))


def stage_geometry(name, kind, count, stride, shortcut_kind, reshapes):
  """The geometry of :func:`run_stage`: the first block, then the scanned ones (the last
  named by the stage's output tap)."""
  out = [block_geometry(f"{name}_block0", kind, stride, shortcut_kind, reshapes)]
  for j in range(count - 1):
    label = f"{name}_output" if j == count - 2 else f"{name}_blocks[{j}]"
    out.append(block_geometry(label, kind, 1, shortcut_kind, False))
  return out


class _ScanBlock(nn.Module):
  """A block with the (carry, _) signature that nn.scan expects."""
  block: Any
  kwargs: Any

  @nn.compact
  def __call__(self, x, train):
    return self.block(**dict(self.kwargs), name="block")(x, train), None


def check_block_loop(model: str, block_loop: str) -> None:
  if block_loop not in BLOCK_LOOPS:
    raise ModelConfigError(f"{model}: block_loop {block_loop!r} unknown; valid: "
                           f"{', '.join(BLOCK_LOOPS)}")


def run_stage(x, block, count, features, stride, kwargs, train, name, block_loop="auto"):
  """One stage: the first block (may change shape) then count−1 identical blocks, scanned.

  ``block_loop`` "unroll" unrolls the scan fully: the parameters keep their stacked
  layout, but XLA sees straight-line code. (``unroll=count`` exceeds the scan's length
  ``count − 1`` on purpose: at ``unroll == length == 1`` JAX still emits a one-trip
  while loop, and two-block stages — ResNet-14, ResNet-18 — ran 14× slower a step.)
  "auto" unrolls on CPU up to ``AUTO_UNROLL_MAX`` scanned blocks a stage (ResNet-56;
  compile time grows with the unrolled length: ResNet-110 29 s, ResNet-1202 over 5 min)
  and scans elsewhere.
  """
  x = block(features, stride, **kwargs, name=f"{name}_block0")(x, train)
  if count > 1:
    unroll = block_loop == "unroll" or (block_loop == "auto" and jax.default_backend() == "cpu"
                                        and count - 1 <= AUTO_UNROLL_MAX)
    scanned = nn.scan(_ScanBlock, variable_axes={"params": 0, "batch_stats": 0},
                      split_rngs={"params": True, "dropout": True, "pool": True},
                      in_axes=nn.broadcast, length=count - 1,
                      unroll=count if unroll else 1)
    x, _ = scanned(block, dict(features=features, stride=1, **kwargs),
                   name=f"{name}_blocks")(x, train)
    x = Tap(name=f"{name}_output")(x)  # a scan's result is no module's output
  return x


class ResNetCifar(ZooModel):
  POOL_LAYER = "global_pool"
  POOL_KINDS = ("global",)

  depth: int = 20
  shortcut: str = "A"
  pool: str = "global_avg"
  norm: str = "batch"
  zero_init_residual: bool = False  # Goyal et al. 2017: last norm of each block starts at 0
  block_loop: str = "auto"  # "scan" | "unroll" | "auto" (unrolled on CPU): see run_stage

  def check(self):
    if self.depth < 8 or (self.depth - 2) % 6:
      raise ModelConfigError(
          f"ResNetCifar: depth must be 6n+2 with n >= 1 (8, 14, 20, 32, 44, 56, 110, 1202, ...), "
          f"got {self.depth}")
    if self.shortcut not in SHORTCUTS:
      raise ModelConfigError(f"ResNetCifar: shortcut {self.shortcut!r} unknown; valid: A, B, none")
    check_block_loop("ResNetCifar", self.block_loop)
    if self.head == "conv" and self.pool != "global_avg":
      raise ModelConfigError(f"ResNetCifar: head='conv' needs pool='global_avg' (only a linear "
                             f"pool commutes with the classifier), got {self.pool!r}")

  @nn.compact
  def __call__(self, x, train: bool = False):
    n = (self.depth - 2) // 6
    x = _conv(scaled(16, self.width), 3, 1, self.dtype, "conv1")(x.astype(self.dtype))
    x = Act(self.act)(Norm(self.norm, name="norm1")(x, train))
    kw = dict(shortcut=self.shortcut, act=self.act, norm=self.norm, dtype=self.dtype,
              zero_init_residual=self.zero_init_residual)
    for s, f in enumerate((16, 32, 64)):
      x = run_stage(x, BasicBlock, n, scaled(f, self.width), 1 if s == 0 else 2, kw, train,
                    f"stage{s + 1}", self.block_loop)
    if self.head == "conv":
      return GlobalConvHead(self.num_classes, self.dtype, name="head")(x)
    x = Pool(self.pool, name="global_pool")(x, train)
    return nn.Dense(self.num_classes, dtype=self.dtype, name="head")(x).astype(jnp.float32)

  def geometry(self):
    n, out = (self.depth - 2) // 6, [("conv1", 3, 1, 1)]
    for s in range(3):
      out += stage_geometry(f"stage{s + 1}", "basic", n, 1 if s == 0 else 2, self.shortcut,
                            s > 0)
    return out + pool_layer("global_pool", self.pool)


class ResNet(ZooModel):
  POOL_LAYER = "stem_pool"

  num_classes: int = 1000
  depth: int = 18
  stem: str = "imagenet"
  head_pool: str = "global_avg"
  shortcut: str = "B"
  norm: str = "batch"
  zero_init_residual: bool = False
  block_loop: str = "auto"  # "scan" | "unroll" | "auto" (unrolled on CPU): see run_stage

  LAYOUTS = {18: ("basic", (2, 2, 2, 2)), 34: ("basic", (3, 4, 6, 3)),
             50: ("bottleneck", (3, 4, 6, 3)), 101: ("bottleneck", (3, 4, 23, 3)),
             152: ("bottleneck", (3, 8, 36, 3))}

  def check(self):
    if self.depth not in self.LAYOUTS:
      raise ModelConfigError(f"ResNet: depth {self.depth} unknown; valid: "
                             f"{', '.join(map(str, self.LAYOUTS))}")
    if self.stem not in ("imagenet", "cifar"):
      raise ModelConfigError(f"ResNet: stem must be 'imagenet' or 'cifar', got {self.stem!r}")
    check_block_loop("ResNet", self.block_loop)
    check_pool("ResNet", "head_pool", self.head_pool, ("global",), None, "global_pool")
    if self.head == "conv" and self.head_pool != "global_avg":
      raise ModelConfigError(f"ResNet: head='conv' needs head_pool='global_avg' (only a linear "
                             f"pool commutes with the classifier), got {self.head_pool!r}")

  @nn.compact
  def __call__(self, x, train: bool = False):
    kind, counts = self.LAYOUTS[self.depth]
    block = BasicBlock if kind == "basic" else Bottleneck
    x = x.astype(self.dtype)
    if self.stem == "imagenet":
      x = _conv(scaled(64, self.width), 7, 2, self.dtype, "conv1", padding=3)(x)
      x = Act(self.act)(Norm(self.norm, name="norm1")(x, train))
      x = Pool(self.pool, 3, 2, padding=1, input_act=self.act, name="stem_pool")(x, train)
    else:
      x = _conv(scaled(64, self.width), 3, 1, self.dtype, "conv1")(x)
      x = Act(self.act)(Norm(self.norm, name="norm1")(x, train))
    kw = dict(shortcut=self.shortcut, act=self.act, norm=self.norm, dtype=self.dtype,
              zero_init_residual=self.zero_init_residual)
    for s, (f, c) in enumerate(zip((64, 128, 256, 512), counts)):
      x = run_stage(x, block, c, scaled(f, self.width), 1 if s == 0 else 2, kw, train,
                    f"stage{s + 1}", self.block_loop)
    if self.head == "conv":
      return GlobalConvHead(self.num_classes, self.dtype, name="head")(x)
    x = Pool(self.head_pool, name="global_pool")(x, train)
    return nn.Dense(self.num_classes, dtype=self.dtype, name="head")(x).astype(jnp.float32)

  def geometry(self):
    kind, counts = self.LAYOUTS[self.depth]
    out = ([("conv1", 7, 2, 3), *pool_layer("stem_pool", self.pool, 3, 2, 1)]
           if self.stem == "imagenet" else [("conv1", 3, 1, 1)])
    for s, c in enumerate(counts):  # the first block reshapes but in a basic net's stage 1
      out += stage_geometry(f"stage{s + 1}", kind, c, 1 if s == 0 else 2, self.shortcut,
                            s > 0 or kind == "bottleneck")
    return out + pool_layer("global_pool", self.head_pool)


register_model("resnet_cifar", ResNetCifar, input_shape=(32, 32, 3), dataset="cifar10",
               description="ResNet for CIFAR, depth 6n+2 (any n), shortcut A|B|none",
               test_kwargs={"depth": 14, "width": 0.5}, test_input_shape=(16, 16, 3))
for _d in (20, 32, 44, 56, 110, 1202):
  # Untrained and in eval mode (running statistics at their initial values), 600
  # residual additions overflow float32; zero-init residuals keep the tiny test finite.
  register_model(f"resnet{_d}", ResNetCifar, input_shape=(32, 32, 3), dataset="cifar10",
                 depth=_d, description=f"ResNet-{_d} (He et al. 2016, CIFAR, option A)",
                 # (scanned blocks in the tiny variant: deep unrolled nets compile slowly;
                 # the unrolled form is tested against the scan in test_model_zoo.py)
                 test_kwargs={"width": 0.25, "zero_init_residual": _d > 200,
                              **({"block_loop": "scan"} if _d > 32 else {})},
                 test_input_shape=(8, 8, 3))
for _d in (20, 56):
  register_model(f"plain{_d}", ResNetCifar, input_shape=(32, 32, 3), dataset="cifar10",
                 depth=_d, shortcut="none", description=f"plain {_d}-layer net (no shortcuts)",
                 test_kwargs={"width": 0.25, **({"block_loop": "scan"} if _d > 32 else {})},
                 test_input_shape=(8, 8, 3))
for _d in (18, 34, 50):
  register_model(f"resnet{_d}", ResNet, input_shape=(224, 224, 3), dataset="imagenet", depth=_d,
                 description=f"ResNet-{_d} (He et al. 2016, ImageNet)",
                 test_kwargs={"width": 0.125, **({"block_loop": "scan"} if _d > 18 else {})},
                 test_input_shape=(32, 32, 3))
register_model("resnet18_cifar", ResNet, input_shape=(32, 32, 3), dataset="cifar10", depth=18,
               stem="cifar", num_classes=10, description="ResNet-18 with a 3×3 stem for 32×32",
               test_kwargs={"width": 0.125}, test_input_shape=(16, 16, 3))
