"""Embeddings export (projector files, PCA/t-SNE) and Grad-CAM on the tiny bundle."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from instrumentid.analysis.gradcam import gradcam, stitch
from instrumentid.errors import ConfigError
from instrumentid.predict import Predictor

CLI = Path(sys.executable).with_name("instrumentid")


def test_embed_command_writes_projector_files(tiny_bundle, irmas_test_dir, tmp_path):
    proc = subprocess.run([str(CLI), "embed", str(irmas_test_dir), "--model", str(tiny_bundle), "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    tensors = np.loadtxt(tmp_path / "tensors.tsv", delimiter="\t")
    metadata = (tmp_path / "metadata.tsv").read_text().splitlines()
    assert tensors.shape[0] == 10 and len(metadata) == 11 and metadata[0].startswith("file\tlabels")
    config = (tmp_path / "projector_config.pbtxt").read_text()
    assert 'tensor_path: "tensors.tsv"' in config and 'metadata_path: "metadata.tsv"' in config
    for name in ("pca.png", "pca_variance.png", "tsne.png"):
        assert (tmp_path / name).stat().st_size > 1000
    assert "explained variance" in proc.stdout


def test_gradcam_map_and_png(tiny_bundle, irmas_test_dir, tmp_path):
    predictor = Predictor.from_bundle(tiny_bundle)
    wav = sorted(irmas_test_dir.glob("*.wav"))[0]
    result = gradcam(predictor, wav, "gac")
    assert result["heatmap"].shape == result["spectrogram"].shape
    assert result["heatmap"].min() >= 0 and result["heatmap"].max() <= 1 and np.isfinite(result["heatmap"]).all()
    out = tmp_path / "cam.png"
    proc = subprocess.run([str(CLI), "gradcam", str(wav), "--label", "singing voice", "--model", str(tiny_bundle),
                           "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert out.stat().st_size > 1000 and "voi" in proc.stdout
    with pytest.raises(ConfigError, match="--label"):
        gradcam(predictor, wav, "kazoo")


def test_stitch_averages_overlaps():
    maps = np.ones((2, 1, 4))
    maps[1] *= 3
    out = stitch(maps, [0.0, 0.5], frames_per_second=4, total_frames=6)
    np.testing.assert_allclose(out[0], [1, 1, 2, 2, 3, 3])
