"""Sweep plots (matplotlib): learning curves, heatmaps, metric vs an axis, filters.

Each figure is drawn at ``WIDTH_IN`` inches (a paper's text width) with 8-point text, so
that at its printed size the text is the size of a caption; it is written as a PNG (for
the HTML page, which shows it at the page's width) and a PDF beside it (for a paper).
Axes and legends name config paths by their labels (:mod:`cnnlab.report.labels`), and
values are in the table's unit (percent where the table is in percent).
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from cnnlab.report.labels import SPLITS, Labels
from cnnlab.report.tables import Table, _axis_value, is_number

WIDTH_IN = 6.5  # a one-column paper's text width (a two-column paper's figure*)
FONT_PT = 8
DPI = 200  # 1,300 px wide: sharp at the HTML page's width
TITLE_CHARS = 80  # a title's line at 9 points across WIDTH_IN


def _plt():
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  plt.rcParams.update({"font.size": FONT_PT, "axes.titlesize": FONT_PT + 1,
                       "axes.labelsize": FONT_PT, "legend.fontsize": FONT_PT - 1,
                       "xtick.labelsize": FONT_PT - 1, "ytick.labelsize": FONT_PT - 1,
                       "pdf.fonttype": 42})  # (TrueType in the PDF: editable text)
  return plt


def _save(fig, path: str, **kwargs) -> str:
  """``path`` (PNG) and the same figure as a PDF beside it."""
  plt = _plt()
  fig.savefig(path, dpi=DPI, **kwargs)
  # (no creation date: a rerun that moves nothing leaves the committed PDF unchanged)
  fig.savefig(os.path.splitext(path)[0] + ".pdf", metadata={"CreationDate": None}, **kwargs)
  plt.close(fig)
  return path


def _wrap(text: str, width: int = 90) -> str:
  import textwrap
  return "\n".join(textwrap.wrap(text, width, break_on_hyphens=False))


def metric_label(t: Table, labels: Optional[Labels] = None) -> str:
  """The table's metric in words with its unit: "best test accuracy (%)"."""
  return (labels or Labels()).metric(t.metric) + (" (%)" if t.scale == 100 else "")


def _text_color(rgba) -> str:
  """Black on light cells, white on dark ones (relative luminance of the cell's colour)."""
  r, g, b = (c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in rgba[:3])
  return "k" if 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.4 else "w"


def heatmap(t: Table, path: str, title: str = "", labels: Optional[Labels] = None) -> str:
  """The metric's estimate over the two table axes, each cell annotated."""
  labels = labels or Labels()
  plt = _plt()
  grid = np.full((len(t.rows), len(t.cols)), np.nan)
  for i, r in enumerate(t.rows):
    for j, c in enumerate(t.cols):
      cell = t.cells.get((r, c))
      if cell is not None and cell.values:
        grid[i, j] = t.value((r, c)) * t.scale
  fig, ax = plt.subplots(figsize=(WIDTH_IN, 1.3 + 0.3 * len(t.rows)))
  im = ax.imshow(grid, cmap="viridis_r" if t.lower_is_better else "viridis", aspect="auto")
  ax.set_xticks(range(len(t.cols)), [str(c) for c in t.cols])
  ax.set_yticks(range(len(t.rows)), [str(r) for r in t.rows])
  ax.set_xlabel(labels.axis(t.col_key))
  ax.set_ylabel(labels.axis(t.row_key))
  for i in range(len(t.rows)):
    for j in range(len(t.cols)):
      cell = t.cells.get((t.rows[i], t.cols[j]))
      finite = np.isfinite(grid[i, j])
      label = f"{grid[i, j]:.1f}" if finite else (
          "diverged" if cell and cell.diverged else "—")
      color = _text_color(im.cmap(im.norm(grid[i, j]))) if finite else "k"
      ax.text(j, i, label, ha="center", va="center", color=color, fontsize=FONT_PT - 1)
  fig.colorbar(im, ax=ax, label=metric_label(t, labels))
  ax.set_title(_wrap(title or metric_label(t, labels), TITLE_CHARS))
  fig.tight_layout()
  return _save(fig, path)


def numeric_axis(t: Table) -> Optional[str]:
  """The table axis to put on a plot's x axis: the rows when their values are all numbers
  (e.g. depth), else the columns when theirs are, else none."""
  if all(is_number(r) for r in t.rows):
    return t.row_key
  if all(is_number(c) for c in t.cols):
    return t.col_key
  return None


def metric_vs_axis(t: Table, path: str, title: str = "",
                   labels: Optional[Labels] = None) -> Optional[str]:
  """Metric against the numeric axis of the table (``numeric_axis``), a line per value of
  the other: the table's estimate over seeds with its interval as error bars (none below
  three seeds)."""
  x_key = numeric_axis(t)
  if x_key is None:
    return None
  labels = labels or Labels()
  by_row = x_key == t.row_key
  xs, lines = (sorted(t.rows), t.cols) if by_row else (sorted(t.cols), t.rows)
  plt = _plt()
  fig, ax = plt.subplots(figsize=(WIDTH_IN, 3.6), layout="constrained")
  for line in lines:
    keys = [((x, line) if by_row else (line, x)) for x in xs]
    pts = [(k[0] if by_row else k[1], t.cells[k]) for k in keys
           if k in t.cells and t.cells[k].values]
    if pts:
      est = [t.estimate(k) for k in keys if k in t.cells and t.cells[k].values]
      ys = np.asarray([e.value for e in est]) * t.scale
      lo = np.asarray([e.low if e.has_interval else e.value for e in est]) * t.scale
      hi = np.asarray([e.high if e.has_interval else e.value for e in est]) * t.scale
      ax.errorbar([p[0] for p in pts], ys, yerr=[ys - lo, hi - ys],
                  marker="o", capsize=3, label=str(line))
  if xs[0] > 0 and xs[-1] >= 20 * xs[0]:  # e.g. training sizes 1k..50k: log spacing
    ax.set_xscale("log")
    ax.set_xticks(xs, [f"{x:g}" for x in xs])
    ax.minorticks_off()
  ax.set_xlabel(labels.axis(x_key))
  ax.set_ylabel(metric_label(t, labels))
  fig.suptitle(_wrap(title or f"{metric_label(t, labels)}: estimate over seeds with its interval",
                     TITLE_CHARS), fontsize=FONT_PT + 1)
  fig.legend(title=labels.axis(t.col_key if by_row else t.row_key), loc="outside lower center",
             ncol=min(5, len(lines)))
  return _save(fig, path)


def _sort_key(v):
  """Numbers in numeric order (8 before 14 before 20), then everything else by text."""
  return (0, float(v), "") if is_number(v) else (1, 0.0, str(v))


def _curves(records, row_key, col_key, split, name) -> Dict[tuple, List[Dict[int, float]]]:
  """Per (row, column) point, each run's ``{step: value}``."""
  from cnnlab.train.migrations import MEMBER
  from cnnlab.train.metrics import read_metrics
  from cnnlab.train.result import split_metrics_of_row
  curves: Dict[tuple, List[Dict[int, float]]] = {}
  for rec in records:
    run = {}
    for row in read_metrics(rec["workdir"]):
      s, m = split_metrics_of_row(row, rec.get(MEMBER))
      v = m.value(name) if s == split else None
      if v is not None:
        run[m.step] = v
    if run:
      key = (_axis_value(rec["config"], row_key), _axis_value(rec["config"], col_key))
      curves.setdefault(key, []).append(run)
  return curves


def learning_curves(records: Sequence[Dict], row_key: str, col_key: str, path: str,
                    split: str = "test", name: str = "accuracy", title: str = "",
                    order: Optional[tuple] = None, scale: float = 1.0, as_error: bool = False,
                    labels: Optional[Labels] = None) -> Optional[str]:
  """Per (row, column) point: the mean over its seeds of ``split``/``name`` against step,
  with a ± std band when there are several seeds; a colour per row value. Up to 12
  curves share one panel (a line style per column value); more get a panel per column
  value. ``order`` = (rows, cols) as the table lists them; otherwise sorted. Values are
  in the table's unit: ``1 − v`` with ``as_error``, times ``scale`` (100: percent)."""
  labels = labels or Labels()
  curves = _curves(records, row_key, col_key, split, name)
  if not curves:
    return None
  rows = sorted({r for r, _ in curves}, key=_sort_key)
  cols = sorted({c for _, c in curves}, key=_sort_key)
  if order:
    rows = [r for r in order[0] if r in rows] + [r for r in rows if r not in order[0]]
    cols = [c for c in order[1] if c in cols] + [c for c in cols if c not in order[1]]
  plt = _plt()
  colors = plt.get_cmap("tab10" if len(rows) <= 10 else "tab20").colors
  panels = len(curves) > 12 and len(cols) > 1
  n_across = min(3, len(cols)) if panels else 1
  n_down = -(-len(cols) // n_across) if panels else 1
  fig, axes = plt.subplots(n_down, n_across, squeeze=False, sharex=True, sharey=True,
                           figsize=(WIDTH_IN, 3.2 if not panels else 1.7 * n_down + 0.7),
                           layout="constrained")
  styles = [(ls, m) for m in (None, "o", "s", "^") for ls in ("-", "--", ":", "-.")]
  legend: Dict[Any, tuple] = {}  # (label, line) per curve; with panels per row, once
  for ci, c in enumerate(cols):
    ax = axes.flat[ci] if panels else axes[0, 0]
    if panels:
      ax.set_title(f"{labels.axis(col_key)} = {c}", fontsize=FONT_PT)
    for r in rows:
      runs = curves.get((r, c))
      if not runs:
        continue
      steps = sorted(set.intersection(*[set(run) for run in runs]))
      ys = np.asarray([[run[s] for s in steps] for run in runs])
      ys = (1.0 - ys if as_error else ys) * scale
      ls, marker = ("-", None) if panels else styles[ci % len(styles)]
      n = f" ({len(runs)})" if len(runs) > 1 else ""
      label = f"{r}{n}" if panels else f"{r}, {c}{n}"
      line, = ax.plot(steps, ys.mean(0), color=colors[rows.index(r) % len(colors)],
                      linestyle=ls, marker=marker, markersize=3, label=label)
      legend.setdefault(r if panels else (r, c), (label, line))
      if len(runs) > 1:
        ax.fill_between(steps, ys.mean(0) - ys.std(0, ddof=1),
                        ys.mean(0) + ys.std(0, ddof=1),
                        color=line.get_color(), alpha=0.15, linewidth=0)
  for ax in axes.flat[len(cols) if panels else 1:]:
    ax.set_visible(False)
  for ax in axes[-1]:
    ax.set_xlabel("step")
  what = f"{SPLITS.get(split, split)} {'error' if as_error else name.replace('_', ' ')}"
  unit = " (%)" if scale == 100 else ""
  for ax in axes[:, 0]:
    ax.set_ylabel(what + unit)
  fig.suptitle(_wrap(title or f"{what}{unit}: mean over seeds (n), band ± std", TITLE_CHARS),
               fontsize=FONT_PT + 1)
  entries = [legend[r] for r in rows if r in legend] if panels else list(legend.values())
  fig.legend([line for _, line in entries], [label for label, _ in entries],
             title=labels.axis(row_key) if panels
             else f"{labels.axis(row_key)}, {labels.axis(col_key)}",
             loc="outside lower center", ncol=min(4, len(entries)))  # (the panels keep the width)
  return _save(fig, path)


def first_layer_filters(workdir: str, path: str, title: str = "") -> Optional[str]:
  """The first convolution's filters of a run's last checkpoint, one tile each (Nielsen
  ch. 6), titled ``title`` (the caller names the run) after the filter count."""
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
  cols = min(n, 10)  # the page's width in up to 10 tiles a row
  rows = int(np.ceil(n / cols))
  side = WIDTH_IN / cols
  fig, axes = plt.subplots(rows, cols, figsize=(WIDTH_IN, side * rows + 0.5), squeeze=False)
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
  fig.suptitle(_wrap(f"first-layer filters ({n})" + (f" of {title}" if title else ""),
                     TITLE_CHARS), fontsize=FONT_PT + 1)
  fig.tight_layout()
  return _save(fig, path)


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
