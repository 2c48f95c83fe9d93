"""Model registry and built-in architectures (importing this registers them)."""

from instrumentid.models import cnn, yamnet, zoo  # noqa: F401  (registers cnn, cnn-wide, yamnet, timm, ast, wav2vec2)
from instrumentid.models.registry import ModelEntry, available, build, entry, register

__all__ = ["ModelEntry", "available", "build", "entry", "register"]
