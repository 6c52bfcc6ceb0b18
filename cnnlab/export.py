"""``python -m cnnlab.export``: a trained run's weights, with its config beside them.

    python -m cnnlab.export --workdir=runs/fashionnet --format=msgpack|orbax [--out=DIR]

``variables.msgpack`` (flax serialization) or ``variables/`` (Orbax), plus
``config.json`` and ``export.json`` (run, step, model, input shape);
:func:`cnnlab.inspect.evaluate.load_exported` reads them back.
"""

from __future__ import annotations

import os

from absl import flags

from cnnlab.inspect import cli


def _define(fv: flags.FlagValues) -> None:
  cli.define_run_flags(fv)
  flags.DEFINE_enum("format", "msgpack", ["msgpack", "orbax"], "Weights format.",
                    flag_values=fv)
  flags.DEFINE_string("out", None, "Output folder (default: <workdir>/export).",
                      flag_values=fv)


def _body(fv: flags.FlagValues) -> int:
  from cnnlab.inspect.evaluate import export
  run = cli.load_from_flags(fv)
  out = fv.out or os.path.join(run.workdir, "export")
  path = export(run, out, fv.format)
  print(f"exported {run.name} ({fv.format}): {path}")
  return 0


if __name__ == "__main__":
  cli.main_of("export", _define, _body)
