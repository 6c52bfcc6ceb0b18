"""``python -m cnnlab.search``: a sampled search over config paths (see driver.py).

    python -m cnnlab.search --config=configs/mnist1d.py:conv1d_pool \\
        --space=optim.lr=log:1e-4:1e-1 --space=model.pool=choice:max,avg \\
        --sampler=sobol --trials=12 --seeds=3 --workers=2 [--config.train.num_steps=1000]
    ... --pruner=sha --min_steps=300 --reduction_factor=3   # successive halving (rungs.py)
    ... --pack=seed,optim.lr --prune_in_program=on  # trials side by side, pruned inside
"""

import os
import sys

from absl import flags

from cnnlab.config import flags as cli_flags
from cnnlab.errors import USER_ERRORS, ConfigError, check_dir, report
from cnnlab.imports import split_paths
from cnnlab.search import driver, rungs, space
from cnnlab.sweep import holding
from cnnlab.train.json_numbers import write_json_atomic


def _define(fv: flags.FlagValues) -> None:
  define = cli_flags.definer(fv)
  define("string", "config", None, "config file, [:arg]; a get_space() in it adds dimensions")
  define("multi_string", "space", [], "a dimension: <path>=log:<low>:<high>, uniform:, int:, "
         "int_log:, or choice:<v1>,<v2>,... (typed by the field)")
  define("enum", "sampler", "tpe", "Optuna's sampler", enum_values=list(space.SAMPLERS))
  define("integer", "trials", 10, "the budget: trials in all", lower_bound=1)
  define("float", "budget_s", 0.0, "a compute budget: no new trial once the runs' summed "
         "wall time passes it (0: trials only)", lower_bound=0.0)
  define("integer", "seeds", 1, "seeds per trial (its runs); the objective is over them",
         lower_bound=1)
  define("string", "metric", "best.test.accuracy", "a result path each run reports")
  define("enum", "objective", "mean", "over a trial's seeds (iqm: the 25%-trimmed mean)",
         enum_values=list(driver.OBJECTIVES))
  define("integer", "seed", 0, "the sampler's seed", lower_bound=0)
  define("string", "sweep_dir", None, "default: sweeps/<config name>_search")
  define("integer", "workers", 1, "parallel worker processes (and trials per round)",
         lower_bound=1)
  define("enum", "launcher", "local", "local worker processes, or Ray tasks on a cluster "
         "(each run a task; --workers still sets the trials per round)",
         enum_values=["local", "ray"])
  define("string", "ray_address", None, "Ray cluster address (default: a local Ray)")
  define("float", "ray_num_cpus", 1.0, "CPUs per Ray task")
  define("float", "ray_num_gpus", 0.0, "GPUs per Ray task")
  define("string", "imports", "", "comma-separated files of the user's registrations")
  define("enum", "pruner", "none", "stop trials that cannot win at rungs: Optuna's "
         "successive halving (sha) or Hyperband", enum_values=list(rungs.PRUNERS))
  define("integer", "min_steps", 0, "the first rung, in training steps (an evaluation step)",
         lower_bound=0)
  define("integer", "reduction_factor", 3, "η: rungs at min_steps·η^k; the top 1/η go on",
         lower_bound=2)
  define("string", "pack", None, "comma-separated axes whose runs train side by side as one "
         "program: seed, optim.lr, optim.weight_decay, ... (default: seed with local workers "
         "on accelerators, none on CPU; 'none')")
  define("enum", "prune_in_program", "auto", "at a rung a worker holds its program for the "
         "decision: raised runs train on in it, pruned ones are masked (nothing compiles "
         "again); off: each rung ends its program and the next process resumes from "
         "checkpoints; auto: on for runs side by side on accelerators",
         enum_values=list(holding.MODES))


def main(argv=None) -> int:
  argv = sys.argv[1:] if argv is None else argv
  try:
    a, overrides, _ = cli_flags.parse(_define, argv, prog="python -m cnnlab.search",
                                      doc=__doc__ + "\n" + driver.__doc__,
                                      required=("config",), overrides=True)
    search = _search(a, overrides)
    from cnnlab.sweep.runner import default_sweep_dir
    sweep_dir = a.sweep_dir or default_sweep_dir(a.config) + "_search"
    check_dir(sweep_dir, "--sweep_dir")
    launch = None if a.launcher == "local" else driver.ray_launch(
        a.ray_address, a.ray_num_cpus, a.ray_num_gpus)
    out = driver.run(search, sweep_dir, workers=a.workers, launch=launch)
  except USER_ERRORS as e:
    return report("search", e)
  write_json_atomic(os.path.join(sweep_dir, "search.json"), out)  # (a kill leaves no half)
  best = out["best"]
  print(f"best: trial {best['number']} {best['point']} -> {best['value']:.4f} "
        f"({a.objective} of {a.metric} over {a.seeds} seed(s)); trials in "
        f"{os.path.join(sweep_dir, 'search.json')}" if best else "no trial completed")
  return 0 if best else 1


def _search(a, overrides) -> driver.Search:
  from cnnlab import imports
  from cnnlab.config import apply_overrides, load_config_file
  from cnnlab.sweep import runner
  from cnnlab.sweep.definition import sweep_of
  from cnnlab.sweep.planning import check_packable
  imports.load(split_paths(a.imports))
  base, _ = sweep_of(a.config, needs_sweep=False)
  base = apply_overrides(base, overrides)
  module, _ = load_config_file(a.config)
  dims = space.check(module.get_space(), base) if hasattr(module, "get_space") else {}
  for text in a.space:
    path, dim = space.parse(text, base)
    dims[path] = dim
  if not dims:
    raise ConfigError("give the space: --space=<path>=<kind>:... (or a get_space() in the "
                      "config file)")
  path = a.config.partition(":")[0]
  search = driver.Search(os.path.abspath(path) + a.config[len(path):], dims, a.sampler,
                         a.trials, a.seeds, a.metric, a.objective, a.seed, overrides,
                         tuple(split_paths(a.imports)), a.budget_s, a.pruner, a.min_steps,
                         a.reduction_factor, int(base.train.num_steps or 0),
                         runner.pack_axes(a.pack, launcher=a.launcher), a.prune_in_program)
  check_packable(search.pack)
  rungs.check(search, base)
  return search


if __name__ == "__main__":
  sys.exit(main())
