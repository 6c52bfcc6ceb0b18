"""Sweep plots (PNG, matplotlib): learning curves, heatmaps, metric vs an axis, filters."""

from __future__ import annotations

import os
from typing import Dict, List, Optional, Sequence

import numpy as np

from cnnlab.report.tables import Table, _axis_value


def _plt():
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  return plt


def heatmap(t: Table, path: str) -> str:
  """The metric's mean over the two table axes, each cell annotated."""
  plt = _plt()
  grid = np.full((len(t.rows), len(t.cols)), np.nan)
  for i, r in enumerate(t.rows):
    for j, c in enumerate(t.cols):
      cell = t.cells.get((r, c))
      if cell is not None and cell.values:
        grid[i, j] = cell.mean * t.scale
  fig, ax = plt.subplots(figsize=(1.6 + 1.3 * len(t.cols), 1.2 + 0.6 * len(t.rows)))
  im = ax.imshow(grid, cmap="viridis_r" if t.lower_is_better else "viridis", aspect="auto")
  ax.set_xticks(range(len(t.cols)), [str(c) for c in t.cols])
  ax.set_yticks(range(len(t.rows)), [str(r) for r in t.rows])
  ax.set_xlabel(t.col_key)
  ax.set_ylabel(t.row_key)
  for i in range(len(t.rows)):
    for j in range(len(t.cols)):
      cell = t.cells.get((t.rows[i], t.cols[j]))
      finite = np.isfinite(grid[i, j])
      label = f"{grid[i, j]:.1f}" if finite else (
          "diverged" if cell and cell.diverged else "—")
      # Dark text on the light end of the colour map, light text on the dark end.
      light = finite and im.norm(grid[i, j]) > 0.6
      ax.text(j, i, label, ha="center", va="center", color="k" if light else "w", fontsize=9)
  fig.colorbar(im, ax=ax, label=t.metric + (" (%)" if t.scale == 100 else ""))
  fig.tight_layout()
  fig.savefig(path, dpi=120)
  plt.close(fig)
  return path


def metric_vs_axis(t: Table, path: str) -> Optional[str]:
  """Metric against the row axis when its values are numbers (e.g. depth), a line per column."""
  if not all(isinstance(r, (int, float)) and not isinstance(r, bool) for r in t.rows):
    return None
  plt = _plt()
  fig, ax = plt.subplots(figsize=(5, 3.5))
  xs = sorted(t.rows)
  for c in t.cols:
    pts = [(x, t.cells[(x, c)]) for x in xs if (x, c) in t.cells and t.cells[(x, c)].values]
    if pts:
      ax.errorbar([p[0] for p in pts], [p[1].mean * t.scale for p in pts],
                  yerr=[p[1].std * t.scale for p in pts], marker="o", capsize=3, label=str(c))
  ax.set_xlabel(t.row_key)
  ax.set_ylabel(t.metric + (" (%)" if t.scale == 100 else ""))
  ax.legend(title=t.col_key, fontsize=8)
  fig.tight_layout()
  fig.savefig(path, dpi=120)
  plt.close(fig)
  return path


def learning_curves(records: Sequence[Dict], row_key: str, col_key: str, path: str,
                    split: str = "test", name: str = "accuracy") -> Optional[str]:
  """Per (row, column) point: the mean over its seeds of ``split``/``name`` against step."""
  from cnnlab.train.metrics import read_metrics
  curves: Dict[tuple, List[Dict[int, float]]] = {}
  for rec in records:
    rows = [m for m in read_metrics(rec["workdir"]) if m["split"] == split and name in m]
    if rows:
      key = (_axis_value(rec["config"], row_key), _axis_value(rec["config"], col_key))
      curves.setdefault(key, []).append({m["step"]: m[name] for m in rows})
  if not curves:
    return None
  plt = _plt()
  fig, ax = plt.subplots(figsize=(6, 4))
  for (r, c), runs in sorted(curves.items(), key=lambda kv: str(kv[0])):
    steps = sorted(set.intersection(*[set(run) for run in runs]))
    ax.plot(steps, [np.mean([run[s] for run in runs]) for s in steps], label=f"{r}, {c}")
  ax.set_xlabel("step")
  ax.set_ylabel(f"{split} {name}")
  ax.legend(title=f"{row_key}, {col_key}", fontsize=7, ncol=2)
  fig.tight_layout()
  fig.savefig(path, dpi=120)
  plt.close(fig)
  return path


def first_layer_filters(workdir: str, path: str) -> Optional[str]:
  """The first convolution's filters of a run's last checkpoint, one tile each (Nielsen ch. 6)."""
  from cnnlab.train.checkpoint import latest_step, load_raw
  ckdir = os.path.join(workdir, "checkpoints")
  if latest_step(ckdir) is None:
    return None
  params = load_raw(ckdir)["params"]
  kernel = _first_kernel(params)
  if kernel is None:
    return None
  if kernel.ndim == 3:  # 1-D conv (k, cin, cout): each filter's taps as a curve per channel
    tiles = [kernel[..., o] for o in range(kernel.shape[-1])]
  else:  # 2-D (kh, kw, cin, cout): grey, or RGB when cin == 3
    tiles = [kernel[..., o] if kernel.shape[2] == 3 else kernel[..., 0, o]
             for o in range(kernel.shape[-1])]
  plt = _plt()
  n = len(tiles)
  cols = int(np.ceil(np.sqrt(n)))
  rows = int(np.ceil(n / cols))
  fig, axes = plt.subplots(rows, cols, figsize=(cols * 0.9, rows * 0.9 + 0.3), squeeze=False)
  for i, ax in enumerate(axes.flat):
    ax.axis("off")
    if i < n and kernel.ndim == 3:
      ax.plot(tiles[i], marker=".", linewidth=1)
      ax.axhline(0, color="0.7", linewidth=0.5)
    elif i < n:
      tile = tiles[i]
      lo, hi = tile.min(), tile.max()
      tile = (tile - lo) / (hi - lo + 1e-12)
      ax.imshow(tile, cmap=None if tile.ndim == 3 else "gray", interpolation="nearest")
  fig.suptitle(f"first-layer filters ({n})", fontsize=9)
  fig.tight_layout()
  fig.savefig(path, dpi=120)
  plt.close(fig)
  return path


def _first_kernel(tree):
  """The first (in creation order) kernel with 3+ dims: the first conv layer's."""
  if isinstance(tree, dict):
    for k, v in tree.items():
      if k == "kernel" and getattr(v, "ndim", 0) >= 3:
        return np.asarray(v, np.float32)
      found = _first_kernel(v)
      if found is not None:
        return found
  return None
