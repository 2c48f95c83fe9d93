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
    requires: str | None = None  # "module:extra" it needs, e.g. "transformers:zoo"
    frontend: str = "logmel"  # the feature front-end it reads: "logmel", "yamnet" or "waveform"
    #: False for pretrained networks that expect their front-end's raw output (no mean/std scaling)
    normalize: bool = True
    #: False for models assembled from trained bundles (``ensemble``): ``train`` refuses them
    trainable: bool = True


_REGISTRY: dict[str, ModelEntry] = {}


def register(name: str, description: str, *, requires: str | None = None, frontend: str = "logmel",
             normalize: bool = True, trainable: bool = True):
    """Class/function decorator adding a builder to the registry under ``name``."""

    def decorator(builder):
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is already registered")
        _REGISTRY[name] = ModelEntry(name, builder, description, requires, frontend, normalize, trainable)
        return builder

    return decorator


def available() -> dict[str, ModelEntry]:
    """All registered models by name."""
    return dict(_REGISTRY)


def entry(name: str) -> ModelEntry:
    """The registry entry of ``name``; ConfigError listing the choices when unknown."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError(f"unknown model {name!r}; available: {', '.join(sorted(_REGISTRY))}") from None


def build(name: str, **params) -> nn.Module:
    """Build registered model ``name`` with ``params`` (which the bundle stores)."""
    try:
        return entry(name).builder(**params)
    except TypeError as exc:
        raise ConfigError(f"model {name!r}: bad parameters ({exc})") from None
