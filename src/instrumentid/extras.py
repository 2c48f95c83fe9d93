"""Optional dependencies: which pip extra installs which module (the one place that says so).

The core install (``pip install instrumentid``) predicts and serves every bundled model on
onnxruntime. Training, export, analysis, rendering and the model zoo need extras:
:func:`need` imports a module or raises :class:`~instrumentid.errors.MissingExtraError` naming
the extra, and the CLI turns an import failure of any module listed here into that one line
(exit 2).
"""

from __future__ import annotations

import importlib
from types import ModuleType

from instrumentid.errors import MissingExtraError

#: top-level module → the extra of ``pyproject.toml`` that installs it
EXTRAS: dict[str, str] = {
    **dict.fromkeys(("torch", "lightning", "torchmetrics", "sklearn", "iterstrat", "yaml"), "train"),
    **dict.fromkeys(
        ("fastapi", "uvicorn", "multipart", "python_multipart", "swagger_ui_bundle", "starlette", "pydantic", "anyio"),
        "serve",
    ),
    **dict.fromkeys(("ray", "pyarrow"), "scale"),
    **dict.fromkeys(("matplotlib", "cleanlab", "librosa", "tensorboard"), "analysis"),
    **dict.fromkeys(("timm", "transformers"), "zoo"),
    **dict.fromkeys(("fluidsynth", "scipy"), "synth"),
    "onnx": "train",  # reads the bundle an exported graph carries into PyTorch, and writes graphs
}


def missing(exc: ModuleNotFoundError, purpose: str = "this") -> MissingExtraError | None:
    """The one-line error for a failed import of a module an extra installs (None for any other
    module: a broken install, not a missing extra)."""
    module = (exc.name or "").split(".")[0]
    extra = EXTRAS.get(module)
    if extra is None:
        return None
    return MissingExtraError(
        f"{purpose} needs {module}, which the '{extra}' extra installs: pip install 'instrumentid[{extra}]'"
    )


def need(module: str, purpose: str) -> ModuleType:
    """Import ``module``, or raise the :class:`MissingExtraError` that names its extra."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        error = missing(exc, purpose)
        if error is None:
            raise
        raise error from None
