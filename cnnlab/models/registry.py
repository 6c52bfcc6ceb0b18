"""The model registry and the uniform model contract.

Every model is a ``flax.linen.Module`` called as ``model(x, train=False)`` on
channels-last inputs that returns float32 logits ``(N, num_classes)``. It has the
fields ``num_classes``, ``pool``, ``act``, ``dtype`` (compute dtype; parameters
stay float32) and, where meaningful, ``norm``, ``depth`` and ``width``. Its
classifier is a submodule named ``head`` (what fine-tuning replaces). Names and
combinations are validated when the module is constructed; shapes when
:func:`create_model` evaluates it abstractly — both before any compilation.

RNG streams: ``params`` at init; ``dropout`` and ``pool`` (stochastic pooling) at
train time.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, Mapping, Optional, Tuple

import jax
import jax.numpy as jnp

from cnnlab.errors import ModelConfigError
from cnnlab.registry import Registry, did_you_mean


@dataclasses.dataclass(frozen=True)
class ModelSpec:
  """A registered model: its class, fixed keyword arguments and canonical input.

  Attributes:
    cls: the flax Module class.
    kwargs: arguments that define this entry (e.g. ``depth=20``).
    input_shape: one example of the canonical data set, channels-last.
    dataset: the canonical data set's catalog name.
    description: one line with the source.
    test_kwargs / test_input_shape: a tiny variant for the registry tests.
  """
  name: str
  cls: type
  kwargs: Mapping[str, Any]
  input_shape: Tuple[int, ...]
  dataset: str
  description: str = ""
  test_kwargs: Mapping[str, Any] = dataclasses.field(default_factory=dict)
  test_input_shape: Optional[Tuple[int, ...]] = None

  def describe(self) -> str:
    return f"{str(self.input_shape):<14} {self.dataset:<14} {self.description}"


MODELS: Registry[ModelSpec] = Registry("model")


def register_model(name: str, cls: type, *, input_shape: Tuple[int, ...], dataset: str,
                   description: str = "", test_kwargs: Optional[Mapping] = None,
                   test_input_shape: Optional[Tuple[int, ...]] = None, overwrite: bool = False,
                   **kwargs) -> ModelSpec:
  return MODELS.add(name, ModelSpec(name, cls, dict(kwargs), tuple(input_shape), dataset,
                                    description, dict(test_kwargs or {}),
                                    tuple(test_input_shape) if test_input_shape else None),
                    overwrite=overwrite)


def model_fields(cls: type) -> Tuple[str, ...]:
  """The fields a config may set: the module's own, less the shared ones it has no layer
  for (``UNUSED_FIELDS``)."""
  unused = set(getattr(cls, "UNUSED_FIELDS", ())) | {"parent", "name"}
  return tuple(f.name for f in dataclasses.fields(cls) if f.name not in unused)


def create_model(name: str, input_shape: Optional[Tuple[int, ...]] = None,
                 check: bool = True, **overrides):
  """Builds a registered model with overrides, validated before any compilation.

  Args:
    name: registry name (``python -m cnnlab.registry model``).
    input_shape: one example's shape; defaults to the model's canonical input.
    check: evaluate ``init`` abstractly (``jax.eval_shape``: traced, never
      compiled) so that a window larger than its feature map fails here, naming
      the layer.
    **overrides: model fields (``pool="avg"``, ``act="tanh"``, ``num_classes=...``).
  """
  spec = MODELS.get(name)
  fields = model_fields(spec.cls)
  unknown = sorted(set(overrides) - set(fields))
  if unknown:
    raise ModelConfigError(f"model {name!r} has no field {unknown[0]!r}."
                           f"{did_you_mean(unknown[0], fields)} Its fields: {', '.join(fields)}")
  model = spec.cls(**{**spec.kwargs, **overrides})
  if check:
    shape = tuple(input_shape or spec.input_shape)
    abstract_init(model, shape)
  return model


def abstract_init(model, input_shape: Tuple[int, ...], batch: int = 1):
  """Shapes of ``model.init`` on ``(batch, *input_shape)`` without compiling anything."""
  x = jax.ShapeDtypeStruct((batch,) + tuple(input_shape), jnp.float32)
  return jax.eval_shape(lambda k, z: model.init(init_rngs(k), z, train=False),
                        jax.random.PRNGKey(0), x)


def init_rngs(key) -> Dict[str, jax.Array]:
  p, d, s = jax.random.split(key, 3)
  return {"params": p, "dropout": d, "pool": s}
