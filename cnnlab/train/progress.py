"""Progress: a tqdm bar on a terminal; elapsed time and ETA in plain log lines elsewhere.

On a TTY the bar (tqdm) is redrawn in place as steps (or a sweep's runs) complete and
log lines are printed above it; when the output is a file or a pipe (a cluster job, a
sweep worker) there is no bar, and :meth:`Progress.suffix` gives the log lines their
``elapsed … ETA …``.
"""

from __future__ import annotations

import sys
import time
from typing import Optional, TextIO


def clock(seconds: float) -> str:
  seconds = int(round(seconds))
  h, rest = divmod(seconds, 3600)
  m, s = divmod(rest, 60)
  return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


class Progress:
  """Steps ``start … total``: a tqdm bar on a terminal, the ETA for plain log lines."""

  def __init__(self, total: int, start: int = 0, stream: Optional[TextIO] = None,
               enabled: Optional[bool] = None, unit: str = "step"):
    self.total, self.start, self.step = total, start, start
    self.stream = stream or sys.stderr
    self.enabled = self.stream.isatty() if enabled is None else enabled
    self._t0 = time.time()
    self._bar = None
    if self.enabled:
      from tqdm import tqdm
      self._bar = tqdm(total=total, initial=start, file=self.stream, unit=unit,
                       dynamic_ncols=True, leave=True, smoothing=0.1)

  def elapsed(self) -> float:
    return time.time() - self._t0

  def eta(self) -> Optional[float]:
    done = self.step - self.start
    return self.elapsed() / done * (self.total - self.step) if done > 0 else None

  def suffix(self) -> str:
    """``elapsed 01:02 ETA 03:04`` (ETA from this process's rate so far)."""
    eta = self.eta()
    return f"elapsed {clock(self.elapsed())} ETA {clock(eta) if eta is not None else '--:--'}"

  def update(self, step: int, loss: Optional[float] = None,
             images_per_s: Optional[float] = None) -> None:
    advance, self.step = step - self.step, step
    if self._bar is None:
      return
    post = {}
    if loss is not None:
      post["loss"] = f"{loss:.4f}"
    if images_per_s:
      post["img/s"] = f"{images_per_s:,.0f}"
    if post:
      self._bar.set_postfix(post, refresh=False)
    self._bar.update(advance)

  def wrap(self, log):
    """``log`` that prints above the bar, so a message never lands inside it."""
    if self._bar is None:
      return log

    def write(message):
      bar = self._bar  # None once closed: the run's last lines follow the finished bar
      if bar is not None:
        bar.clear()
      log(message)
      if bar is not None:
        bar.refresh()
    return write

  def close(self) -> None:
    if self._bar is not None:
      self._bar.close()
      self._bar = None
