"""cnnlab's command-line entry point (kept thin: the logic lives in importable modules).

    python -m cnnlab.main            # the main job

Until the trainer lands (issue "Training"), the main job is a tour of the ops
library (:mod:`cnnlab.demo`).
"""

from absl import app


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  from cnnlab import demo
  print(demo.tour(), end="")


def run():
  app.run(main)


if __name__ == "__main__":
  run()
