"""Shared test setup.

Registry conformance tests are parametrized from the registries as they stand when
each test module is collected. Test files are collected in name order, so an op
registered in ``tests/test_custom_*.py`` is in the registry by the time
``tests/test_registry_conformance.py`` is collected and gets the full suite.
"""

import os
import sys

# Tests run on the CPU; keep XLA from grabbing every core's worth of threads per
# xdist worker and make sure no accelerator plugin is picked up by accident.
os.environ.setdefault("JAX_PLATFORMS", "cpu")
# XLA's CPU backend spends most of a small test's time compiling tiny programs
# (threefry RNG in `init` especially), and the tests check numerics, not speed:
# optimisation level 0 compiles 3-5x faster, and the older IR emitters in place of the
# fusion emitters another 1.7x (a ResNet-20 init) to 3x (its gradient).
FAST_COMPILE_FLAGS = ("--xla_backend_optimization_level=0", "--xla_cpu_use_fusion_emitters=false")
for _flag in FAST_COMPILE_FLAGS:
  if _flag.split("=")[0] not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + _flag).strip()
sys.path.insert(0, os.path.dirname(__file__))

import jax  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_platforms", "cpu")
# Many tests compile the same tiny programs (the same config trained in several ways):
# a persistent cache for the session (shared by the xdist workers) loads them instead.
_CACHE = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"cnnlab-test-xla-{os.getuid()}")
# The processes the tests start (a killed child, a second host) inherit the cache
# through JAX's environment variables; cnnlab.main and sweep workers use their own.
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", _CACHE)
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.2")
jax.config.update("jax_compilation_cache_dir", _CACHE)
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)


def pytest_generate_tests(metafunc):
  if "model_name" in metafunc.fixturenames:
    from cnnlab.models import MODELS
    # in the xdist group of the model's registry tests (test_model_registry.py): one
    # worker builds and initialises each model once for all of them
    metafunc.parametrize("model_name", [
        pytest.param(n, marks=pytest.mark.xdist_group(f"model-{n}")) for n in MODELS.names()])


@pytest.fixture
def xla_default_emitters(monkeypatch):
  """The processes a test starts compile with XLA's default (fusion) emitters, as a
  user's do. For tests that hold programs of different shapes (vmapped replicas, a
  sharded batch) to 1e-4 of each other after training: with the older emitters they
  round apart by up to 2e-3 within 4 Adam steps (a near-zero gradient's sign flips,
  and Adam's step is then lr-sized either way)."""
  flags = [f for f in os.environ.get("XLA_FLAGS", "").split()
           if not f.startswith("--xla_cpu_use_fusion_emitters")]
  monkeypatch.setenv("XLA_FLAGS", " ".join(flags))
