"""Extending the lab: a pooling op registered in one line.

This file is collected before ``test_registry_conformance.py`` (name order), so
the toy op below is in the registry by then and the conformance suite checks it
like any built-in op — nobody writes a test for it.
"""

from cnnlab.ops import pooling
from cnnlab.ops.pooling import POOLS, avg_pool, max_pool, register_pool

# The one line a researcher writes:
register_pool("toy_max_plus_avg", lambda x, window, strides=None, padding="VALID": max_pool(x, window, strides, padding) + avg_pool(x, window, strides, padding))  # noqa: E501


def test_toy_pool_is_registered_and_usable_by_name():
  assert "toy_max_plus_avg" in POOLS.names()
  import jax.numpy as jnp
  x = jnp.arange(16.0).reshape(1, 4, 4, 1)
  y = pooling.get_pool("toy_max_plus_avg")(x, 2)
  assert y.shape == (1, 2, 2, 1) and float(y[0, 0, 0, 0]) == 5.0 + 2.5
