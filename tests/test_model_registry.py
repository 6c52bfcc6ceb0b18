"""Tests generated from the model registry (as timm parametrizes over list_models()):
one property per test.

Every registered model — built in or registered later — is initialised and run in a
tiny variant: output shape and dtype, determinism, finite gradients, train vs eval mode
(batch statistics move only in train mode), its summary, a fine-tuning head swap,
bfloat16 compute with float32 parameters, and three poolings × three activations
(abstractly, invalid combinations rejected by name). The properties are
:mod:`cnnlab.check.models` (what ``python -m cnnlab.check`` runs on a user's models).
A model's tests share one xdist worker (``--dist loadgroup``), which builds it once.
"""

import pytest

from cnnlab.check import models as C
from cnnlab.models import MODELS

CASES = [pytest.param(name, prop, id=f"{name}-{prop}",
                      marks=pytest.mark.xdist_group(f"model-{name}"))
         for name in MODELS.names() for prop in C.MODEL_CHECKS]


@pytest.mark.parametrize("name,prop", CASES)
def test_model(name, prop):
  C.MODEL_CHECKS[prop](name)
