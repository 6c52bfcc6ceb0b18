"""Every registered model has a config in configs/, and every config is valid as shipped."""

import glob
import os

import pytest

from cnnlab.data import DATASETS
from cnnlab.data.prepare import subset_info
from cnnlab.models import MODELS
from cnnlab.config import load_config_file
from cnnlab.train import ConfigError, validate
from cnnlab.train.run import build_model

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG_FILES = sorted(glob.glob(os.path.join(REPO, "configs", "*.py")))


def _load(path):
  return load_config_file(path)[0]


def _entries():
  for path in CONFIG_FILES:
    module = _load(path)
    for arg in getattr(module, "ARGS", (None,)):
      yield os.path.basename(path), arg


ENTRIES = list(_entries())


@pytest.mark.parametrize("file,arg", ENTRIES, ids=[f"{f}:{a}" if a else f for f, a in ENTRIES])
def test_config_is_valid_and_its_model_builds_on_its_data(file, arg):
  module = _load(os.path.join(REPO, "configs", file))
  c = module.get_config(arg) if arg else module.get_config()
  validate(c)
  spec = DATASETS.get(c.data.name)
  options = {**spec.defaults, **dict(c.data.options)}
  info = spec.info_for(spec.info, options) if spec.info_for else spec.info
  build_model(c, subset_info(info, c.data.classes))  # the trainer's own; checks shapes abstractly
  if arg and arg in MODELS:
    assert c.model.name == arg


@pytest.mark.parametrize("path", CONFIG_FILES, ids=os.path.basename)
def test_config_docstring_gives_command_expected_result_and_run_time(path):
  doc = _load(path).__doc__ or ""
  assert f"python -m cnnlab.main --config=configs/{os.path.basename(path)}" in doc
  assert "expected" in doc.lower() or "published" in doc.lower()
  assert "run time" in doc.lower() or "per epoch" in doc.lower()


def test_every_registered_model_has_a_config():
  covered = set()
  for file, arg in ENTRIES:
    module = _load(os.path.join(REPO, "configs", file))
    covered.add((module.get_config(arg) if arg else module.get_config()).model.name)
  assert set(MODELS.names()) - covered == set()


def test_unknown_config_argument_lists_the_valid_ones():
  module = _load(os.path.join(REPO, "configs", "cifar10.py"))
  with pytest.raises(ConfigError, match="unknown model 'resnet57'.* Valid: resnet20, resnet32"):
    module.get_config("resnet57")


SWEEP_FILES = sorted(glob.glob(os.path.join(REPO, "configs", "sweeps", "*.py")) +
                     glob.glob(os.path.join(REPO, "experiments", "*", "sweep.py")))


@pytest.mark.parametrize("path", SWEEP_FILES, ids=lambda p: os.path.relpath(p, REPO))
def test_committed_sweeps_expand_into_valid_runs(path):
  from cnnlab.sweep import expand
  from cnnlab.sweep.definition import sweep_of
  module = _load(path)
  budgets = getattr(module, "BUDGETS", ("",))  # e.g. sweep.py:cpu, a budget this CPU affords
  for budget in budgets:
    spec = path + (f":{budget}" if budget != budgets[0] else "")
    base, points = sweep_of(spec)
    runs = expand(base, points)  # validates every point
    assert len(runs) == len(points) >= 2
    doc = module.__doc__ or ""
    assert "python -m cnnlab.sweep --config=" + os.path.relpath(spec, REPO) in doc, spec
  if len(budgets) > 1:
    with pytest.raises(ValueError, match="unknown budget 'gpux'.* Valid: " + ", ".join(budgets)):
      sweep_of(path + ":gpux")
