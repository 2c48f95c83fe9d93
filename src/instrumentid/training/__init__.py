"""Training: config, LightningModule and the ``train`` entry point."""

from instrumentid.training.config import TrainConfig
from instrumentid.training.run import train

__all__ = ["TrainConfig", "train"]
