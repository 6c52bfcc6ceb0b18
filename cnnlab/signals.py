"""SIGTERM/SIGINT as a flag: the one signal helper of the trainer, the sweep runner and its workers.

    with StopSignal() as stop:
      while not stop.received:
        ...                      # finish the current unit of work, then stop cleanly

Outside the main thread (where Python cannot install handlers) the helper leaves the
signals alone and ``received`` stays None. The previous handlers are restored on exit.
Nested helpers all hear a signal (the inner one passes it on to the one it replaced): a
search driver learns that the sweep runner it called was stopped.
"""

from __future__ import annotations

import signal
from typing import Callable, Dict, Optional

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class StopSignal:
  """Turns SIGTERM/SIGINT into ``received`` (the signal's name); ``on_signal`` is called too."""

  def __init__(self, on_signal: Optional[Callable[[str], None]] = None):
    self.received: Optional[str] = None
    self._on_signal = on_signal
    self._old: Dict[int, object] = {}

  def __enter__(self) -> "StopSignal":
    for sig in SIGNALS:
      try:
        self._old[sig] = signal.signal(sig, self._handle)
      except ValueError:  # not the main thread
        pass
    return self

  def _handle(self, signum, frame) -> None:
    self.received = signal.Signals(signum).name
    if self._on_signal is not None:
      self._on_signal(self.received)
    outer = self._old.get(signum)
    if isinstance(getattr(outer, "__self__", None), StopSignal):
      outer(signum, frame)

  def __exit__(self, *exc) -> None:
    for sig, old in self._old.items():
      signal.signal(sig, old)
    self._old.clear()
