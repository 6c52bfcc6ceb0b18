"""``python -m cnnlab.sweep``: launch, resume or list a sweep (see cnnlab/sweep/runner.py)."""

import sys

from argparse import RawDescriptionHelpFormatter

from cnnlab.errors import USER_ERRORS, ArgumentParser, report
from cnnlab.sweep import runner
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
  p.add_argument("--pack_seeds", action="store_true",
                 help="train each point's seeds side by side in one vmapped run")
  p.add_argument("--dry_run", action="store_true", help="list the points and exit")
  a = p.parse_args(argv)
  for name in ("workers", "runs_per_device", "devices", "max_attempts"):
    value = getattr(a, name)
    if value is not None and value < (0 if name == "devices" else 1):
      p.error(f"--{name} must be {'>= 0' if name == 'devices' else '>= 1'}, got {value}")
  try:
    if a.dry_run:
      lines = runner.describe(a.config, a.pack_seeds)
      print("\n".join(lines) + f"\n{len(lines)} runs")
      return 0
    sweep_dir = a.sweep_dir or runner.default_sweep_dir(a.config)
    if a.launcher == "ray":
      from cnnlab.sweep import ray_launcher
      counts = ray_launcher.launch(a.config, sweep_dir, address=a.ray_address,
                                   num_cpus=a.ray_num_cpus, num_gpus=a.ray_num_gpus,
                                   max_attempts=a.max_attempts, packed=a.pack_seeds)
    else:
      devices = runner.count_accelerators() if a.devices is None else a.devices
      workers = a.workers or max(1, devices * a.runs_per_device)
      counts = runner.launch(a.config, sweep_dir, workers=workers,
                             runs_per_device=a.runs_per_device, devices=devices,
                             max_attempts=a.max_attempts, stale_after_s=a.stale_after_s,
                             packed=a.pack_seeds)
  except USER_ERRORS as e:
    return report("sweep", e)
  unfinished = sum(counts.values()) - finished(counts)
  return 0 if unfinished == 0 else 1


if __name__ == "__main__":
  sys.exit(main())
