"""The model zoo: one file per family, every model registered by name.

    from cnnlab.models import create_model
    model = create_model("resnet56", pool="gem", act="silu")   # validated before compiling
    python -m cnnlab.models.summary resnet56                     # layers, shapes, RF, params, FLOPs
"""

from cnnlab.models import (airbench, alexnet, allcnn, conv1d, densenet, fashionnet,  # noqa: F401
                           inception, lenet, nielsen, resnet, vgg, perceptron, zeiler_fergus)
from cnnlab.models.common import ModelConfigError
from cnnlab.models.registry import (MODELS, ModelSpec, abstract_init, create_model, init_rngs,
                                    register_model)

__all__ = ["MODELS", "ModelConfigError", "ModelSpec", "abstract_init", "create_model",
           "init_rngs", "register_model"]
