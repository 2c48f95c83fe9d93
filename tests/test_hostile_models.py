"""Hostile model files and model failures (issue 17, Low): bundles must carry their checksum, and
a graph failing at run time costs one file's record, not the batch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from helpers import write_tone
from instrumentid.errors import BundleError
from instrumentid.inference.bundle import load_bundle
from instrumentid.inference.predictor import Predictor
from instrumentid.inference.runtimes import OnnxRuntime


def test_a_bundle_without_its_checksum_is_refused_with_one_line_naming_it(tmp_path, tiny_bundle):
    bundle = torch.load(tiny_bundle, weights_only=True)
    del bundle["checksum"]
    stripped = tmp_path / "stripped.iid"
    torch.save(bundle, stripped)
    with pytest.raises(BundleError, match=r"stripped\.iid: bundle has no checksum") as refused:
        load_bundle(stripped)
    assert "\n" not in str(refused.value)


class _FailingSession:
    def run(self, *_args):
        raise RuntimeError("[ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION : Non-zero status code returned")


def test_an_onnx_failure_at_run_time_is_an_error_record_and_the_batch_goes_on(tmp_path, tiny_bundle):
    runtime = OnnxRuntime.__new__(OnnxRuntime)  # a loaded graph whose session fails on some input
    runtime.session = _FailingSession()
    with pytest.raises(BundleError, match="the ONNX graph failed on this audio .*RUNTIME_EXCEPTION"):
        runtime(np.zeros((1, 16_000), dtype=np.float32))
    predictor = Predictor.from_bundle(tiny_bundle)
    scores = predictor.score_windows
    predictor.score_windows = lambda windows: runtime(windows) if windows.shape[0] == 2 else scores(windows)
    short, long = write_tone(tmp_path / "short.wav", seconds=1.0), write_tone(tmp_path / "long.wav", seconds=2.0)
    failed, scored = predictor.predict_files([long, short])
    assert failed["error"].startswith(f"{long}: the ONNX graph failed") and "scores" in scored


class _Payload:
    """Unpickling this writes a marker file: what a shared pickle could do instead."""

    def __init__(self, marker) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('ran')",))


def test_a_pickled_classical_model_is_refused_unread(tmp_path):
    """Medium 10: 'classical evaluate --model x.joblib' unpickled the file, so it could run code."""
    import pickle

    from instrumentid.analysis.classical import load_classical
    from instrumentid.errors import DataError

    marker = tmp_path / "marker"
    for name in ("svm.joblib", "svm.npz"):
        (tmp_path / name).write_bytes(pickle.dumps({"format": "instrumentid-classical", "x": _Payload(marker)}))
        with pytest.raises(DataError, match=f"{name}: a pickle .* could run code; retrain it") as refused:
            load_classical(tmp_path / name)
        assert "\n" not in str(refused.value)
    assert not marker.exists()


@pytest.mark.parametrize(
    "params", [{"widths": [100_000, 100_000, 100_000, 100_000]}, {"n_labels": 10**9}, {"widths": [4, 8, 8, 9]}]
)
def test_a_bundle_declaring_huge_sizes_is_refused_before_allocating(tmp_path, tiny_bundle, params):
    """Low: a bundle declaring huge widths made build_model allocate (here 360 GB of convolutions, or a
    10⁹-label head) before its weights were compared. Its checksum is valid: only the declaration lies."""
    import resource
    import time

    from instrumentid.inference.bundle import save_bundle

    bundle = torch.load(tiny_bundle, weights_only=True)
    bundle["model"]["params"].update(params)
    crafted = save_bundle(bundle, tmp_path / "crafted.iid")
    before, started = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, time.monotonic()
    with pytest.raises(
        BundleError, match=r"bundle declares a 'cnn' model of [\d,]+ numbers, but its weights hold 3,772 in"
    ) as refused:
        Predictor.from_bundle(crafted)
    assert "\n" not in str(refused.value) and time.monotonic() - started < 30
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 500_000  # KiB: no big allocation


@pytest.mark.parametrize(
    "change, says",
    [
        ({"window_s": 1e9}, "window_s is 1000000000.0; it must be above 0 and at most 60 s"),
        ({"hop_s": float("nan")}, "hop_s is nan"),
        ({"sample_rate": 10**12}, "sample rate 1000000000000 is outside"),
        ({"features": {"name": "logmel", "n_fft": 2**30}}, "front-end n_fft is 1073741824"),
        ({"features": {"name": "logmel", "n_mels": -3}}, "front-end n_mels is -3"),
    ],
)
def test_a_header_declaring_huge_reading_sizes_is_refused_before_reading_audio(tmp_path, tiny_bundle, change, says):
    """A bundle or a graph's header sets how long a window is and how big the front-end's
    filterbanks are: a crafted 10⁹-s window would be allocated when a short file is tiled to it.
    Both are refused in one line naming the file, before any audio or weights are touched."""
    import json

    import onnx

    from instrumentid.inference.export import export_onnx

    bundle = torch.load(tiny_bundle, weights_only=True)
    crafted = tmp_path / "crafted.iid"
    torch.save({**bundle, **change}, crafted)  # the checksum covers the weights only, which are intact
    with pytest.raises(BundleError, match=says) as refused:
        Predictor.from_bundle(crafted)
    assert str(refused.value).startswith(str(crafted)) and "\n" not in str(refused.value)

    graph_path = tmp_path / "tiny.onnx"
    export_onnx(tiny_bundle, graph_path)
    graph = onnx.load(str(graph_path))
    meta = json.loads(graph.metadata_props[0].value)
    del graph.metadata_props[:]
    onnx.helper.set_model_props(graph, {"instrumentid": json.dumps({**meta, **change})})
    onnx.save(graph, str(graph_path))
    with pytest.raises(BundleError, match=says) as refused:
        Predictor.from_bundle(graph_path)  # onnxruntime, no torch on this path
    assert str(refused.value).startswith(str(graph_path)) and "\n" not in str(refused.value)


@pytest.mark.parametrize(
    "change, says",
    [
        ({"features": {"name": "logmel", "n_fft": 65536, "n_mels": 65536, "hop_length": 1}}, "filterbank or a window"),
        ({"model": "cnn"}, "the bundle's model is not a name and its parameters"),
        ({"model": {"name": "cnn", "params": [1]}}, "the bundle's model is not a name and its parameters"),
    ],
)
def test_headers_whose_parts_are_each_in_bounds_but_not_together_are_refused(tmp_path, tiny_bundle, change, says):
    """Each front-end count within its bound, yet a 65,536 x 32,769 filterbank (17 GB) and a
    window of 960,000 frames; or a model that is not a name and parameters (a TypeError before)."""
    bundle = torch.load(tiny_bundle, weights_only=True)
    crafted = tmp_path / "crafted.iid"
    torch.save({**bundle, **change}, crafted)
    with pytest.raises(BundleError, match=says) as refused:
        Predictor.from_bundle(crafted)
    assert str(refused.value).startswith(str(crafted)) and "\n" not in str(refused.value)


def test_a_graph_whose_weight_map_is_malformed_is_refused_in_one_line(tmp_path, tiny_bundle):
    import json

    import onnx

    from instrumentid.inference.export import export_onnx

    graph_path = tmp_path / "tiny.onnx"
    export_onnx(tiny_bundle, graph_path)
    graph = onnx.load(str(graph_path))
    meta = json.loads(graph.metadata_props[0].value)
    first = next(iter(meta["exported_from"]["weights"]))
    meta["exported_from"]["weights"][first]["initializer"] = ["x"]
    del graph.metadata_props[:]
    onnx.helper.set_model_props(graph, {"instrumentid": json.dumps(meta)})
    onnx.save(graph, str(graph_path))
    with pytest.raises(BundleError, match=f"weight {first!r} is missing from the graph") as refused:
        load_bundle(graph_path)
    assert "\n" not in str(refused.value)
