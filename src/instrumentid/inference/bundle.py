"""The model bundle: one file holding everything ``predict`` needs (the contract).

A bundle is a dict with the keys below. It is stored in one of two files, both read here:

- ``.iid``, what ``instrumentid train`` writes: the dict saved with ``torch.save`` and loaded with
  ``torch.load(path, weights_only=True)`` — tensors, numbers, strings, lists and dicts only,
  never pickled code;
- ``.onnx``, what ``instrumentid export`` writes (and how the bundled models ship): the scoring
  graph, whose initialisers hold every weight of the ``state_dict`` and whose metadata holds the
  rest (:ref:`below <graph-file>`); :func:`read_graph` rebuilds the same dict from it, bit for bit.

=================  =====================================================================
key                meaning
=================  =====================================================================
format_version     int; this module reads versions up to :data:`FORMAT_VERSION`
labels             ordered label codes (the order of every score vector)
sample_rate        Hz the model listens at
window_s, hop_s    analysis window and hop in seconds
features           feature config dict, e.g. ``{"name": "logmel", "n_mels": 64, ...}``
normalization      ``{"mean": float, "std": float}`` of the features on the training set (one list
                   entry per channel for multi-channel front-ends)
model              ``{"name": registry name, "params": {...}}``
state_dict         model weights
thresholds         one float per label, in (0, 1) (the rule: :mod:`instrumentid.inference.decision`)
aggregation        how window scores become file scores: ``mean`` | ``max`` | ``topk``
metadata           data it was trained on, date, validation metrics, package version, recipe
checksum           SHA-256 over the weights (detects a tampered or truncated file); required to load
min_duration_s     optional: shortest audio the model judges (default ``contract.MIN_DURATION_S``)
=================  =====================================================================

.. _graph-file:

``instrumentid export`` turns a bundle into an ONNX graph (front-end included) that carries
the :func:`header` — every key but the weights — as JSON metadata, plus ``variable_length`` and
``exported_from`` (see :mod:`instrumentid.inference.export`). ``exported_from.checksum`` is the
bundle's checksum and ``exported_from.weights`` maps each ``state_dict`` key to the initialiser
that holds it bit for bit and its dtype (``{"initializer": "model.fc.weight.f16", "dtype":
"float16"}``; :func:`graph_weight_map` writes it): onnxruntime computes with those initialisers
(cast to float32), and :func:`read_graph` reads them back for PyTorch, refusing a graph whose
weights are not exactly its model's (names, shapes) or do not match the checksum.

Code that reads audio for a model or describes it takes
:class:`~instrumentid.inference.contract.BundleInfo` of it (``BundleInfo.of(bundle)``), which works
alike on a bundle and on a header; the runtimes build it once per load.
This module imports torch only where weights are touched, and onnx only where a graph's weights
are read or mapped (the slim install, which predicts with onnxruntime, has neither).

An ensemble (``instrumentid ensemble``) is a bundle like any other, read by the same predictor:

=================  =====================================================================
features           ``{"name": "waveform", "sample_rate": R}``, R the highest member rate
normalization      ``{"mean": 0.0, "std": 1.0}`` (each member normalises its own features)
model              ``{"name": "ensemble", "params": {"members": [...], "weights": [[...]],
                   "sample_rate": R, "n_labels": L}}``; a member is ``{"model", "features",
                   "normalization", "sample_rate"}`` copied from its bundle, ``weights`` is
                   members × labels (normalised per label)
state_dict         every member's weights under ``members.<i>.`` (covered by the checksum)
labels, window_s,  shared by all members; ``thresholds`` tuned on a validation set or the
hop_s, thresholds  members' weighted mean (:mod:`instrumentid.training.ensembling`)
=================  =====================================================================
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from instrumentid import audio
from instrumentid.errors import BundleError
from instrumentid.extras import need
from instrumentid.fileio import atomic_path
from instrumentid.inference.decision import check_bundle_thresholds
from instrumentid.inference.runtimes import ONNX_METADATA_KEY
from instrumentid.inference.shipped import BUNDLED, bundled_path, resolve
from instrumentid.inference.windows import AGGREGATIONS
from instrumentid.labels import LABELS

if TYPE_CHECKING:
    import torch
    from torch import nn

FORMAT_VERSION = 1
REQUIRED_KEYS = (
    "format_version",
    "labels",
    "sample_rate",
    "window_s",
    "hop_s",
    "features",
    "normalization",
    "model",
    "state_dict",
    "thresholds",
    "aggregation",
    "metadata",
)
#: The keys that hold (or vouch for) the weights; the rest is the bundle's :func:`header`.
WEIGHT_KEYS = ("state_dict", "checksum")
#: Keys an exported graph's metadata adds to the header (they are not the bundle's).
GRAPH_KEYS = ("variable_length", "exported_from")
#: dtypes a weight may have in an exported graph (numpy's names, torch's without ``torch.``).
GRAPH_DTYPES = ("float16", "float32", "float64", "int64", "int32", "uint8", "bool")
#: Largest exported graph read in PyTorch, checked before reading (parsing holds about twice the
#: file in memory): 256 MB is 30 times the largest shipped graph and room for a ~100M-parameter
#: model in float16.
MAX_GRAPH_BYTES = 256 * 1024 * 1024
#: Longest analysis window (and hop, and minimum duration) a bundle may declare: windows are
#: allocated at that length (a short file is tiled to one), so a header saying 10⁹ s would
#: exhaust memory before any check on the weights (the longest shipped window is 3 s).
MAX_WINDOW_S = 60.0
#: Largest count a front-end's config may declare (FFT points, hop, mel bands, bins, kernels):
#: 2^16 is 4 s of audio at 16 kHz; filterbanks grow with their product.
MAX_FEATURE_SIZE = 1 << 16
#: Largest filterbank (bands x FFT bins) and feature map of one window (bands x frames) a
#: front-end may declare: 2^22 numbers, 32 MB in float64; the shipped ones hold under 20,000.
MAX_FEATURE_CELLS = 1 << 22
#: The front-end config's count fields, bounded by MAX_FEATURE_SIZE when present.
FEATURE_SIZE_KEYS = (
    "n_fft",
    "win_length",
    "hop_length",
    "n_mels",
    "n_mfcc",
    "deltas",
    "delta_width",
    "n_bins",
    "bins_per_octave",
    "harmonic_kernel",
    "percussive_kernel",
)


def state_checksum(state_dict: Mapping[str, torch.Tensor]) -> str:
    """SHA-256 over names, shapes, dtypes and bytes of every tensor, in key order."""
    import torch

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
    half: bool = False,
) -> dict:
    """Assemble and validate a bundle dict.

    ``half=True`` stores floating-point weights as float16 (half the file size; loading casts
    them back to the model's float32). Train or calibrate with :func:`round_to_half` applied
    first and the bundle computes exactly what was measured.
    """
    import torch  # noqa: F401 - the tensors below are torch's; fail early and clearly without it

    if half:
        state_dict = {k: v.half() if v.is_floating_point() else v for k, v in state_dict.items()}
    bundle = {
        "format_version": FORMAT_VERSION,
        "labels": list(labels),
        "sample_rate": int(sample_rate),
        "window_s": float(window_s),
        "hop_s": float(hop_s),
        "features": dict(features),
        "normalization": {"mean": _statistic(normalization["mean"]), "std": _statistic(normalization["std"])},
        "model": {"name": model_name, "params": _plain(model_params)},
        "state_dict": {k: v.detach().cpu().clone() for k, v in state_dict.items()},
        "thresholds": [0.5] * len(labels) if thresholds is None else [float(t) for t in thresholds],
        "aggregation": aggregation,
        "metadata": _plain(metadata or {}),
    }
    validate(bundle, "<new bundle>")
    return bundle


def _statistic(value):
    """A normalisation statistic: one float, or a list of floats (one per channel)."""
    return [float(v) for v in value] if isinstance(value, (list, tuple)) else float(value)


def round_to_half(model: nn.Module) -> nn.Module:
    """Round a model's floating-point weights to float16 precision in place (kept as float32)."""
    import torch

    with torch.no_grad():
        for tensor in model.state_dict().values():
            if tensor.is_floating_point():
                tensor.copy_(tensor.half().float())
    return model


def _plain(value):
    """Convert tuples and numpy scalars to list/float so weights_only loading accepts them."""
    if isinstance(value, str):
        return str(value)  # str subclasses (e.g. torch.__version__) are not weights_only-safe
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and not hasattr(value, "is_floating_point"):  # numpy scalar, not a tensor
        return value.item()
    return value


def header(bundle: Mapping) -> dict:
    """Everything but the weights: what an exported graph (ONNX) carries as its metadata."""
    return {key: value for key, value in bundle.items() if key not in WEIGHT_KEYS}


def validate(bundle: Mapping, where: str, *, weights: bool = True) -> None:
    """Raise :class:`BundleError` unless ``bundle`` follows the contract (``weights=False``: a
    :func:`header`, as an ONNX graph carries it)."""
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
    missing = [key for key in REQUIRED_KEYS if key not in bundle and (weights or key not in WEIGHT_KEYS)]
    if missing:
        raise BundleError(f"{where}: bundle is missing key(s): {', '.join(missing)}")
    check_bundle_thresholds(bundle["thresholds"], bundle["labels"], where)
    if bundle["aggregation"] not in AGGREGATIONS:
        raise BundleError(f"{where}: unknown aggregation {bundle['aggregation']!r} ({', '.join(AGGREGATIONS)})")
    check_reading_sizes(bundle, where)
    if weights and "checksum" in bundle and bundle["checksum"] != state_checksum(bundle["state_dict"]):
        raise BundleError(f"{where}: weights do not match the bundle's checksum (file modified or corrupt)")


def check_reading_sizes(bundle: Mapping, where: str) -> None:
    """Refuse a header whose rate, window or front-end sizes would make reading audio allocate
    without bound, before anything is built (the header of a graph is checked the same way)."""
    rates = [bundle["sample_rate"]]
    features, model = bundle["features"], bundle["model"]
    if not isinstance(features, Mapping):
        raise BundleError(f"{where}: the bundle's features are not a mapping")
    named = isinstance(model, Mapping) and isinstance(model.get("name"), str)
    if not (named and isinstance(model.get("params"), Mapping)):
        raise BundleError(f"{where}: the bundle's model is not a name and its parameters")
    if "sample_rate" in features:
        rates.append(features["sample_rate"])
    for rate in rates:
        if not _is_int(rate) or not audio.MIN_SAMPLE_RATE <= rate <= audio.MAX_SAMPLE_RATE:
            raise BundleError(
                f"{where}: sample rate {rate!r} is outside {audio.MIN_SAMPLE_RATE}-{audio.MAX_SAMPLE_RATE} Hz"
            )
    for key in ("window_s", "hop_s", "min_duration_s"):
        value = bundle.get(key, MAX_WINDOW_S if key == "min_duration_s" else None)
        if not _is_real(value) or not 0 < value <= MAX_WINDOW_S:
            raise BundleError(f"{where}: {key} is {value!r}; it must be above 0 and at most {MAX_WINDOW_S:g} s")
    for key in FEATURE_SIZE_KEYS:
        if key in features and not (_is_int(features[key]) and 0 <= features[key] <= MAX_FEATURE_SIZE):
            raise BundleError(
                f"{where}: front-end {key} is {features[key]!r}; it must be a whole number from 0 to {MAX_FEATURE_SIZE}"
            )
    bands = features.get("n_mels", features.get("n_bins", 1)) or 1
    hop = features.get("hop_length")
    frames = bundle["window_s"] * bundle["sample_rate"] / max(hop, 1) if hop is not None else 0
    if bands * (features.get("n_fft", 0) // 2 + 1) > MAX_FEATURE_CELLS or bands * frames > MAX_FEATURE_CELLS:
        raise BundleError(
            f"{where}: the front-end declares a filterbank or a window of more than {MAX_FEATURE_CELLS:,} "
            "numbers (bands x FFT bins, bands x frames); refusing to build it (damaged or crafted file)"
        )


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_real(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def save_bundle(bundle: Mapping, path: str | os.PathLike) -> Path:
    """Validate, add the checksum and write atomically."""
    path = Path(path)
    data = dict(bundle)
    data["checksum"] = state_checksum(data["state_dict"])
    validate(data, str(path))
    import torch

    with atomic_path(path) as tmp:
        torch.save(data, tmp)
    return path


def not_a_bundle(path: Path) -> str:
    """What a file that is no bundle is, and what to give instead, in one sentence."""
    suffix = path.suffix.lower()
    if suffix == ".onnx":
        return f"{path}: not a readable ONNX graph (damaged, or not written by 'instrumentid export')"
    if suffix in (".npz", ".joblib"):
        return (
            f"{path}: a classical (SVM) model, not a bundle; use it with 'instrumentid classical evaluate "
            f"--model {path}', or give a bundle (.iid) or a bundled name ({', '.join(BUNDLED)})"
        )
    return (
        f"{path}: not a model bundle (not an .iid written by 'instrumentid train', or damaged); give a bundle "
        f"file or a bundled name ({', '.join(BUNDLED)})"
    )


def load_bundle(model: str | os.PathLike | None = None) -> dict:
    """Load and validate a bundle: a path (``.iid`` or an exported ``.onnx``), a bundled name
    (:data:`BUNDLED`), or None for the default."""
    return read_bundle(resolve(model))


def read_bundle(path: Path) -> dict:
    """Load and validate the bundle file at ``path`` (already resolved: no bundled names here):
    an ``.iid``, or an exported graph (:func:`read_graph`)."""
    if not path.is_file():
        if path in {bundled_path(name) for name in BUNDLED}:
            raise BundleError(f"{path}: this bundled model is not installed (run 'make default-model')")
        names = ", ".join(BUNDLED)
        raise BundleError(f"{path}: model bundle not found (give a bundle file or one of the bundled models: {names})")
    if path.suffix.lower() == ".onnx":
        return read_graph(path)
    import torch

    try:
        with warnings.catch_warnings():  # torch's notes on pickle protocols of files that are no bundle
            warnings.simplefilter("ignore")
            bundle = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - any unpickling/zip failure means the file is unusable
        raise BundleError(not_a_bundle(path)) from None
    validate(bundle, str(path))
    if "checksum" not in bundle:
        raise BundleError(
            f"{path}: bundle has no checksum, so its weights cannot be verified "
            "(save_bundle writes one; re-save a bundle you trust)"
        )
    return bundle


#: Elements a model may hold beyond its stored weights (non-persistent buffers, e.g. a window),
#: checked before it is built: 16 M, 64 MB of float32.
MAX_UNSTORED_ELEMENTS = 1 << 24


def build_model(bundle: Mapping) -> nn.Module:
    """Rebuild the bundle's model through the registry and load its weights (eval mode), after
    :func:`check_declared_sizes`."""
    from instrumentid.models import build

    spec = bundle["model"]
    check_declared_sizes(bundle)
    model = build(spec["name"], **spec.get("params", {}))
    model.load_state_dict(bundle["state_dict"])  # the names and shapes were checked
    return model.eval()


def declared_weights(spec: Mapping) -> tuple[dict[str, tuple[int, ...]], int]:
    """The weights a model spec (``bundle["model"]``) declares, name → shape, and how many numbers
    its unstored buffers hold, from the model built on torch's ``meta`` device (shapes, no memory),
    so ``widths: [100000, ...]`` or ``n_labels: 10**9`` cost nothing to find."""
    import torch

    from instrumentid.models import build

    with torch.device("meta"):
        shell = build(spec["name"], **spec.get("params", {}))
    declared = {name: tuple(tensor.shape) for name, tensor in shell.state_dict().items()}
    unstored = sum(buffer.numel() for name, buffer in shell.named_buffers() if name not in declared)
    return declared, unstored


def check_declared_sizes(bundle: Mapping) -> None:
    """Refuse a bundle whose model, as its parameters declare it, is not the size of its weights,
    before anything is allocated (:func:`declared_weights`)."""
    spec = bundle["model"]
    declared, unstored = declared_weights(spec)
    stored = {name: tuple(tensor.shape) for name, tensor in bundle["state_dict"].items()}
    if declared != stored or unstored > MAX_UNSTORED_ELEMENTS:
        n_declared = sum(math.prod(shape) for shape in declared.values()) + unstored
        n_stored = sum(tensor.numel() for tensor in bundle["state_dict"].values())
        raise BundleError(
            f"bundle declares a {spec['name']!r} model of {n_declared:,} numbers, but its weights "
            f"hold {n_stored:,} in other shapes; refusing to build it (damaged or crafted file)"
        )


def graph_header(raw: str | None, path: Path) -> dict:
    """The header an exported graph carries as its metadata (``raw``, the JSON text, None when the
    graph has none), validated; it keeps :data:`GRAPH_KEYS`."""
    if raw is None:
        raise BundleError(
            f"{path}: this ONNX graph has no instrumentid metadata (write it with 'instrumentid export BUNDLE --out "
            "model.onnx')"
        )
    try:
        meta = json.loads(raw)
    except (ValueError, RecursionError):
        raise BundleError(f"{path}: the graph's instrumentid metadata is not valid JSON (damaged file)") from None
    validate(meta, str(path), weights=False)
    return meta


def graph_weight_map(proto, state_dict: Mapping[str, torch.Tensor], prefix: str = "model.") -> dict[str, dict]:
    """Point every weight of ``state_dict`` at the initialiser of the exported graph ``proto`` that
    holds it bit for bit, for :func:`read_graph`; returns ``exported_from.weights``.

    The exporter names a weight's initialiser after the module path (``prefix`` + key); the name
    may instead be the output of an Identity (a weight equal to another one, deduplicated) or of a
    Cast (a float16 store). A weight the graph does not use (``num_batches_tracked``) or holds
    only transformed is added as an initialiser of its own, so the map is complete whatever the
    exporter did; every entry is checked by value, never trusted by name.
    """
    from onnx import numpy_helper

    graph = proto.graph
    stored = {tensor.name: tensor for tensor in graph.initializer}
    made_from = {
        out: node.input[0] for node in graph.node if node.op_type in ("Identity", "Cast") for out in node.output
    }
    taken = {*stored, *(out for node in graph.node for out in node.output), *(value.name for value in graph.input)}
    weights = {}
    for key, tensor in state_dict.items():
        dtype = str(tensor.dtype).removeprefix("torch.")
        if dtype not in GRAPH_DTYPES:
            raise BundleError(f"weight {key!r} is {dtype}, which an exported graph does not store")
        value, name, seen = tensor.detach().cpu().contiguous().numpy(), prefix + key, set()
        while name not in stored and name in made_from and name not in seen:
            seen.add(name)
            name = made_from[name]
        if name not in stored or not _same_bits(numpy_helper.to_array(stored[name]), value):
            name, copies = prefix + key, 0
            while name in taken:  # the exporter's own name holds something else
                copies += 1
                name = f"{prefix}{key}.{copies}"
            stored[name] = numpy_helper.from_array(value, name)
            graph.initializer.extend([stored[name]])
            taken.add(name)
        weights[key] = {"initializer": name, "dtype": dtype}
    return weights


def _same_bits(stored, value) -> bool:
    """Whether two arrays hold the same numbers, each exactly representable in the other's dtype
    (bit for bit: -0.0 is not 0.0)."""
    import numpy as np

    if stored.shape != value.shape:
        return False
    with np.errstate(all="ignore"):
        return stored.astype(value.dtype).tobytes() == value.tobytes() and value.astype(stored.dtype).tobytes() == (
            stored.tobytes()
        )


def read_graph(path: Path) -> dict:
    """Rebuild the bundle an exported graph carries (its header from the metadata, its
    ``state_dict`` from the initialisers :func:`graph_weight_map` names, in the bundle's dtypes)
    and validate it: the weights must match the checksum. The file is untrusted: no pickle, no
    external data, at most :data:`MAX_GRAPH_BYTES`, and the weights must be exactly those of the
    model the header declares (every name, no other, the same shapes), checked before any is read."""
    onnx = need("onnx", "loading an exported graph in PyTorch")
    if path.stat().st_size > MAX_GRAPH_BYTES:
        raise BundleError(f"{path}: {path.stat().st_size:,} bytes, larger than an ONNX graph can be")
    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception:  # noqa: BLE001 - any protobuf failure means the file is unusable
        raise BundleError(not_a_bundle(path)) from None
    raw = {prop.key: prop.value for prop in proto.metadata_props}.get(ONNX_METADATA_KEY)
    meta = graph_header(raw, path)
    exported = meta.get("exported_from")
    if not (
        isinstance(exported, Mapping)
        and isinstance(exported.get("weights"), Mapping)
        and isinstance(exported.get("checksum"), str)
    ):
        raise BundleError(
            f"{path}: this graph does not carry its weights for PyTorch (exported by an older instrumentid); "
            "export it again from its bundle"
        )
    bundle = {key: value for key, value in meta.items() if key not in GRAPH_KEYS}
    bundle["state_dict"] = _graph_state(proto, exported["weights"], bundle["model"], path)
    bundle["checksum"] = exported["checksum"]
    validate(bundle, str(path))
    return bundle


def _graph_state(proto, weights: Mapping, spec: Mapping, path: Path) -> dict[str, torch.Tensor]:
    """The ``state_dict`` held by the initialisers ``weights`` names, each checked against the
    shapes the model ``spec`` declares before it is read."""
    import numpy as np
    import torch
    from onnx import TensorProto, numpy_helper

    declared, _ = declared_weights(spec)
    if set(weights) != set(declared):
        missing, extra = sorted(set(declared) - set(weights)), sorted(set(weights) - set(declared))
        raise BundleError(
            f"{path}: the graph's weights are not those of its {spec['name']!r} model (missing: "
            f"{', '.join(missing[:5]) or 'none'}; unexpected: {', '.join(map(str, extra[:5])) or 'none'})"
        )
    stored = {tensor.name: tensor for tensor in proto.graph.initializer}
    state = {}
    for key, entry in weights.items():
        entry = entry if isinstance(entry, Mapping) else {}
        name = entry.get("initializer")
        tensor = stored.get(name) if isinstance(name, str) else None
        if (
            tensor is None
            or entry.get("dtype") not in GRAPH_DTYPES
            or tensor.data_location == TensorProto.EXTERNAL
            or tuple(tensor.dims) != declared[key]
        ):
            raise BundleError(f"{path}: weight {key!r} is missing from the graph or not of its model's shape")
        try:
            state[key] = torch.from_numpy(np.array(numpy_helper.to_array(tensor), dtype=entry["dtype"]))
        except Exception:  # noqa: BLE001 - a damaged tensor fails in numpy or onnx, untyped
            raise BundleError(f"{path}: weight {key!r} is damaged in the graph") from None
    return state
