"""``python -m cnnlab.launch``: several training processes of one run, as torchrun starts them.

    python -m cnnlab.launch --num_processes=2 -- --config=configs/mnist1d.py --workdir=runs/x

starts ``python -m cnnlab.main`` ``--num_processes`` times on this machine, each with
``--coordinator_address=127.0.0.1:<a free port> --num_processes=N --process_id=i`` and the
arguments after ``--``. JAX connects them (``jax.distributed``; on CPU the collectives
run over gloo): every process sees every device of the job, the trainer shards each
batch over all of them, and only process 0 writes ``result.json``, ``metrics.jsonl`` and
the TensorBoard events. SIGINT/SIGTERM are forwarded to every process (each checkpoints
and stops); when one process fails the others are stopped, since their collectives
would wait for it forever. The exit code is the first failing process's, else 0.

On a cluster, run one process per host with the same flags (``--coordinator_address``
of host 0), or pass ``--distributed`` where JAX detects the cluster itself (SLURM, Open
MPI, Cloud TPU); see docs/scaling.md.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from typing import List, Optional

from absl import flags

from cnnlab.config import flags as cli_flags
from cnnlab.errors import USER_ERRORS, report


def free_port() -> int:
  with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def commands(num_processes: int, args: List[str], port: int,
             python: str = sys.executable) -> List[List[str]]:
  """The command line of each process."""
  return [[python, "-m", "cnnlab.main", f"--coordinator_address=127.0.0.1:{port}",
           f"--num_processes={num_processes}", f"--process_id={i}", *args]
          for i in range(num_processes)]


def run(num_processes: int, args: List[str], port: Optional[int] = None,
        env: Optional[dict] = None, poll_s: float = 0.2) -> int:
  """Starts the processes and waits for all; returns the job's exit code."""
  env = {**os.environ, **(env or {})}
  env.setdefault("JAX_CPU_COLLECTIVES_IMPLEMENTATION", "gloo")
  procs = [subprocess.Popen(cmd, env=env, start_new_session=True)
           for cmd in commands(num_processes, args, port or free_port())]

  def forward(signum, frame):
    for p in procs:
      if p.poll() is None:
        p.send_signal(signum)
  old = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
  try:
    code = 0
    while any(p.poll() is None for p in procs):
      failed = [p for p in procs if p.poll() not in (None, 0)]
      if failed and not code:
        code = failed[0].returncode
        for p in procs:  # the others would wait in a collective for the failed one
          if p.poll() is None:
            p.terminate()
      time.sleep(poll_s)
    return code or next((p.returncode for p in procs if p.returncode), 0)
  finally:
    for s, h in old.items():
      signal.signal(s, h)


def _define(fv: flags.FlagValues) -> None:
  define = cli_flags.definer(fv)
  define("integer", "num_processes", None, "processes to start", lower_bound=1)
  define("integer", "port", 0, "coordinator port (default: a free one)", lower_bound=0)


def main(argv=None) -> int:
  argv = sys.argv[1:] if argv is None else argv
  own, rest = (argv[:argv.index("--")], argv[argv.index("--") + 1:]) if "--" in argv else \
      (argv, [])
  try:
    a, _, _ = cli_flags.parse(_define, own, prog="python -m cnnlab.launch", doc=__doc__,
                              required=("num_processes",))
  except USER_ERRORS as e:
    return report("launch", e)
  return run(a.num_processes, rest, a.port or None)


if __name__ == "__main__":
  sys.exit(main())
