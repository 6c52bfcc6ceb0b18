"""Shared test setup.

Registry conformance tests are parametrized here from the registries as they
stand when each test module is collected. Test files are collected in name order,
so an op registered in ``tests/test_custom_*.py`` is in the registry by the time
``tests/test_registry_conformance.py`` is collected and gets the full suite.
"""

import os
import sys

# Tests run on the CPU; keep XLA from grabbing every core's worth of threads per
# xdist worker and make sure no accelerator plugin is picked up by accident.
os.environ.setdefault("JAX_PLATFORMS", "cpu")
# XLA's CPU backend spends most of a small test's time optimising tiny programs
# (threefry RNG in `init` especially); level 0 compiles 3-5x faster and the tests
# check numerics, not speed.
if "xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
  os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                             " --xla_backend_optimization_level=0").strip()
sys.path.insert(0, os.path.dirname(__file__))

import jax  # noqa: E402

jax.config.update("jax_platforms", "cpu")


def pytest_generate_tests(metafunc):
  from cnnlab.models import MODELS
  from cnnlab.ops import ACTIVATIONS, NORMS, POOLS
  groups = {
      "pool_name": POOLS.names(),
      "learnable_pool_name": [n for n, s in POOLS.items() if s.learnable],
      "window_pool_name": [n for n, s in POOLS.items() if s.kind == "window"],
      "act_name": ACTIVATIONS.names(),
      "norm_name": NORMS.names(),
      "model_name": MODELS.names(),
  }
  for fixture, names in groups.items():
    if fixture in metafunc.fixturenames:
      metafunc.parametrize(fixture, names)
