"""``python -m cnnlab.sweep``: launch, resume or list a sweep (see cnnlab/sweep/runner.py).

    python -m cnnlab.sweep --config=configs/sweeps/x.py:budget=cpu --workers=2 \
        [--config.train.num_steps=100 ...] [--imports=my_ops.py] [--pack_seeds] [--dry_run]
"""

import sys

from argparse import RawDescriptionHelpFormatter

from cnnlab.errors import USER_ERRORS, ArgumentParser, check_dir, report
from cnnlab.imports import split_paths
from cnnlab.sweep import runner
from cnnlab.sweep.definition import SweepSpec
from cnnlab.sweep.index import finished


def main(argv=None) -> int:
  p = ArgumentParser(prog="python -m cnnlab.sweep", description=runner.__doc__, what="sweep",
                     formatter_class=RawDescriptionHelpFormatter)
  p.add_argument("--config", required=True, help="config file with get_sweep(), [:arg]")
  p.add_argument("--sweep_dir", default=None, help="default: sweeps/<config name>")
  p.add_argument("--workers", type=int, default=None,
                 help="parallel worker processes (default: one per accelerator × "
                      "--runs_per_device, else 1)")
  p.add_argument("--runs_per_device", type=int, default=1)
  p.add_argument("--devices", type=int, default=None, help="accelerators (default: detected)")
  p.add_argument("--max_attempts", type=int, default=2, help="tries per failing run")
  p.add_argument("--stale_after_s", type=float, default=900.0,
                 help="a running run whose heartbeat is older is taken over")
  p.add_argument("--launcher", choices=("local", "ray"), default="local")
  p.add_argument("--ray_address", default=None, help="Ray cluster address (default: local)")
  p.add_argument("--ray_num_cpus", type=float, default=1.0, help="CPUs per Ray task")
  p.add_argument("--ray_num_gpus", type=float, default=0.0, help="GPUs per Ray task")
  p.add_argument("--pack_seeds", action="store_true", help="the same as --pack=seed")
  p.add_argument("--pack", default=None,
                 help="comma-separated axes trained side by side in one vmapped run: seed, "
                      "optim.lr, optim.weight_decay, train.label_smoothing, train.ema_decay "
                      "(default: seed on accelerators, where it pays; none on CPU, where three "
                      "packed seeds measured slower than three runs; 'none' turns it off)")
  p.add_argument("--imports", default="",
                 help="comma-separated files of the user's registrations (new ops, models), "
                      "imported here and in every worker")
  p.add_argument("--pin_workers", choices=runner.PIN_CHOICES, default="off",
                 help="share: pin each local worker to its share of the cores before JAX "
                      "starts, sizing XLA's CPU thread pool to it (about 10%% faster with 2 "
                      "workers on 2 cores; a run's numbers are then those of a run on that "
                      "many cores, not of an unpinned run)")
  p.add_argument("--target_seeds", type=int, default=0,
                 help="at least this many seeds per point: the missing seeds (after each "
                      "point's largest) become new runs of the same sweep directory, e.g. "
                      "the number a report's seeds-needed table asks for")
  p.add_argument("--dry_run", action="store_true",
                 help="list the points and run ids, with a time estimate from finished runs")
  a, extra = p.parse_known_args(argv)
  unknown = [x for x in extra if not x.startswith("--config.")]
  if unknown:
    p.error(f"unrecognized arguments: {' '.join(unknown)}")
  for name in ("workers", "runs_per_device", "devices", "max_attempts", "target_seeds"):
    value, least = getattr(a, name), 0 if name in ("devices", "target_seeds") else 1
    if value is not None and value < least:
      p.error(f"--{name} must be >= {least}, got {value}")
  _checks_on_the_cpu()
  try:
    spec = SweepSpec.from_args(a.config, extra, split_paths(a.imports), _pack(a),
                               a.target_seeds)
    sweep_dir = a.sweep_dir or runner.default_sweep_dir(a.config)
    check_dir(sweep_dir, "--sweep_dir", write=not a.dry_run)
    if a.dry_run:
      print("\n".join(runner.describe(spec, sweep_dir, a.workers or 1)))
      return 0
    if a.launcher == "ray":
      from cnnlab.sweep import ray_launcher
      counts = ray_launcher.launch(spec, sweep_dir, address=a.ray_address,
                                   num_cpus=a.ray_num_cpus, num_gpus=a.ray_num_gpus,
                                   max_attempts=a.max_attempts)
    else:
      devices = runner.count_accelerators() if a.devices is None else a.devices
      workers = a.workers or max(1, devices * a.runs_per_device)
      counts = runner.launch(spec, sweep_dir, workers=workers,
                             runs_per_device=a.runs_per_device, devices=devices,
                             max_attempts=a.max_attempts, stale_after_s=a.stale_after_s,
                             pin=a.pin_workers)
  except runner.InvalidPoints as e:  # one line per point that cannot run
    print(f"invalid sweep: {len(e.lines)} point(s) cannot run; nothing was launched "
          f"(fix them, or leave them out, and relaunch):", file=sys.stderr)
    for line in e.lines:
      print(f"  {line}", file=sys.stderr)
    return 2
  except USER_ERRORS as e:
    return report("sweep", e)
  unfinished = sum(counts.values()) - finished(counts)
  if counts.get("invalid"):  # rejected while running (e.g. a batch larger than the data)
    _print_invalid(sweep_dir)
    return 1
  return 0 if unfinished == 0 else 1


def _print_invalid(sweep_dir: str) -> None:
  import os
  from cnnlab.sweep.index import INDEX_FILE, Index
  index = Index(os.path.join(sweep_dir, INDEX_FILE), readonly=True)
  rows = index.rows(status="invalid")
  index.close()
  print(f"{len(rows)} run(s) ended invalid (a relaunch with the corrected settings re-runs "
        f"them):", file=sys.stderr)
  for r in rows:
    print(f"  {r['run_id']}: {' '.join(str(r['error']).split())}", file=sys.stderr)


def _checks_on_the_cpu() -> None:
  """The launcher only checks configs (shapes, traced abstractly): on the CPU, so that it
  never takes the accelerator memory its workers need. (Process-local: workers inherit
  nothing of it.)"""
  from cnnlab.train import runtime
  if not runtime.backends_initialized():
    import jax
    jax.config.update("jax_platforms", "cpu")


def _pack(a) -> tuple:
  """The packed axes: --pack, --pack_seeds, or by default seeds on accelerators."""
  if a.pack is not None:
    return tuple(x.strip() for x in a.pack.split(",") if x.strip() and x.strip() != "none")
  if a.pack_seeds:
    return ("seed",)
  devices = runner.count_accelerators() if a.devices is None else a.devices
  return ("seed",) if devices and a.launcher == "local" else ()


if __name__ == "__main__":
  sys.exit(main())
