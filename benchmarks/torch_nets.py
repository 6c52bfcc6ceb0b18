"""PyTorch twins of cnnlab nets, for benchmarks only (the lab itself never imports torch).

Each twin has the same layers, widths, padding, normalisation and parameter count as
the cnnlab model of the same registry name (``benchmarks/vs_pytorch.py`` checks the
counts before timing), in PyTorch's NCHW layout.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F


class FashionNet(nn.Module):
  """conv 5×5×16 → BN → ReLU → max 2 → conv 5×5×32 → BN → ReLU → max 2 → FC 10."""

  def __init__(self, num_classes=10):
    super().__init__()
    layers, cin = [], 1
    for f in (16, 32):
      layers += [nn.Conv2d(cin, f, 5, padding=2, bias=False), nn.BatchNorm2d(f), nn.ReLU(),
                 nn.MaxPool2d(2)]
      cin = f
    self.features = nn.Sequential(*layers)
    self.head = nn.Linear(32 * 7 * 7, num_classes)

  def forward(self, x):
    return self.head(torch.flatten(self.features(x), 1))


from cnnlab.models.lenet import C3_TABLE as _C3  # noqa: E402  (the table, not the model)


class _Subsampling(nn.Module):
  def __init__(self, c):
    super().__init__()
    self.coef = nn.Parameter(torch.ones(c, 1, 1))
    self.bias = nn.Parameter(torch.zeros(c, 1, 1))

  def forward(self, x):
    return F.avg_pool2d(x, 2) * self.coef + self.bias


class _SparseC3(nn.Module):
  """The C3 table as four grouped convolutions over gathered S2 maps (1,516 parameters)."""

  def __init__(self):
    super().__init__()
    cols = [np.nonzero(_C3[:, j])[0] for j in range(16)]
    groups = [range(0, 6), range(6, 12), range(12, 15), range(15, 16)]
    self.index = [torch.as_tensor(np.concatenate([cols[j] for j in g])) for g in groups]
    self.convs = nn.ModuleList(nn.Conv2d(len(i), len(g), 5, groups=len(g))
                               for i, g in zip(self.index, groups))

  def forward(self, x):
    return torch.cat([conv(x[:, idx.to(x.device)]) for conv, idx in zip(self.convs, self.index)],
                     dim=1)


class LeNet5(nn.Module):
  """32×32 → C1 → S2 → sparse C3 → S4 → C5 → F6 → 10, ``1.7159·tanh(2x/3)`` between."""

  def __init__(self, num_classes=10):
    super().__init__()
    self.c1, self.s2 = nn.Conv2d(1, 6, 5), _Subsampling(6)
    self.c3, self.s4 = _SparseC3(), _Subsampling(16)
    self.c5, self.f6 = nn.Conv2d(16, 120, 5), nn.Linear(120, 84)
    self.head = nn.Linear(84, num_classes)

  def forward(self, x):
    act = lambda t: 1.7159 * torch.tanh(2.0 * t / 3.0)
    x = act(self.s2(act(self.c1(x))))
    x = act(self.s4(act(self.c3(x))))
    x = act(self.f6(torch.flatten(act(self.c5(x)), 1)))
    return self.head(x)


class _Basic(nn.Module):
  def __init__(self, cin, cout, stride, shortcut):
    super().__init__()
    self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
    self.bn1 = nn.BatchNorm2d(cout)
    self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
    self.bn2 = nn.BatchNorm2d(cout)
    self.kind, self.stride, self.extra = shortcut, stride, cout - cin
    self.proj = None
    if (stride != 1 or cin != cout) and shortcut == "B":
      self.proj = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

  def forward(self, x):
    y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
    if self.proj is not None:
      s = self.proj(x)
    elif self.stride != 1 or self.extra:  # option A: subsample, zero-pad the channels
      s = x[:, :, ::self.stride, ::self.stride]
      s = F.pad(s, (0, 0, 0, 0, self.extra // 2, self.extra - self.extra // 2))
    else:
      s = x
    return F.relu(y + s)


class ResNet(nn.Module):
  """ResNet-CIFAR (depth 6n+2, 16/32/64, option A) or ResNet-18 with a 3×3 stem (option B)."""

  def __init__(self, widths, counts, shortcut, num_classes=10):
    super().__init__()
    self.stem = nn.Sequential(nn.Conv2d(3, widths[0], 3, 1, 1, bias=False),
                              nn.BatchNorm2d(widths[0]), nn.ReLU())
    blocks, cin = [], widths[0]
    for s, (w, n) in enumerate(zip(widths, counts)):
      for b in range(n):
        blocks.append(_Basic(cin, w, 2 if (s > 0 and b == 0) else 1, shortcut))
        cin = w
    self.blocks = nn.Sequential(*blocks)
    self.head = nn.Linear(cin, num_classes)

  def forward(self, x):
    return self.head(self.blocks(self.stem(x)).mean(dim=(2, 3)))


class Airbench94(nn.Module):
  """Whitening conv 2×2 → GELU → 3 × [conv → max 2 → BN → GELU → conv → BN → GELU] → max 3 → FC."""

  def __init__(self, num_classes=10):
    super().__init__()
    bn = lambda c: nn.BatchNorm2d(c, momentum=0.6, eps=1e-5)
    layers, cin = [nn.Conv2d(3, 24, 2), nn.GELU()], 24
    for f in (64, 256, 256):
      layers += [nn.Conv2d(cin, f, 3, padding=1, bias=False), nn.MaxPool2d(2), bn(f), nn.GELU(),
                 nn.Conv2d(f, f, 3, padding=1, bias=False), bn(f), nn.GELU()]
      cin = f
    self.features = nn.Sequential(*layers, nn.MaxPool2d(3))
    self.head = nn.Linear(256, num_classes)

  def forward(self, x):
    return self.head(torch.flatten(self.features(x), 1)) / 9.0


class _WindowPool1d(nn.Module):
  """The MNIST-1D pooling benchmark's poolings of 2-wide, stride-2 windows on ``(N, C, L)``,
  each the cnnlab op of the same name (``cnnlab.ops.pooling``) written the PyTorch way."""

  def __init__(self, kind: str):
    super().__init__()
    self.kind = kind
    if kind == "mixed":  # α = σ(logit), one per layer, starting at 0.5
      self.alpha_logit = nn.Parameter(torch.zeros(()))
    if kind == "gated":  # α = σ(ωᵀ window), ω ~ N(0, 1/k)
      self.omega = nn.Parameter(torch.randn(2) / np.sqrt(2.0))

  def forward(self, x):
    k = self.kind
    if k == "max":
      return F.max_pool1d(x, 2)
    if k in ("avg", "distance_weighted"):  # equidistant 2-wide windows: a plain mean
      return F.avg_pool1d(x, 2)
    if k == "min":
      return -F.max_pool1d(-x, 2)
    if k == "l2_sum":
      return F.lp_pool1d(x, 2.0, 2)
    w = x.unfold(-1, 2, 2)  # (N, C, L/2, 2)
    mx, av = w.amax(-1), w.mean(-1)
    if k == "mixed":
      a = torch.sigmoid(self.alpha_logit)
      return a * mx + (1 - a) * av
    if k == "gated":
      a = torch.sigmoid(w @ self.omega)
      return a * mx + (1 - a) * av
    if k == "stochastic":  # Zeiler & Fergus: sample ∝ activation (train), Σ pᵢaᵢ (test)
      total = w.sum(-1)
      if self.training:
        p0 = torch.where(total > 0, w[..., 0] / total.clamp_min(1e-30), 0.5).detach()
        first = torch.rand_like(p0) < p0
        return torch.where(first, w[..., 0], w[..., 1])
      return torch.where(total > 0, (w * w).sum(-1) / total.clamp_min(1e-30), 0.0)
    raise ValueError(f"no PyTorch twin of pooling {k!r}")


class ConvPooling1d(nn.Module):
  """The MNIST-1D pooling benchmark's ConvPooling (``conv1d_pool``): two Conv1d of 20
  channels, kernel 3 ('same' padding, stride ``conv_stride``), each followed by ReLU and
  ``pool`` ("none": no pooling), then a linear head; inputs ``(N, 40)`` as in the paper."""

  def __init__(self, pool: str = "max", conv_stride: int = 1, channels: int = 20,
               length: int = 40, num_classes: int = 10):
    super().__init__()
    self.conv1 = nn.Conv1d(1, channels, 3, stride=conv_stride, padding=1)
    self.conv2 = nn.Conv1d(channels, channels, 3, stride=conv_stride, padding=1)
    self.pools = nn.ModuleList(nn.Identity() if pool == "none" else _WindowPool1d(pool)
                               for _ in range(2))
    for _ in range(2):
      length = -(-length // conv_stride) // (1 if pool == "none" else 2)
    self.head = nn.Linear(channels * length, num_classes)

  def forward(self, x):
    x = x.view(-1, 1, x.shape[-1])
    x = self.pools[0](F.relu(self.conv1(x)))
    x = self.pools[1](F.relu(self.conv2(x)))
    return self.head(torch.flatten(x, 1))


def build(name: str) -> nn.Module:
  """The twin of cnnlab model ``name``."""
  if name == "fashionnet":
    return FashionNet()
  if name == "lenet5":
    return LeNet5()
  if name.startswith("resnet") and name[6:].isdigit() and (int(name[6:]) - 2) % 6 == 0:
    n = (int(name[6:]) - 2) // 6
    return ResNet((16, 32, 64), (n, n, n), "A")
  if name == "resnet18_cifar":
    return ResNet((64, 128, 256, 512), (2, 2, 2, 2), "B")
  if name == "airbench94":
    return Airbench94()
  if name == "conv1d_pool":
    return ConvPooling1d()
  raise ValueError(f"no PyTorch twin of {name!r}; have: fashionnet, lenet5, resnet<6n+2>, "
                   f"resnet18_cifar, airbench94, conv1d_pool")


def param_count(model: nn.Module) -> int:
  return sum(p.numel() for p in model.parameters())
