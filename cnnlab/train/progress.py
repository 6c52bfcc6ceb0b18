"""A one-line progress bar with ETA on a terminal; nothing extra in a log file.

On a TTY the bar is redrawn in place after each chunk of steps and log lines are
printed above it; when the output is a file or a pipe (a cluster job, a sweep
worker) only the trainer's plain log lines appear.
"""

from __future__ import annotations

import sys
import time
from typing import Optional, TextIO


def _clock(seconds: float) -> str:
  seconds = int(round(seconds))
  h, rest = divmod(seconds, 3600)
  m, s = divmod(rest, 60)
  return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


class Progress:
  def __init__(self, total: int, start: int = 0, stream: Optional[TextIO] = None,
               enabled: Optional[bool] = None, width: int = 30):
    self.total, self.start, self.width = total, start, width
    self.stream = stream or sys.stderr
    self.enabled = self.stream.isatty() if enabled is None else enabled
    self._t0 = time.time()
    self._drawn = False

  def line(self, step: int, loss: Optional[float] = None,
           images_per_s: Optional[float] = None) -> str:
    frac = step / max(self.total, 1)
    filled = int(self.width * frac)
    bar = "#" * filled + "." * (self.width - filled)
    done = step - self.start
    elapsed = time.time() - self._t0
    eta = elapsed / done * (self.total - step) if done > 0 else None
    parts = [f"[{bar}] {step}/{self.total} {100 * frac:5.1f}%"]
    if loss is not None:
      parts.append(f"loss {loss:.4f}")
    if images_per_s:
      parts.append(f"{images_per_s:,.0f} img/s")
    parts.append(f"elapsed {_clock(elapsed)}")
    parts.append(f"ETA {_clock(eta)}" if eta is not None else "ETA --:--")
    return "  ".join(parts)

  def update(self, step: int, loss: Optional[float] = None,
             images_per_s: Optional[float] = None) -> None:
    if not self.enabled:
      return
    self.stream.write("\r\033[K" + self.line(step, loss, images_per_s))
    self.stream.flush()
    self._drawn = True

  def wrap(self, log):
    """``log`` that clears the bar first, so a message never lands inside it."""
    def write(message):
      if self.enabled and self._drawn:
        self.stream.write("\r\033[K")
        self.stream.flush()
        self._drawn = False
      log(message)
    return write

  def close(self) -> None:
    if self.enabled and self._drawn:
      self.stream.write("\n")
      self.stream.flush()
      self._drawn = False
