"""The model bundles shipped inside the package, by name (no torch: the CLI and the ONNX
runtime resolve names without loading the bundle format).

``--model NAME`` and ``load_model(NAME)`` accept these names as well as paths. Every bundle
also ships as its ONNX export (:data:`EXPORTED`, written by ``make onnx-models``), and the name
runs that graph in onnxruntime — the same records within 1e-4 (``tests/test_default_model.py``),
without importing torch — unless the torch runtime is asked for (``--runtime torch``; Grad-CAM,
embeddings and threshold tuning ask for it, and need the ``train`` extra).
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

#: Bundles shipped inside the package: name → (file in assets/, one-line description).
BUNDLED: dict[str, tuple[str, str]] = {
    "default": (
        "default.iid",
        "YAMNet (AudioSet-pretrained) + instrument head over the 33-code vocabulary (IRMAS 11 "
        "+ bass, drums, synths, brass, folk and world instruments); the most accurate",
    ),
    "fast": ("fast.iid", "small CNN over the 11 IRMAS labels, trained on rendered + real audio; for huge libraries"),
    "audioset-zeroshot": (
        "audioset-zeroshot.iid",
        "YAMNet's AudioSet classes mapped to the 33 codes, no training (the baseline the default must beat)",
    ),
}
#: The ONNX export of each bundled name: name → file in assets/ (``recipes/onnx_models.py`` writes
#: them from the bundles and checks them against PyTorch).
EXPORTED: dict[str, str] = {name: f"{name}.onnx" for name in BUNDLED}


def _asset(file: str) -> Path:
    return Path(str(resources.files("instrumentid") / "assets" / file))


def bundled_path(name: str = "default") -> Path:
    """Path of a bundle shipped inside the package (see :data:`BUNDLED`)."""
    return _asset(BUNDLED[name][0])


def exported_path(name: str) -> Path | None:
    """Path of the shipped ONNX export of a bundled name, or None when there is none."""
    return _asset(EXPORTED[name]) if name in EXPORTED else None


def default_bundle_path() -> Path:
    """Path of the default bundle shipped inside the package."""
    return bundled_path("default")


def resolve(model: str | os.PathLike | None, runtime: str = "auto") -> Path:
    """A bundled name (``default``, ``fast``, …), a path, or None (the default) → model path.

    An existing file wins over a bundled name of the same spelling. For a bundled name,
    ``runtime`` ``auto`` or ``onnxruntime`` gives its ONNX export; ``torch`` gives the bundle.
    """
    name = "default" if model is None else str(model)
    if model is not None and (Path(model).exists() or name not in BUNDLED):
        return Path(model)
    exported = exported_path(name)
    if runtime != "torch" and exported is not None and exported.is_file():
        return exported
    return bundled_path(name)
