"""Model registry: a name maps to one builder; bundles rebuild models through it.

>>> from instrumentid.models import build, available
>>> model = build("cnn", n_labels=11)

Each entry says which input-geometry parameters its builder takes (``geometry``), so ``train``
fills them from the front-end without guessing from signatures, and :func:`stored_params`
is the one rule for what a bundle keeps of the parameters a model was built with.
"""

from __future__ import annotations

import importlib.util
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
    #: input-geometry parameters the builder takes, among :data:`GEOMETRY`; ``train`` sets them
    #: from the front-end's output shape unless the config's model parameters give them
    geometry: frozenset[str] = frozenset()

    def missing_extra(self) -> str | None:
        """The pip extra to install when the module this entry ``requires`` is not importable
        (``"zoo"`` for ``"transformers:zoo"``), else ``None``."""
        if not self.requires:
            return None
        module, _, extra = self.requires.partition(":")
        return None if importlib.util.find_spec(module) is not None else (extra or module)


#: The input-geometry parameters a builder may declare: channels, frequency bins (``n_bins`` or
#: ``n_mels``, the same number) and frames of one window's features.
GEOMETRY = frozenset({"in_channels", "n_bins", "n_mels", "n_frames"})
#: Build parameters that only initialise a model for training: ``pretrained``, the path of local
#: weights to start from. The bundle carries the trained weights, so it never stores them.
TRAINING_ONLY = frozenset({"pretrained"})


_REGISTRY: dict[str, ModelEntry] = {}


def register(
    name: str,
    description: str,
    *,
    requires: str | None = None,
    frontend: str = "logmel",
    normalize: bool = True,
    trainable: bool = True,
    geometry: tuple[str, ...] = (),
):
    """Class/function decorator adding a builder to the registry under ``name``."""
    unknown = set(geometry) - GEOMETRY
    if unknown:
        raise ValueError(f"model {name!r}: unknown geometry parameter(s) {sorted(unknown)}")

    def decorator(builder):
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is already registered")
        _REGISTRY[name] = ModelEntry(
            name, builder, description, requires, frontend, normalize, trainable, frozenset(geometry)
        )
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


def stored_params(model: nn.Module, params: dict) -> dict:
    """The parameters a bundle stores to rebuild ``model``, which was built from ``params``.

    :data:`TRAINING_ONLY` parameters are left out (the bundle has the weights they pointed at);
    what the model reports about itself is added: its ``architecture`` mapping, e.g. the
    backbone config a Hugging Face model read from those weights.
    """
    kept = {key: value for key, value in params.items() if key not in TRAINING_ONLY}
    return {**kept, **getattr(model, "architecture", {})}
