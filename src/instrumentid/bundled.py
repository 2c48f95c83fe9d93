"""The model bundles shipped inside the package, by name (no torch: the CLI and the ONNX
runtime resolve names without loading the bundle format).

``--model NAME`` and ``load_model(NAME)`` accept these names as well as paths.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

#: Bundles shipped inside the package: name → (file in assets/, one-line description).
BUNDLED: dict[str, tuple[str, str]] = {
    "default": ("default.iid", "YAMNet (AudioSet-pretrained) + instrument head; the most accurate on real recordings"),
    "fast": ("fast.iid", "small CNN trained on rendered + real audio; ~4x faster, for huge libraries"),
    "audioset-zeroshot": ("audioset-zeroshot.iid", "YAMNet's AudioSet classes mapped to the 11 labels, no training "
                                                   "(the baseline the default must beat)"),
}
DEFAULT_BUNDLE_NAME = BUNDLED["default"][0]


def bundled_path(name: str = "default") -> Path:
    """Path of a bundle shipped inside the package (see :data:`BUNDLED`)."""
    return Path(str(resources.files("instrumentid") / "assets" / BUNDLED[name][0]))


def default_bundle_path() -> Path:
    """Path of the default bundle shipped inside the package."""
    return bundled_path("default")


def resolve(model: str | os.PathLike | None) -> Path:
    """A bundled name (``default``, ``fast``, …), a path, or None (the default) → bundle path.

    An existing file wins over a bundled name of the same spelling.
    """
    if model is None:
        return default_bundle_path()
    path = Path(model)
    if not path.exists() and str(model) in BUNDLED:
        return bundled_path(str(model))
    return path
