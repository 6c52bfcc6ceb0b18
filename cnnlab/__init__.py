"""cnnlab: a JAX/Flax lab for convolutional networks (see README.md and docs/)."""


def __getattr__(name):  # ``cnnlab.load_run`` without importing JAX on ``import cnnlab``
  if name == "load_run":
    from cnnlab.inspect.load import load_run
    return load_run
  raise AttributeError(f"module 'cnnlab' has no attribute {name!r}")
