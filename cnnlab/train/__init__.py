"""Training: configs, pure steps, the resumable loop, checkpoints and metric writers."""

from cnnlab.train.config import ConfigError, base_config, model_config, validate
from cnnlab.train.loop import Diverged, train

__all__ = ["ConfigError", "Diverged", "base_config", "model_config", "train", "validate"]
