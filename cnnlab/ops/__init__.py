"""Pure ``jax.numpy`` building blocks: shapes, convolution, pooling, activations, norms.

Everything here is a plain function on arrays (channels-last), jit- and grad-safe.
The Flax modules in :mod:`cnnlab.layers` are thin wrappers that pick these by name.
"""

from cnnlab.ops import activations, compat, conv, normalization, pooling, shapes
from cnnlab.ops.activations import ACTIVATIONS, get_activation, register_activation
from cnnlab.ops.compat import IncompatibleLayersError, check_pool_after
from cnnlab.ops.normalization import NORMS, get_norm, register_norm
from cnnlab.ops.pooling import POOLS, ROI_POOLS, get_pool, register_pool
from cnnlab.ops.shapes import ShapeError

__all__ = [
    "activations", "compat", "conv", "normalization", "pooling", "shapes", "ACTIVATIONS",
    "NORMS", "POOLS", "ROI_POOLS", "get_activation", "get_norm", "get_pool",
    "register_activation", "register_norm", "register_pool", "check_pool_after",
    "IncompatibleLayersError", "ShapeError",
]
