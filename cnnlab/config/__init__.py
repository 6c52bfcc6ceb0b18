"""The config room: a run's configuration from its file to the validated ConfigDict.

- :mod:`~cnnlab.config.files`: ``--config=path/file.py[:key=value,...]`` loaded, its
  typed arguments (``config_args``);
- :mod:`~cnnlab.config.overrides`: the one parser of ``<path>=<value>`` overrides, used by
  ``cnnlab.main``, ``cnnlab.sweep`` and ``cnnlab.report`` alike;
- :mod:`~cnnlab.config.base`: the base config and a model's section (every field listed
  with its default, so that every one can be overridden);
- :mod:`~cnnlab.config.validate`: every field checked before anything is compiled;
- :mod:`~cnnlab.config.flags`: the absl command lines of the entry points.

It imports no model, data or loss module: names are checked through
:func:`cnnlab.registry.lookup` (the leaf registry module), which imports the one module
that holds each registry when a config is validated (a test walks the imports).
"""

from cnnlab.config.base import PACKABLE, base_config, model_config
from cnnlab.config.files import config_arg, config_args, load, load_config_file
from cnnlab.config.overrides import apply as apply_overrides
from cnnlab.config.validate import validate
from cnnlab.errors import ConfigError

__all__ = ["PACKABLE", "ConfigError", "apply_overrides", "base_config", "config_arg",
           "config_args", "load", "load_config_file", "model_config", "validate"]
