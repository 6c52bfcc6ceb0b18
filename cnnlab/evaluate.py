"""``python -m cnnlab.evaluate``: a trained run's metrics and confusion matrix on a split.

    python -m cnnlab.evaluate --workdir=runs/fashionnet [--split=test] [--data=NAME] [--out=DIR]
    python -m cnnlab.evaluate --sweep_dir=sweeps/nielsen_ch6_cpu_vote --ensemble=all

Writes ``evaluate_<split>.json`` and ``confusion_<split>.png`` (default: into the run's
directory) and prints the metrics. ``--data`` evaluates on another registered data set of
the same example shape (its default options). ``--ensemble`` scores runs of a sweep as
one classifier (``all``: its finished runs; or comma-separated run ids or unique
prefixes): ``ensemble_<split>.json`` (default: into the sweep directory) holds the
ensemble's metrics (``ensemble_vote_accuracy``, ``ensemble_softmax_accuracy``), each
run's own and their mean.
"""

from __future__ import annotations

import json
import os

from absl import flags

from cnnlab.inspect import cli


def _define(fv: flags.FlagValues) -> None:
  cli.define_run_flags(fv)
  flags.DEFINE_string("split", "test", "train, validation or test.", flag_values=fv)
  flags.DEFINE_string("data", None, "Another data set (catalog name) to evaluate on.",
                      flag_values=fv)
  flags.DEFINE_string("out", None, "Output folder (default: the run's directory).",
                      flag_values=fv)
  flags.DEFINE_integer("batch_size", 500, "Evaluation batch size.", lower_bound=1,
                      flag_values=fv)
  flags.DEFINE_string("ensemble", None, "Runs of --sweep_dir scored as one ensemble: 'all' "
                      "(its finished runs) or comma-separated run ids (or prefixes).",
                      flag_values=fv)


def _ensemble(fv: flags.FlagValues) -> int:
  from cnnlab import imports
  from cnnlab.inspect.evaluate import evaluate_ensemble
  from cnnlab.inspect.load import load_run
  if not fv.sweep_dir or fv.workdir or fv.run_id:
    raise ValueError("--ensemble takes its runs from --sweep_dir (no --workdir or --run_id)")
  imports.load(imports.split_paths(fv.imports))
  ids = [x.strip() for x in fv.ensemble.split(",") if x.strip()]
  if ids == ["all"]:
    from cnnlab.report.tables import collect
    ids = [r["run_id"] for r in collect(fv.sweep_dir) if r["status"] == "done"]
  step = fv.step if fv.step in ("last", "best") else cli._int(fv.step)
  result = evaluate_ensemble([load_run(fv.sweep_dir, rid, step, fv.ema) for rid in ids],
                             fv.split, fv.batch_size)
  out = fv.out or fv.sweep_dir
  os.makedirs(out, exist_ok=True)
  path = os.path.join(out, f"ensemble_{fv.split}.json")
  with open(path, "w") as f:
    json.dump(result, f, indent=1)
  shown = ", ".join(f"{k} {v:.4f}" for k, v in result.items() if isinstance(v, float))
  print(f"{len(ids)} runs as one ensemble on {fv.split} ({result['count']} examples): {shown}")
  print(f"written: {path}")
  return 0


def _body(fv: flags.FlagValues) -> int:
  from cnnlab.inspect.evaluate import confusion_figure, evaluate
  if fv.ensemble:
    return _ensemble(fv)
  run = cli.load_from_flags(fv)
  if fv.data:
    from cnnlab.data.catalog import dataset_info
    from cnnlab.data.prepare import input_shape
    info, _ = dataset_info(fv.data, {})
    shape = tuple(input_shape(info, run.config.data.pad_to))
    if shape != tuple(run.input_shape):
      raise ValueError(f"--data={fv.data}: its examples are {shape} (after data.pad_to), "
                       f"the run's model takes {tuple(run.input_shape)}")
    run.config.data.name = fv.data
    run.config.data.options = {}
  result = evaluate(run, fv.split, fv.batch_size)
  out = fv.out or run.workdir
  os.makedirs(out, exist_ok=True)
  tag = f"{fv.data}_{fv.split}" if fv.data else fv.split
  with open(os.path.join(out, f"evaluate_{tag}.json"), "w") as f:
    json.dump(result, f, indent=1)
  png = confusion_figure(result, os.path.join(out, f"confusion_{tag}.png"))
  shown = ", ".join(f"{k} {v:.4f}" for k, v in result.items() if isinstance(v, float))
  print(f"{result['run']} on {tag} ({result['count']} examples): {shown}")
  print(f"written: {os.path.join(out, f'evaluate_{tag}.json')}" + (f", {png}" if png else ""))
  return 0


if __name__ == "__main__":
  cli.main_of("evaluate", _define, _body)
