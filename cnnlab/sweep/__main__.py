"""``python -m cnnlab.sweep``: launch, resume or list a sweep (see cnnlab/sweep/runner.py).

    python -m cnnlab.sweep --config=configs/sweeps/x.py:budget=cpu --workers=2 \
        [--config.train.num_steps=100 ...] [--imports=my_ops.py] [--pack_seeds] [--dry_run]
    python -m cnnlab.sweep --config=configs/mnist1d.py:conv1d_pool \
        --axis=model.pool=max,avg --axis=model.act=relu,tanh --seeds=3      # no sweep file
    python -m cnnlab.sweep --config=configs/sweeps/mnist1d_pool_act.py --only=model.pool=max,avg
"""

import sys

from absl import flags

from cnnlab.config import flags as cli_flags
from cnnlab.errors import USER_ERRORS, check_dir, report
from cnnlab.imports import split_paths
from cnnlab.sweep import runner
from cnnlab.sweep.definition import SweepSpec
from cnnlab.sweep.index import finished


def _define(fv: flags.FlagValues) -> None:
  define = cli_flags.definer(fv)
  define("string", "config", None, "config file with get_sweep(), [:arg]")
  define("string", "sweep_dir", None, "default: sweeps/<config name>")
  define("integer", "workers", None, "parallel worker processes (default: one per "
         "accelerator × --runs_per_device, else 1)", lower_bound=1)
  define("integer", "runs_per_device", 1, "runs sharing one accelerator", lower_bound=1)
  define("integer", "devices", None, "accelerators (default: detected)", lower_bound=0)
  define("integer", "max_attempts", 2, "tries per failing run", lower_bound=1)
  define("float", "stale_after_s", 900.0,
         "a running run whose heartbeat is older is taken over")
  define("enum", "launcher", "local", "local or ray", enum_values=["local", "ray"])
  define("string", "ray_address", None, "Ray cluster address (default: local)")
  define("float", "ray_num_cpus", 1.0, "CPUs per Ray task")
  define("float", "ray_num_gpus", 0.0, "GPUs per Ray task")
  define("bool", "pack_seeds", False, "the same as --pack=seed")
  define("string", "pack", None,
         "comma-separated axes trained side by side in one vmapped run: seed, optim.lr, "
         "optim.weight_decay, train.label_smoothing, train.ema_decay (default: seed on "
         "accelerators, where it pays; none on CPU, where three seeds side by side measured slower "
         "than three runs; 'none' turns it off)")
  define("string", "imports", "", "comma-separated files of the user's registrations (new "
         "ops, models), imported here and in every worker")
  define("enum", "pin_workers", "off", "share: pin each local worker to its share of the "
         "cores before JAX starts, sizing XLA's CPU thread pool to it (about 10% faster with "
         "2 workers on 2 cores; a run's numbers are then those of a run on that many cores, "
         "not of an unpinned run)", enum_values=list(runner.PIN_CHOICES))
  define("integer", "target_seeds", 0, "at least this many seeds per point: the missing "
         "seeds (after each point's largest) become new runs of the same sweep directory, "
         "e.g. the number a report's seeds-needed table asks for", lower_bound=0)
  define("multi_string", "axis", [], "an axis of the sweep, <path>=<v1>,<v2>,... (typed by "
         "the field, as an override) or a range <path>=log:<low>:<high>:<n> (or lin:...); "
         "several are crossed, and crossed with the config's get_sweep() if it has one")
  define("integer", "seeds", 0, "n seeds (0 ... n-1) crossed with the axes", lower_bound=0)
  define("multi_string", "only", [], "<path>=<v1>,<v2>,...: keep only the points that set "
         "the swept path to one of these values (narrows a shipped sweep)")
  define("bool", "dry_run", False,
         "list the points and run ids, with a time estimate from finished runs")


def main(argv=None) -> int:
  argv = sys.argv[1:] if argv is None else argv
  try:
    a, overrides, _ = cli_flags.parse(_define, argv, prog="python -m cnnlab.sweep",
                                      doc=runner.__doc__, required=("config",),
                                      overrides=True)
  except USER_ERRORS as e:
    return report("sweep", e)
  from cnnlab.train import runtime
  runtime.checks_on_the_cpu()
  try:
    spec = SweepSpec.from_args(a.config, overrides, split_paths(a.imports),
                               runner.pack_axes(a.pack, a.pack_seeds, a.devices, a.launcher),
                               a.target_seeds, a.axis, a.seeds, a.only)
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


if __name__ == "__main__":
  sys.exit(main())
