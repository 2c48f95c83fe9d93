"""One file per model: an exported graph carries its bundle, and PyTorch rebuilds it bit for bit."""

import json
import re

import numpy as np
import pytest
import torch

from helpers import tiny_bundle_dict
from instrumentid.errors import BundleError
from instrumentid.inference import export
from instrumentid.inference.bundle import load_bundle, read_bundle, save_bundle, state_checksum
from instrumentid.inference.runtimes import ONNX_METADATA_KEY, TorchRuntime, open_runtime
from instrumentid.inference.shipped import BUNDLED, bundled_path
from instrumentid.labels import LABELS
from instrumentid.models import build

onnx = pytest.importorskip("onnx", reason="reading a graph in PyTorch needs onnx (the train extra)")
pytest.importorskip("onnxruntime")


def _bits(tensor: torch.Tensor) -> bytes:
    return tensor.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes() if tensor.numel() else b""


@pytest.fixture(scope="module", params=[False, True], ids=["float32", "half"])
def exported(request, tmp_path_factory):
    """A tiny CNN bundle (BatchNorm: unused counters, equal freshly initialised weights the exporter
    deduplicates; a conv large enough to be stored as float16 when exact) and its graph."""
    folder = tmp_path_factory.mktemp("graph")
    params = {"n_labels": len(LABELS), "widths": [4, 8, 16, 16], "dropout": 0.0}
    bundle = tiny_bundle_dict(model_params=params, state_dict=build("cnn", **params).state_dict(), half=request.param)
    path = save_bundle(bundle, folder / "tiny.iid")
    export.export_onnx(path, folder / "tiny.onnx")
    return path, folder / "tiny.onnx"


def test_the_graph_gives_back_the_bundle_bit_for_bit(exported):
    path, graph = exported
    original, rebuilt = load_bundle(path), load_bundle(graph)
    assert list(rebuilt["state_dict"]) == list(original["state_dict"])  # every key, in order
    for key, tensor in original["state_dict"].items():
        assert rebuilt["state_dict"][key].dtype == tensor.dtype and rebuilt["state_dict"][key].shape == tensor.shape
        assert _bits(rebuilt["state_dict"][key]) == _bits(tensor), key
    assert rebuilt["checksum"] == original["checksum"] == state_checksum(rebuilt["state_dict"])
    assert {k: v for k, v in rebuilt.items() if k != "state_dict"} == {
        k: v for k, v in original.items() if k != "state_dict"
    }
    windows = np.random.default_rng(0).standard_normal((3, 16_000)).astype(np.float32) * 0.1
    np.testing.assert_array_equal(TorchRuntime(original)(windows), open_runtime(graph, "torch")(windows))
    assert open_runtime(graph).name == "onnxruntime"  # auto still runs the graph itself


def test_a_graph_stores_the_weights_once(exported):
    """Every weight the graph computes with is the bundle's own initialiser (no second copy); only
    the unused BatchNorm counters are added."""
    _, graph = exported
    proto = onnx.load(str(graph))
    weights = json.loads(proto.metadata_props[0].value)["exported_from"]["weights"]
    used = {name for node in proto.graph.node for name in node.input}
    unused = {key for key, entry in weights.items() if entry["initializer"] not in used}
    assert unused and all(key.endswith("num_batches_tracked") for key in unused)
    assert len(proto.graph.initializer) == len({entry["initializer"] for entry in weights.values()})


def _rewrite(graph, tmp_path, name: str, change) -> object:
    """A copy of ``graph`` after ``change(proto, meta)``, saved as ``tmp_path/name``."""
    proto = onnx.load(str(graph))
    meta = json.loads(proto.metadata_props[0].value)
    change(proto, meta)
    del proto.metadata_props[:]
    if meta is not None:
        onnx.helper.set_model_props(proto, {ONNX_METADATA_KEY: json.dumps(meta)})
    (tmp_path / name).write_bytes(proto.SerializeToString())  # onnx.save would write external data
    return tmp_path / name


def _initializer(proto, meta, key):
    name = meta["exported_from"]["weights"][key]["initializer"]
    return next(tensor for tensor in proto.graph.initializer if tensor.name == name)


def test_a_tampered_weight_fails_the_checksum(exported, tmp_path):
    _, graph = exported

    def tamper(proto, meta):
        tensor = _initializer(proto, meta, "head.weight")
        values = onnx.numpy_helper.to_array(tensor).copy()
        values.flat[0] += 0.5
        tensor.CopyFrom(onnx.numpy_helper.from_array(values, tensor.name))

    tampered = _rewrite(graph, tmp_path, "tampered.onnx", tamper)
    with pytest.raises(BundleError) as refused:
        open_runtime(tampered, "torch")
    assert str(refused.value) == (f"{tampered}: weights do not match the bundle's checksum (file modified or corrupt)")


def _drop_weight(proto, meta):
    del meta["exported_from"]["weights"]["head.bias"]


def _extra_weight(proto, meta):
    meta["exported_from"]["weights"]["head.extra"] = meta["exported_from"]["weights"]["head.bias"]


def _reshape_weight(proto, meta):
    tensor = _initializer(proto, meta, "head.weight")
    values = onnx.numpy_helper.to_array(tensor)
    tensor.CopyFrom(onnx.numpy_helper.from_array(values.reshape(-1), tensor.name))


def _external_weight(proto, meta):
    tensor = _initializer(proto, meta, "head.weight")
    tensor.data_location = onnx.TensorProto.EXTERNAL
    tensor.external_data.add(key="location", value="weights.bin")


def _unmapped(proto, meta):
    del meta["exported_from"]["weights"]


def _bare(proto, meta):
    meta.clear()


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (
            _drop_weight,
            r"the graph's weights are not those of its 'cnn' model \(missing: head.bias; unexpected: none\)",
        ),
        (
            _extra_weight,
            r"the graph's weights are not those of its 'cnn' model \(missing: none; unexpected: head.extra\)",
        ),
        (_reshape_weight, r"weight 'head.weight' is missing from the graph or not of its model's shape"),
        (_external_weight, r"weight 'head.weight' is missing from the graph or not of its model's shape"),
        (_unmapped, r"this graph does not carry its weights for PyTorch \(exported by an older instrumentid\)"),
        (_bare, r"not a model bundle \(no format_version\)"),
    ],
)
def test_a_graph_without_its_weights_is_refused_in_one_line(exported, tmp_path, change, says):
    _, graph = exported
    broken = _rewrite(graph, tmp_path, "broken.onnx", change)
    with pytest.raises(BundleError, match=f"^{re.escape(str(broken))}: {says}") as refused:
        read_bundle(broken)
    assert "\n" not in str(refused.value)


def test_a_graph_without_metadata_is_refused(exported, tmp_path):
    _, graph = exported
    proto = onnx.load(str(graph))
    del proto.metadata_props[:]
    onnx.save(proto, str(tmp_path / "bare.onnx"))
    with pytest.raises(BundleError, match=r"bare.onnx: this ONNX graph has no instrumentid metadata"):
        load_bundle(tmp_path / "bare.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"not a graph")
    with pytest.raises(BundleError, match=r"junk.onnx: not a readable ONNX graph"):
        load_bundle(tmp_path / "junk.onnx")


@pytest.mark.parametrize("name", list(BUNDLED))
def test_a_shipped_name_is_one_file_for_both_runtimes(name):
    path = bundled_path(name)
    assert path.suffix == ".onnx" and path.is_file()
    assert not list(path.parent.glob("*.iid"))  # the package ships each model once
    assert open_runtime(name).path == path
    torch_runtime = open_runtime(name, "torch")
    assert torch_runtime.name == "torch" and torch_runtime.path == path
