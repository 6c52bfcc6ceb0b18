"""``python -m cnnlab.inspect``: the inspect page of a trained run (see
:mod:`cnnlab.inspect.page`).

    python -m cnnlab.inspect --workdir=runs/zeiler_fergus --examples=5 [--out=DIR]
    python -m cnnlab.inspect --sweep_dir=sweeps/pool --run_id=pool-max_seed-0 \
        --compare=pool-avg_seed-0

``--compare`` adds runs (of ``--sweep_dir``, or run directories) to the layer-similarity
section (other seeds of the same point, other poolings).
"""

from __future__ import annotations

import os
import sys

from absl import flags

from cnnlab.inspect import cli


def _define(fv: flags.FlagValues) -> None:
  from cnnlab.inspect.attribution import RULES
  from cnnlab.inspect.page import Options
  d = Options()
  cli.define_run_flags(fv)
  flags.DEFINE_string("out", None, "Output folder (default: <workdir>/inspect).",
                      flag_values=fv)
  flags.DEFINE_integer("examples", d.examples, "Examples shown (the first of --split).",
                       lower_bound=d.LEAST["examples"], flag_values=fv)
  flags.DEFINE_string("split", d.split, "Split the examples come from.", flag_values=fv)
  flags.DEFINE_integer("top_k", d.top_k, "Examples per feature in the projections.",
                       lower_bound=d.LEAST["top_k"], flag_values=fv)
  flags.DEFINE_integer("features", d.features, "Features shown per projected layer.",
                       lower_bound=d.LEAST["features"], flag_values=fv)
  flags.DEFINE_list("project", list(d.project), "Layers whose features are projected "
                    "(module paths, e.g. pool1,pool2; default: the first two).",
                    flag_values=fv)
  flags.DEFINE_enum("rule", d.rule, list(RULES), "Backward rule of the projections.",
                    flag_values=fv)
  flags.DEFINE_integer("pool_size", d.pool_size, "Examples searched for the top-k (the "
                       "first N of --split; 0: all of it).",
                       lower_bound=d.LEAST["pool_size"], flag_values=fv)
  flags.DEFINE_integer("cka_examples", d.cka_examples, "Examples for layer similarity.",
                       lower_bound=d.LEAST["cka_examples"], flag_values=fv)
  flags.DEFINE_integer("occlusion_patch", d.occlusion_patch,
                       "Occluding patch width (0: a quarter of the input).",
                       lower_bound=d.LEAST["occlusion_patch"], flag_values=fv)
  flags.DEFINE_integer("ig_steps", d.ig_steps, "Integrated-gradients steps.",
                       lower_bound=d.LEAST["ig_steps"], flag_values=fv)
  flags.DEFINE_list("compare", [], "Runs to compare layer by layer (run ids of --sweep_dir, "
                    "or run directories).", flag_values=fv)


def _body(fv: flags.FlagValues) -> int:
  from cnnlab.inspect.load import load_run
  from cnnlab.inspect.page import Options, inspect_run
  run = cli.load_from_flags(fv)
  others = [load_run(fv.sweep_dir, r, fv.step) if fv.sweep_dir else load_run(r, None, fv.step)
            for r in fv.compare]
  options = Options(examples=fv.examples, split=fv.split, top_k=fv.top_k,
                    features=fv.features, project=tuple(fv.project),
                    rule=fv.rule, pool_size=fv.pool_size, cka_examples=fv.cka_examples,
                    occlusion_patch=fv.occlusion_patch, ig_steps=fv.ig_steps)
  out = fv.out or os.path.join(run.workdir, "inspect")
  path = inspect_run(run, out, options, others, " ".join(["python -m cnnlab.inspect"]
                                                         + sys.argv[1:]))
  print(f"inspect page: {path}")
  return 0


if __name__ == "__main__":
  cli.main_of("inspect", _define, _body)
