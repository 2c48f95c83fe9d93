"""Model registry and built-in architectures (importing this registers them)."""

from instrumentid.models import cnn  # noqa: F401  (registers "cnn", "cnn-wide")
from instrumentid.models.registry import ModelEntry, available, build, register

__all__ = ["ModelEntry", "available", "build", "register"]
