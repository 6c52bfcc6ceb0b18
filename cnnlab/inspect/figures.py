"""The inspect page's figures (PNG, matplotlib), for 1-D sequences and 2-D images alike.

Every figure is titled with the run, the layer and the method. Images are shown with
their own colour range per tile (the titles say so where values matter); attributions
use a diverging map centred at 0.
"""

from __future__ import annotations

from typing import List, Optional, Sequence

import numpy as np


def _plt():
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  return plt


def _grid(n: int, cols: Optional[int] = None):
  cols = cols or int(np.ceil(np.sqrt(n)))
  return max(1, int(np.ceil(n / cols))), cols


def _unit(a: np.ndarray) -> np.ndarray:
  lo, hi = float(a.min()), float(a.max())
  return (a - lo) / (hi - lo + 1e-12)


def _show_input(ax, x: np.ndarray) -> None:
  """One example (``(H, W, C)`` or ``(L, C)``) on an axis."""
  if x.ndim == 2:
    ax.plot(x, linewidth=1)
    ax.set_xticks([])
    ax.set_yticks([])
    return
  ax.imshow(_unit(x) if x.shape[-1] == 3 else x[..., 0], cmap=None if x.shape[-1] == 3 else
            "gray", interpolation="nearest")
  ax.axis("off")


def _show_map(ax, m: np.ndarray, diverging: bool = False, limits=None) -> None:
  """A map (``(H, W)`` or ``(L,)``); diverging maps are centred at 0; ``limits`` fixes
  the value range (a probability: (0, 1)), else each map uses its own."""
  if m.ndim == 1:
    ax.plot(m, linewidth=1, color="C3" if diverging else "C0")
    ax.axhline(0, color="0.7", linewidth=0.5)
    if limits:
      ax.set_ylim(*limits)
    ax.set_xticks([])
    ax.set_yticks([])
    return
  if diverging:
    v = float(np.abs(m).max()) or 1.0
    ax.imshow(m, cmap="RdBu_r", vmin=-v, vmax=v, interpolation="nearest")
  else:
    lo, hi = limits or (None, None)
    ax.imshow(m, cmap="viridis", vmin=lo, vmax=hi, interpolation="nearest")
  ax.axis("off")


def _save(fig, path: str, title: str) -> str:
  fig.suptitle(title, fontsize=9)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  _plt().close(fig)
  return path


def filters(kernel: np.ndarray, path: str, title: str, limit: int = 64) -> str:
  """Each output channel's filter: for 2-D the input channel of largest norm (RGB when
  the layer reads 3 channels), for 1-D every input channel's taps as a curve."""
  plt = _plt()
  n = min(kernel.shape[-1], limit)
  rows, cols = _grid(n)
  fig, axes = plt.subplots(rows, cols, figsize=(cols * 0.8 + 0.4, rows * 0.8 + 0.5),
                           squeeze=False)
  for i, ax in enumerate(axes.flat):
    ax.axis("off")
    if i >= n:
      continue
    k = kernel[..., i]
    if k.ndim == 2 and kernel.ndim == 3:  # (taps, cin)
      ax.axis("on")
      _show_map(ax, k[:, int(np.argmax(np.abs(k).sum(0)))])
    elif k.shape[-1] == 3:
      ax.imshow(_unit(k), interpolation="nearest")
    else:
      c = int(np.argmax((k.reshape(-1, k.shape[-1]) ** 2).sum(0)))
      ax.imshow(k[..., c], cmap="gray", interpolation="nearest")
  return _save(fig, path, f"{title} ({n} of {kernel.shape[-1]} filters)")


def feature_maps(x: np.ndarray, maps: np.ndarray, path: str, title: str,
                 channels: int = 16) -> str:
  """Examples (rows): the input, then the first ``channels`` maps of a layer."""
  plt = _plt()
  c = min(channels, maps.shape[-1])
  fig, axes = plt.subplots(len(x), c + 1, figsize=((c + 1) * 0.8 + 0.4, len(x) * 0.85 + 0.5),
                           squeeze=False)
  for i in range(len(x)):
    _show_input(axes[i, 0], x[i])
    for j in range(c):
      _show_map(axes[i, j + 1], maps[i, ..., j])
  return _save(fig, path, f"{title} (first {c} of {maps.shape[-1]} channels)")


def attributions(x: np.ndarray, maps: Sequence[np.ndarray], names: Sequence[str], path: str,
                 title: str, captions: Optional[Sequence[str]] = None) -> str:
  """Examples (rows): the input, then each method's map (summed over input channels)."""
  plt = _plt()
  fig, axes = plt.subplots(len(x), len(maps) + 1,
                           figsize=((len(maps) + 1) * 1.5 + 0.4, len(x) * 1.4 + 0.6),
                           squeeze=False)
  for i in range(len(x)):
    _show_input(axes[i, 0], x[i])
    if captions:
      axes[i, 0].set_title(captions[i], fontsize=7)
    for j, m in enumerate(maps):
      a = m[i]
      occluded = names[j] == "occlusion"  # a probability: one scale for every map
      _show_map(axes[i, j + 1], a.sum(-1) if a.ndim == x[i].ndim else a,
                diverging=not occluded, limits=(0, 1) if occluded else None)
      if i == 0:
        axes[i, j + 1].set_title(names[j], fontsize=8)
  return _save(fig, path, title)


def projections(patches: np.ndarray, projs: np.ndarray, path: str, title: str) -> str:
  """Features (rows): their top-k projections, then the matching input patches."""
  plt = _plt()
  feats, k = projs.shape[:2]
  fig, axes = plt.subplots(feats, 2 * k, figsize=(max(2 * k * 0.55 + 0.4, 5.0),
                                                  feats * 0.6 + 0.6), squeeze=False)
  for f in range(feats):
    for j in range(k):
      p, x = projs[f, j], patches[f, j]
      if p.ndim == 2:  # 1-D: (L, C)
        _show_map(axes[f, j], p.sum(-1), diverging=True)
        _show_input(axes[f, k + j], x)
      else:
        axes[f, j].imshow(_unit(p) if p.shape[-1] == 3 else p.sum(-1), cmap=None
                          if p.shape[-1] == 3 else "gray", interpolation="nearest")
        axes[f, j].axis("off")
        _show_input(axes[f, k + j], x)
  return _save(fig, path, title + "\nleft: projections · right: input patches")


def similarity(matrix: np.ndarray, rows: List[str], cols: List[str], path: str,
               title: str) -> str:
  plt = _plt()
  fig, ax = plt.subplots(figsize=(1.0 + 0.45 * len(cols), 1.0 + 0.4 * len(rows)))
  im = ax.imshow(matrix, cmap="magma", vmin=0, vmax=1)
  ax.set_xticks(range(len(cols)), cols, rotation=60, ha="right", fontsize=7)
  ax.set_yticks(range(len(rows)), rows, fontsize=7)
  for i in range(len(rows)):
    for j in range(len(cols)):
      ax.text(j, i, f"{matrix[i, j]:.2f}", ha="center", va="center", fontsize=6,
              color="white" if matrix[i, j] < 0.6 else "black")
  fig.colorbar(im, ax=ax, fraction=0.04)
  return _save(fig, path, title)
