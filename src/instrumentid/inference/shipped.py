"""The model bundles shipped inside the package, by name (no torch: the CLI and the ONNX
runtime resolve names without loading the bundle format).

``--model NAME`` and ``load_model(NAME)`` accept these names as well as paths. A bundle listed
in :data:`EXPORTED` also ships as its ONNX export (``instrumentid export``, made by the same
recipe); with onnxruntime installed, the name runs that graph — the same records within 1e-3
(``tests/test_default_model.py``), without importing torch — unless the torch runtime is asked
for (Grad-CAM, embeddings and threshold tuning ask for it).
"""

from __future__ import annotations

import importlib.util
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
#: Bundled names also shipped as an exported ONNX graph: name → file in assets/. Only ``fast``:
#: onnxruntime's shorter start-up is what lets it reach its speed target (see README, Speed).
EXPORTED: dict[str, str] = {"fast": "fast.onnx"}


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

    An existing file wins over a bundled name of the same spelling. For a bundled name with an
    ONNX export, ``runtime`` ``auto`` (when onnxruntime is installed) or ``onnxruntime`` gives
    the export; ``torch`` always gives the bundle.
    """
    name = "default" if model is None else str(model)
    if model is not None and (Path(model).exists() or name not in BUNDLED):
        return Path(model)
    exported = exported_path(name)
    wants_onnx = runtime == "onnxruntime" or (runtime == "auto" and importlib.util.find_spec("onnxruntime"))
    if exported is not None and wants_onnx and exported.is_file():
        return exported
    return bundled_path(name)
