"""Sweeps: specs (product / zip / sweep / seeds), a resumable local runner, a Ray
launcher, and the SQLite results index that reports read."""

from cnnlab.sweep.spec import Run, expand, fixed, product, run_id, seeds, sweep, zip  # noqa: A004

__all__ = ["Run", "expand", "fixed", "product", "run_id", "seeds", "sweep", "zip"]
