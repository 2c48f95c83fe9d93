"""Model registry: a name maps to one builder; bundles rebuild models through it.

>>> from instrumentid.models import build, available
>>> model = build("cnn", n_labels=11)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from instrumentid.errors import ConfigError


@dataclass(frozen=True)
class ModelEntry:
    name: str
    builder: Callable[..., nn.Module]
    description: str
    requires: str | None = None  # optional extra needed, e.g. "zoo"


_REGISTRY: dict[str, ModelEntry] = {}


def register(name: str, description: str, *, requires: str | None = None):
    """Class/function decorator adding a builder to the registry under ``name``."""

    def decorator(builder):
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is already registered")
        _REGISTRY[name] = ModelEntry(name, builder, description, requires)
        return builder

    return decorator


def available() -> dict[str, ModelEntry]:
    """All registered models by name."""
    return dict(_REGISTRY)


def build(name: str, **params) -> nn.Module:
    """Build registered model ``name`` with ``params`` (which the bundle stores)."""
    try:
        entry = _REGISTRY[name]
    except KeyError:
        raise ConfigError(f"unknown model {name!r}; available: {', '.join(sorted(_REGISTRY))}") from None
    try:
        return entry.builder(**params)
    except TypeError as exc:
        raise ConfigError(f"model {name!r}: bad parameters ({exc})") from None
