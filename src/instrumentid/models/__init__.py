"""Model registry and built-in architectures (importing this registers them)."""

from instrumentid.models import cnn, ensemble, lstm, parallel, yamnet, zoo  # noqa: F401  (registers the architectures)
from instrumentid.models.registry import ModelEntry, available, build, entry, register, stored_params

__all__ = ["ModelEntry", "available", "build", "entry", "register", "stored_params"]
