"""Training: config, LightningModule and the ``train`` entry point.

``train`` is imported lazily so that reading a config (e.g. for ``--help``) does not pay
for importing Lightning.
"""

from instrumentid.training.config import TrainConfig

__all__ = ["TrainConfig", "train"]


def __getattr__(name):
    if name == "train":
        from instrumentid.training.run import train

        return train
    raise AttributeError(name)
