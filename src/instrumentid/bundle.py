"""The model bundle: one file holding everything ``predict`` needs (the contract).

A bundle is a dict saved with ``torch.save`` and loaded with
``torch.load(path, weights_only=True)`` — tensors, numbers, strings, lists and dicts only,
never pickled code:

=================  =====================================================================
key                meaning
=================  =====================================================================
format_version     int; this module reads versions up to :data:`FORMAT_VERSION`
labels             ordered label codes (the order of every score vector)
sample_rate        Hz the model listens at
window_s, hop_s    analysis window and hop in seconds
features           feature config dict, e.g. ``{"name": "logmel", "n_mels": 64, ...}``
normalization      ``{"mean": float, "std": float}`` of the features on the training set
model              ``{"name": registry name, "params": {...}}``
state_dict         model weights
thresholds         one float per label, in (0, 1)
aggregation        how window scores become file scores: ``mean`` | ``max`` | ``topk``
metadata           data it was trained on, date, validation metrics, package version, recipe
checksum           SHA-256 over the weights (detects a tampered or truncated file)
=================  =====================================================================
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Mapping
from importlib import resources
from pathlib import Path

import torch
from torch import nn

from instrumentid.errors import BundleError
from instrumentid.labels import LABELS

FORMAT_VERSION = 1
REQUIRED_KEYS = (
    "format_version", "labels", "sample_rate", "window_s", "hop_s", "features", "normalization",
    "model", "state_dict", "thresholds", "aggregation", "metadata",
)
AGGREGATIONS = ("mean", "max", "topk")
#: File name of the bundled default model inside the package.
DEFAULT_BUNDLE_NAME = "default.iid"


def default_bundle_path() -> Path:
    """Path of the default bundle shipped inside the package."""
    return Path(str(resources.files("instrumentid") / "assets" / DEFAULT_BUNDLE_NAME))


def state_checksum(state_dict: Mapping[str, torch.Tensor]) -> str:
    """SHA-256 over names, shapes, dtypes and bytes of every tensor, in key order."""
    digest = hashlib.sha256()
    for name in sorted(state_dict):
        tensor = state_dict[name].detach().cpu().contiguous()
        digest.update(f"{name}|{tuple(tensor.shape)}|{tensor.dtype}|".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return digest.hexdigest()


def make_bundle(
    *,
    model_name: str,
    model_params: Mapping,
    state_dict: Mapping[str, torch.Tensor],
    sample_rate: int,
    window_s: float,
    hop_s: float,
    features: Mapping,
    normalization: Mapping,
    labels=LABELS,
    thresholds=None,
    aggregation: str = "mean",
    metadata: Mapping | None = None,
) -> dict:
    """Assemble and validate a bundle dict."""
    bundle = {
        "format_version": FORMAT_VERSION,
        "labels": list(labels),
        "sample_rate": int(sample_rate),
        "window_s": float(window_s),
        "hop_s": float(hop_s),
        "features": dict(features),
        "normalization": {"mean": float(normalization["mean"]), "std": float(normalization["std"])},
        "model": {"name": model_name, "params": _plain(model_params)},
        "state_dict": {k: v.detach().cpu().clone() for k, v in state_dict.items()},
        "thresholds": [0.5] * len(labels) if thresholds is None else [float(t) for t in thresholds],
        "aggregation": aggregation,
        "metadata": _plain(metadata or {}),
    }
    validate(bundle, "<new bundle>")
    return bundle


def _plain(value):
    """Convert tuples and numpy scalars to list/float so weights_only loading accepts them."""
    if isinstance(value, str):
        return str(value)  # str subclasses (e.g. torch.__version__) are not weights_only-safe
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, torch.Tensor):
        return value.item()
    return value


def validate(bundle: Mapping, where: str) -> None:
    """Raise :class:`BundleError` unless ``bundle`` follows the contract."""
    if not isinstance(bundle, Mapping):
        raise BundleError(f"{where}: not a model bundle (expected a dict, found {type(bundle).__name__})")
    version = bundle.get("format_version")
    if not isinstance(version, int):
        raise BundleError(f"{where}: not a model bundle (no format_version)")
    if version > FORMAT_VERSION:
        raise BundleError(
            f"{where}: bundle format_version {version} is newer than this instrumentid reads "
            f"({FORMAT_VERSION}); upgrade instrumentid"
        )
    missing = [key for key in REQUIRED_KEYS if key not in bundle]
    if missing:
        raise BundleError(f"{where}: bundle is missing key(s): {', '.join(missing)}")
    labels, thresholds = bundle["labels"], bundle["thresholds"]
    if len(thresholds) != len(labels):
        raise BundleError(f"{where}: {len(thresholds)} thresholds for {len(labels)} labels")
    if not all(0.0 < float(t) < 1.0 for t in thresholds):
        raise BundleError(f"{where}: thresholds must lie strictly between 0 and 1")
    if bundle["aggregation"] not in AGGREGATIONS:
        raise BundleError(f"{where}: unknown aggregation {bundle['aggregation']!r} ({', '.join(AGGREGATIONS)})")
    if not float(bundle["hop_s"]) > 0 or not float(bundle["window_s"]) > 0:
        raise BundleError(f"{where}: window_s and hop_s must be positive")
    if "checksum" in bundle and bundle["checksum"] != state_checksum(bundle["state_dict"]):
        raise BundleError(f"{where}: weights do not match the bundle's checksum (file modified or corrupt)")


def save_bundle(bundle: Mapping, path: str | os.PathLike) -> Path:
    """Validate, add the checksum and write atomically."""
    path = Path(path)
    data = dict(bundle)
    data["checksum"] = state_checksum(data["state_dict"])
    validate(data, str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        torch.save(data, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_bundle(path: str | os.PathLike | None = None) -> dict:
    """Load and validate a bundle (the bundled default when ``path`` is None)."""
    path = Path(path) if path is not None else default_bundle_path()
    if not path.is_file():
        if path == default_bundle_path():
            raise BundleError(f"{path}: the default model is not installed (run 'make default-model')")
        raise BundleError(f"{path}: model bundle not found")
    try:
        bundle = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling/zip failure means the file is unusable
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BundleError(f"{path}: not a readable model bundle ({reason[:200]})") from None
    validate(bundle, str(path))
    return bundle


def build_model(bundle: Mapping) -> nn.Module:
    """Rebuild the bundle's model through the registry and load its weights (eval mode)."""
    from instrumentid.models import build

    spec = bundle["model"]
    model = build(spec["name"], **spec.get("params", {}))
    try:
        model.load_state_dict(bundle["state_dict"])
    except RuntimeError as exc:
        raise BundleError(f"bundle weights do not fit model {spec['name']!r}: {str(exc).splitlines()[0]}") from None
    return model.eval()
