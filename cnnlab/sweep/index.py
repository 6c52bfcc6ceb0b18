"""The results index: one SQLite row per run, shared safely by concurrent workers.

Rows hold the run's overrides, resolved config and (when finished) its
``result.json``, with a status:

    pending    not started            running    claimed by a live worker
    preempted  stopped, checkpointed  done       finished
    diverged   NaN/inf loss (a result) invalid   its config was rejected (a result)
    failed     crashed; retried until ``max_attempts`` failures
    paused     reached its ``stop_at`` step (a search's rung), checkpointed: waits until
               the search raises it (:meth:`Index.set_stop`) or prunes it; with a
               ``pid``, its worker holds it (its program alive, waiting: ``running`` again
               when raised; without one, it is ``preempted`` then, to be claimed)
    pruned     stopped early by a search at its rung, for good (a result; its partial
               curve and result are in its directory)

Claiming is one ``BEGIN IMMEDIATE`` transaction, so two workers (or two runners on
one sweep directory) never take the same run. A run whose worker died (its pid is
gone on this host, or its heartbeat is older than ``stale_after_s``) is claimed
again and resumes from its checkpoints. Any config field is queryable:
``index.rows(**{"model.pool": "max"})``.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
import urllib.parse
from typing import Any, Dict, Iterable, List, Optional, Sequence

from cnnlab.errors import ReportError, check_dir
from cnnlab.processes import alive
from cnnlab.train.result import dumps

TERMINAL = ("done", "diverged", "invalid", "pruned")
WAITING = ("paused",)  # not finished, and no worker may take it
_NOT_CLAIMABLE = str(TERMINAL + WAITING)  # (an SQL tuple)
INDEX_FILE = "index.sqlite"  # in the sweep directory


def finished(counts: Dict[str, int]) -> int:
  """How many runs in status ``counts`` are finished (a result: done, diverged, invalid)."""
  return sum(counts.get(s, 0) for s in TERMINAL)


def format_counts(counts: Dict[str, int]) -> str:
  return ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
  run_id TEXT PRIMARY KEY, overrides TEXT NOT NULL, config TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'pending', failures INTEGER NOT NULL DEFAULT 0,
  host TEXT, pid INTEGER, heartbeat REAL, started REAL, updated REAL,
  error TEXT, result TEXT, stop_at INTEGER);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


def _check_is_index(db: sqlite3.Connection, path: str) -> None:
  """A file that is not an SQLite database (corrupted, or something else) fails by name."""
  try:
    db.execute("SELECT name FROM sqlite_master LIMIT 1").fetchall()
  except sqlite3.DatabaseError as e:  # OperationalError too: a WAL file on a read-only mount
    db.close()
    raise ReportError(f"{path} is not a readable sweep index ({e}); restore it from a copy, "
                      f"or move it away and relaunch the sweep to re-index its runs") from None


def _open_readonly(path: str) -> sqlite3.Connection:
  """A read-only connection. SQLite reads a WAL-mode file through its ``-shm`` file, which a
  read-only directory cannot hold: there the file is opened as immutable (nothing may write
  it while it is read, which a read-only mount guarantees)."""
  if not os.path.isfile(path):
    raise ReportError(f"no sweep index at {path}")
  uri = "file:" + urllib.parse.quote(os.path.abspath(path))

  def connect(mode: str) -> sqlite3.Connection:
    db = sqlite3.connect(f"{uri}?{mode}", uri=True, timeout=120, isolation_level=None)
    db.row_factory = sqlite3.Row
    _check_is_index(db, path)
    return db
  try:
    return connect("mode=ro")
  except ReportError:
    if os.access(os.path.dirname(os.path.abspath(path)), os.W_OK):
      raise  # a writable directory: the file itself is bad
    return connect("immutable=1")


def _runnable(row, max_attempts: int, stale_after_s: float, host: str, now: float) -> bool:
  """Whether an unfinished run may be claimed: not out of retries, and not running under a
  live worker (its pid is gone on this host, or its heartbeat is stale)."""
  if row["status"] == "failed" and row["failures"] >= max_attempts:
    return False
  if row["status"] == "running":
    return (row["host"] == host and not alive(row["pid"])) or \
        (row["heartbeat"] or 0) < now - stale_after_s
  return True


class Index:
  """A sweep's index; ``readonly=True`` only reads (a report), which also works on a
  read-only mount and never switches the file's journal mode."""

  def __init__(self, path: str, readonly: bool = False):
    self.path = path
    if readonly:
      self._db = _open_readonly(path)
      return
    folder = os.path.dirname(os.path.abspath(path))
    check_dir(folder, "sweep_dir", write=False)
    os.makedirs(folder, exist_ok=True)
    self._db = sqlite3.connect(path, timeout=120, isolation_level=None)
    self._db.row_factory = sqlite3.Row
    _check_is_index(self._db, path)
    # Two processes opening a new index at once can find it locked while the other switches
    # it to WAL, which SQLite reports at once instead of waiting out the busy timeout.
    for attempt in range(200):
      try:
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)
        columns = {r[1] for r in self._db.execute("PRAGMA table_info(runs)")}
        if "stop_at" not in columns:  # an index from before searches stopped runs
          self._db.execute("ALTER TABLE runs ADD COLUMN stop_at INTEGER")
        break
      except sqlite3.OperationalError as e:
        if "locked" not in str(e) or attempt == 199:
          raise
        time.sleep(0.05)

  def close(self) -> None:
    self._db.close()

  # -- writing ---------------------------------------------------------------

  def add_runs(self, runs: Iterable[Any]) -> int:
    """Registers runs (``spec.Run``) not yet indexed; returns how many were new."""
    now = time.time()
    with self._transaction():
      before = self.count()
      self._db.executemany(
          "INSERT OR IGNORE INTO runs (run_id, overrides, config, updated) VALUES (?, ?, ?, ?)",
          [(r.run_id, json.dumps(r.overrides, sort_keys=True, default=str),
            r.config.to_json_best_effort(), now) for r in runs])
      return self.count() - before

  def remove_runs(self, run_ids: Iterable[str]) -> None:
    """Drops runs from the index (a relaunch re-registers runs that never ran)."""
    self._db.executemany("DELETE FROM runs WHERE run_id = ?", [(r,) for r in run_ids])

  def set_meta(self, key: str, value: Any) -> None:
    self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, json.dumps(value)))

  def meta(self, key: str, default: Any = None) -> Any:
    row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return json.loads(row["value"]) if row else default

  def claim(self, max_attempts: int = 2, stale_after_s: float = 900.0,
            pid: Optional[int] = None, only: Optional[Iterable[str]] = None) -> Optional[str]:
    """Takes the next runnable run for this process; None when nothing is left to take."""
    taken = self.claim_group([[r] for r in only] if only is not None else None,
                             max_attempts, stale_after_s, pid)
    return taken[0] if taken else None

  def claim_group(self, groups: Optional[Sequence[Sequence[str]]] = None,
                  max_attempts: int = 2, stale_after_s: float = 900.0,
                  pid: Optional[int] = None) -> List[str]:
    """Takes, in one transaction, the runnable runs of the first group (of ``groups``: run
    ids that train together; default, every run alone) that has one; [] when nothing is
    left to take."""
    pid, host, now = pid or os.getpid(), socket.gethostname(), time.time()
    group_of = {rid: list(g) for g in groups for rid in g} if groups is not None else None
    with self._transaction():
      rows = self._db.execute(
          "SELECT run_id, status, failures, host, pid, heartbeat FROM runs "
          f"WHERE status NOT IN {_NOT_CLAIMABLE} ORDER BY rowid").fetchall()
      runnable = [r["run_id"] for r in rows if _runnable(r, max_attempts, stale_after_s, host,
                                                         now)]
      first = next((rid for rid in runnable if group_of is None or rid in group_of), None)
      if first is None:
        return []
      taken = [rid for rid in group_of[first] if rid in set(runnable)] if group_of else [first]
      self._db.executemany(
          "UPDATE runs SET status = 'running', host = ?, pid = ?, heartbeat = ?, started = ?, "
          "updated = ? WHERE run_id = ?", [(host, pid, now, now, now, rid) for rid in taken])
      return taken

  def outstanding(self, max_attempts: int = 2, stale_after_s: float = 900.0) -> Dict[str, int]:
    """Unfinished runs: ``runnable`` (a worker could claim them now; ``orphaned`` of them
    were running under a worker that died) and ``held`` (running under a live worker,
    perhaps another runner's)."""
    host, now = socket.gethostname(), time.time()
    out = {"runnable": 0, "held": 0, "orphaned": 0}
    for r in self._db.execute(
        "SELECT status, failures, host, pid, heartbeat FROM runs "
        f"WHERE status NOT IN {_NOT_CLAIMABLE}"):
      if _runnable(r, max_attempts, stale_after_s, host, now):
        out["runnable"] += 1
        out["orphaned"] += r["status"] == "running"  # its worker died: take it over
      elif r["status"] == "running":
        out["held"] += 1
    return out

  def set_stop(self, run_ids: Iterable[str], step: Optional[int]) -> None:
    """Runs stop at ``step`` (checkpointed, ``paused``) instead of training to the end
    (None: to the end); a run paused below it goes on: ``running`` where its worker holds
    it, else claimable again (``preempted``: it resumes from its checkpoints)."""
    self._db.executemany(
        "UPDATE runs SET stop_at = ?, status = CASE WHEN status != 'paused' THEN status "
        "WHEN pid IS NULL THEN 'preempted' ELSE 'running' END "
        f"WHERE run_id = ? AND status NOT IN {str(TERMINAL)}", [(step, r) for r in run_ids])

  def release(self, run_ids: Iterable[str], pid: Optional[int] = None) -> None:
    """A worker lets go of runs it held at their rung (:meth:`finish` with ``hold``): still
    ``paused`` ones wait unheld; ones already raised (``running``) are ``preempted``."""
    self._db.executemany(
        "UPDATE runs SET pid = NULL, status = CASE WHEN status = 'running' THEN 'preempted' "
        "ELSE status END WHERE run_id = ? AND pid = ? AND status IN ('paused', 'running')",
        [(r, pid or os.getpid()) for r in run_ids])

  def prune(self, run_ids: Iterable[str], why: str) -> None:
    """Ends runs early for good (``pruned``, ``why`` as the note: "pruned at step k")."""
    self._db.executemany(
        "UPDATE runs SET status = 'pruned', error = ?, updated = ? WHERE run_id = ? AND "
        f"status NOT IN {str(TERMINAL)}", [(why, time.time(), r) for r in run_ids])

  def heartbeat(self, run_id: str, pid: Optional[int] = None) -> None:
    self._db.execute("UPDATE runs SET heartbeat = ? WHERE run_id = ? AND pid = ?",
                     (time.time(), run_id, pid or os.getpid()))

  def finish(self, run_id: str, status: str, result: Optional[Dict] = None,
             error: Optional[str] = None, hold: bool = False) -> None:
    """Records a run's outcome (a ``failed`` one counts towards its retry limit);
    ``hold``: the worker keeps the run (``paused`` at a rung, its program waiting)."""
    self._db.execute(
        "UPDATE runs SET status = ?, result = COALESCE(?, result), error = ?, updated = ?, "
        "failures = failures + ?, pid = CASE WHEN ? THEN pid END WHERE run_id = ?",
        (status, dumps(result, default=str) if result is not None else None, error,
         time.time(), int(status == "failed"), int(hold), run_id))

  # -- reading ---------------------------------------------------------------

  def count(self, status: Optional[str] = None) -> int:
    if status is None:
      return self._db.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
    return self._db.execute("SELECT COUNT(*) FROM runs WHERE status = ?", (status,)).fetchone()[0]

  def counts(self) -> Dict[str, int]:
    return {r[0]: r[1] for r in self._db.execute(
        "SELECT status, COUNT(*) FROM runs GROUP BY status")}

  def rows(self, **where: Any) -> List[Dict[str, Any]]:
    """Runs (dicts with parsed JSON) whose config fields equal ``where`` (dotted paths)."""
    sql, args = "SELECT * FROM runs", []
    if where:
      clauses = []
      for path, value in where.items():
        if path in ("run_id", "status"):
          clauses.append(f"{path} = ?")
        else:
          clauses.append("json_extract(config, ?) = ?")
          args.append("$." + path)
        args.append(json.dumps(value) if isinstance(value, (list, tuple, dict)) else value)
      sql += " WHERE " + " AND ".join(clauses)
    out = []
    for r in self._db.execute(sql + " ORDER BY rowid", args):
      d = dict(r)
      for k in ("overrides", "config", "result"):
        d[k] = json.loads(d[k]) if d[k] else None
      out.append(d)
    return out

  def _transaction(self):
    db = self._db

    class _Tx:
      def __enter__(self):
        db.execute("BEGIN IMMEDIATE")

      def __exit__(self, exc_type, *_):
        db.execute("ROLLBACK" if exc_type else "COMMIT")

    return _Tx()
