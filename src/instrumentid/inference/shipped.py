"""The models shipped inside the package, by name (no torch: the CLI and the ONNX runtime resolve
names without loading the bundle format).

``--model NAME`` and ``load_model(NAME)`` accept these names as well as paths. Each name is one
file, the model's exported ONNX graph (``export.ship`` writes it; ``make onnx-models`` re-exports
them): onnxruntime runs it without importing torch, and the torch runtime (``--runtime torch``;
Grad-CAM, embeddings and threshold tuning ask for it, and need the ``train`` extra) rebuilds the
bundle it carries, bit for bit (:func:`instrumentid.inference.bundle.read_graph`) — the same
records within 1e-4 (``tests/test_default_model.py``).
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

#: Models shipped inside the package: name → (its graph in assets/, one-line description).
BUNDLED: dict[str, tuple[str, str]] = {
    "default": (
        "default.onnx",
        "YAMNet (AudioSet-pretrained) + instrument head over the 33-code vocabulary (IRMAS 11 "
        "+ bass, drums, synths, brass, folk and world instruments); the most accurate",
    ),
    "fast": ("fast.onnx", "small CNN over the 11 IRMAS labels, trained on rendered + real audio; for huge libraries"),
    "audioset-zeroshot": (
        "audioset-zeroshot.onnx",
        "YAMNet's AudioSet classes mapped to the 33 codes, no training (the baseline the default must beat)",
    ),
}


def bundled_path(name: str = "default") -> Path:
    """Path of a model shipped inside the package (see :data:`BUNDLED`)."""
    return Path(str(resources.files("instrumentid") / "assets" / BUNDLED[name][0]))


def default_bundle_path() -> Path:
    """Path of the default model shipped inside the package."""
    return bundled_path("default")


def resolve(model: str | os.PathLike | None) -> Path:
    """A bundled name (``default``, ``fast``, …), a path, or None (the default) → model path.

    An existing file wins over a bundled name of the same spelling.
    """
    name = "default" if model is None else str(model)
    if model is not None and (Path(model).exists() or name not in BUNDLED):
        return Path(model)
    return bundled_path(name)
