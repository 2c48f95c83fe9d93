"""ONNX export and the onnxruntime runtime: same records as PyTorch, no torch import, clear errors."""

import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from helpers import REPO, run_cli, shared_data_or_skip, write_tone
from instrumentid.errors import BundleError, ConfigError, ExportError
from instrumentid.inference import export
from instrumentid.inference.predictor import Predictor
from instrumentid.inference.runtimes import OnnxRuntime, open_runtime

pytest.importorskip("onnxruntime", reason="onnxruntime is not installed")

EXAMPLE = REPO / "src" / "instrumentid" / "assets" / "example.ogg"


def _max_diff(a: dict, b: dict) -> float:
    assert a["present"] == b["present"] and a["duration_s"] == b["duration_s"]
    return max(abs(a["scores"][k] - b["scores"][k]) for k in a["scores"])


@pytest.fixture(scope="module")
def tiny_onnx(tiny_bundle, tmp_path_factory):
    out = tmp_path_factory.mktemp("onnx") / "tiny.onnx"
    report = export.export_onnx(tiny_bundle, out)
    assert report["max_abs_diff"] < 1e-4 and not report["variable_length"]
    return out


def test_exported_graph_gives_the_bundles_records(tiny_bundle, tiny_onnx, tmp_path):
    files = [
        write_tone(tmp_path / "a.wav", 440, 2.5, 44_100, channels=2),
        write_tone(tmp_path / "short.flac", 220, 0.4, 22_050),
    ]  # shorter than a window: tiled alike
    torch_model, onnx_model = Predictor.from_bundle(tiny_bundle), Predictor.from_bundle(tiny_onnx)
    assert onnx_model.runtime.name == "onnxruntime" and onnx_model.labels == torch_model.labels
    for path in files:
        a = torch_model.predict(path, segments=True)
        b = onnx_model.predict(path, segments=True)
        assert _max_diff(a, b) <= 1e-4
        assert len(a["segments"]) == len(b["segments"])
    np.testing.assert_allclose(onnx_model.thresholds, torch_model.thresholds)
    assert onnx_model.info == torch_model.info  # the graph's header gives the same typed view


def test_yamnet_default_exports_with_any_length_input_and_matches_on_real_recordings(tmp_path):
    data = shared_data_or_skip()
    out = tmp_path / "default.onnx"
    report = export.export_onnx("default", out)
    assert report["variable_length"] and report["max_abs_diff"] < 1e-3
    real = sorted((data / "real-train").rglob("*.flac"))[:3] + sorted((data / "real-train").rglob("*.mp3"))[:1]
    assert real, "no real recordings found"
    audio, rate = sf.read(real[0], always_2d=True)
    cut = tmp_path / "cut-0.5s.wav"
    sf.write(cut, audio[: rate // 2], rate)  # under one window: YAMNet scores it at its own length
    torch_model, onnx_model = Predictor.from_bundle("default", runtime="torch"), Predictor.from_bundle(out)
    for path in [*real, cut]:
        assert _max_diff(torch_model.predict(path), onnx_model.predict(path)) <= 1e-4, path


def test_a_yamnet_front_end_that_levels_each_window_exports_exactly(tmp_path):
    """``level_dbfs`` (per-window RMS scaling, inside the torch front-end) is inside the graph too:
    the same records at -50 dBFS, at full scale and on silence, and the weights stored as float16
    (the bundle's own precision) change nothing."""
    from instrumentid.inference.bundle import load_bundle, save_bundle

    bundle = load_bundle("default")
    bundle["features"] = {**bundle["features"], "level_dbfs": -20.0}
    leveled = save_bundle(bundle, tmp_path / "leveled.iid")
    report = export.export_onnx(leveled, tmp_path / "leveled.onnx")
    assert report["max_abs_diff"] <= 1e-4 and report["bytes"] < leveled.stat().st_size * 1.1  # float16 weights
    audio, rate = sf.read(EXAMPLE, dtype="float32")
    files = {
        "quiet.wav": audio[: 10 * rate] * 0.003,
        "loud.wav": audio[: 10 * rate] / np.abs(audio).max(),
        "silence.wav": np.zeros((3 * rate, 2), np.float32),
    }
    for name, samples in files.items():
        sf.write(tmp_path / name, samples, rate)
    torch_model, onnx_model = Predictor.from_bundle(leveled), Predictor.from_bundle(tmp_path / "leveled.onnx")
    assert onnx_model.runtime.bundle["features"]["level_dbfs"] == -20.0
    for name in files:
        assert _max_diff(torch_model.predict(tmp_path / name), onnx_model.predict(tmp_path / name)) <= 1e-4, name


def test_predicting_with_an_onnx_graph_never_imports_torch(tiny_onnx, tmp_path):
    song = write_tone(tmp_path / "song.wav", 330, 1.5)
    code = (
        "import sys; from instrumentid.cli import main; rc = main(['predict', sys.argv[1], '--model', sys.argv[2], "
        "'-f', 'json']); assert 'torch' not in sys.modules, 'torch was imported'; sys.exit(rc)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(song), str(tiny_onnx)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)[0]["file"] == str(song)


def test_runtime_mismatches_and_bad_graphs_are_clear_errors(tiny_bundle, tiny_onnx, tmp_path):
    with pytest.raises(ConfigError, match="instrumentid export"):
        open_runtime(tiny_bundle, "onnxruntime")
    assert open_runtime(tiny_onnx, "torch").name == "torch"  # the graph carries its bundle
    with pytest.raises(ConfigError, match=r"needs the model in PyTorch: open it with runtime='torch'"):
        _ = Predictor.from_bundle(tiny_onnx).model
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a graph")
    with pytest.raises(BundleError, match="junk.onnx: not a readable ONNX model"):
        OnnxRuntime(junk)
    import onnx

    bare = onnx.load(str(tiny_onnx))
    del bare.metadata_props[:]
    onnx.save(bare, str(tmp_path / "bare.onnx"))
    with pytest.raises(BundleError, match="no instrumentid metadata"):
        OnnxRuntime(tmp_path / "bare.onnx")


def test_a_graph_that_disagrees_with_torch_is_not_kept(tiny_bundle, tmp_path, monkeypatch):
    monkeypatch.setattr(export, "parity", lambda *args, **kwargs: 0.5)
    out = tmp_path / "bad.onnx"
    with pytest.raises(ExportError, match="differ from PyTorch"):
        export.export_onnx(tiny_bundle, out)
    assert not out.exists() and not list(tmp_path.iterdir())


def test_a_failed_export_leaves_the_graph_it_would_replace_untouched(tiny_bundle, tmp_path, monkeypatch):
    """``make onnx-models`` re-exports shipped graphs in place, and the graph is the only copy of
    a shipped model: a graph that fails its checks must never have replaced it."""
    out = tmp_path / "shipped.onnx"
    export.export_onnx(tiny_bundle, out)
    before = out.read_bytes()
    monkeypatch.setattr(export, "parity", lambda *args, **kwargs: 0.5)
    with pytest.raises(ExportError, match="differ from PyTorch"):
        export.export_onnx(tiny_bundle, out)
    monkeypatch.setattr(export, "parity", lambda *args, **kwargs: 0.0)
    monkeypatch.setattr(export, "read_bundle", lambda path: (_ for _ in ()).throw(BundleError(f"{path}: corrupt")))
    with pytest.raises(ExportError, match="does not give its bundle back"):
        export.export_onnx(tiny_bundle, out)
    assert out.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["shipped.onnx"]


def test_export_command(tiny_bundle, tmp_path):
    out = tmp_path / "m.onnx"
    done = run_cli("export", tiny_bundle, "--out", out)
    assert done.returncode == 0, done.stderr
    assert "max |onnxruntime - torch|" in done.stdout and out.is_file()
    done = run_cli("predict", EXAMPLE, "--model", tiny_bundle, "--runtime", "onnxruntime")
    assert done.returncode == 2 and "instrumentid export" in done.stderr and "Traceback" not in done.stderr
