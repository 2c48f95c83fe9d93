"""Embeddings export (projector files, PCA/t-SNE) and Grad-CAM on the tiny bundle."""

from pathlib import Path

import numpy as np
import pytest

from helpers import run_cli
from instrumentid.analysis.embed import reduce_and_plot
from instrumentid.analysis.gradcam import gradcam, plot_gradcam, stitch
from instrumentid.errors import ConfigError
from instrumentid.inference.predictor import Predictor
from instrumentid.labels import LABELS, NAMES


def test_embed_command_writes_projector_files(tiny_bundle, irmas_test_dir, tmp_path):
    proc = run_cli("embed", irmas_test_dir, "--model", tiny_bundle, "--out", tmp_path, installed=True)
    assert proc.returncode == 0, proc.stderr
    tensors = np.loadtxt(tmp_path / "tensors.tsv", delimiter="\t")
    metadata = (tmp_path / "metadata.tsv").read_text().splitlines()
    assert tensors.shape[0] == 10 and len(metadata) == 11 and metadata[0].startswith("file\tlabels")
    config = (tmp_path / "projector_config.pbtxt").read_text()
    assert 'tensor_path: "tensors.tsv"' in config and 'metadata_path: "metadata.tsv"' in config
    for name in ("pca.png", "pca_variance.png", "tsne.png"):
        assert (tmp_path / name).stat().st_size > 1000
    assert "explained variance" in proc.stdout


def test_reduce_and_plot_shows_every_point_and_the_explained_variance(saved_figures, tmp_path):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((12, 5)) * [5.0, 2.0, 1.0, 0.5, 0.1]
    paths = reduce_and_plot(X, ["multiple", "gac", "voi"] * 4, tmp_path)
    assert sorted(paths) == ["pca", "pca_variance", "tsne"] and all(p.stat().st_size > 1000 for p in paths.values())
    singular = np.linalg.svd(X - X.mean(axis=0), compute_uv=False)
    ratio = singular**2 / np.sum(singular**2)
    (pca_ax,) = saved_figures["pca.png"].axes
    assert (pca_ax.get_xlabel(), pca_ax.get_ylabel()) == (
        f"PC1 ({ratio[0]:.1%} of variance)",
        f"PC2 ({ratio[1]:.1%} of variance)",
    )
    assert [len(c.get_offsets()) for c in pca_ax.collections] == [4, 4, 4]
    assert [t.get_text() for t in pca_ax.get_legend().get_texts()] == ["gac", "voi", "multiple"]
    (variance_ax,) = saved_figures["pca_variance.png"].axes
    assert [b.get_height() for b in variance_ax.containers[0]] == pytest.approx(ratio * 100)
    (tsne_ax,) = saved_figures["tsne.png"].axes
    assert (tsne_ax.get_title(), tsne_ax.get_xlabel()) == ("t-SNE", "t-SNE 1")
    assert sum(len(c.get_offsets()) for c in tsne_ax.collections) == 12


def test_gradcam_map_and_png(tiny_bundle, irmas_test_dir, tmp_path, saved_figures):
    predictor = Predictor.from_bundle(tiny_bundle)
    wav = sorted(irmas_test_dir.glob("*.wav"))[0]
    result = gradcam(predictor, wav, "gac")
    assert result["heatmap"].shape == result["spectrogram"].shape
    assert result["heatmap"].min() >= 0 and result["heatmap"].max() <= 1 and np.isfinite(result["heatmap"]).all()
    plot_gradcam(result, tmp_path / "in-process.png")
    top, bottom, colorbar = saved_figures["in-process.png"].axes
    assert top.get_title() == f"Grad-CAM for {NAMES['gac']} (gac), file score {result['score']:.2f}"
    assert [image.get_array().shape for image in top.images] == [result["spectrogram"].shape] * 2  # heat map on top
    assert (top.get_ylabel(), bottom.get_xlabel(), colorbar.get_ylabel()) == (
        "mel band",
        "time (s)",
        "Grad-CAM (relative)",
    )
    assert bottom.lines[0].get_ydata()[:-1] == pytest.approx(result["window_scores"])  # one step per window
    out = tmp_path / "cam.png"
    proc = run_cli("gradcam", wav, "--label", "singing voice", "--model", tiny_bundle, "--out", out, installed=True)
    assert proc.returncode == 0, proc.stderr
    assert out.stat().st_size > 1000 and "voi" in proc.stdout
    with pytest.raises(ConfigError, match="label .kazoo. is not one of the model.s labels") as refused:
        gradcam(predictor, wav, "kazoo")
    assert refused.value.option == "label"  # the CLI adds --label


def test_stitch_averages_overlaps():
    maps = np.ones((2, 1, 4))
    maps[1] *= 3
    out = stitch(maps, [0.0, 0.5], frames_per_second=4, total_frames=6)
    np.testing.assert_allclose(out[0], [1, 1, 2, 2, 3, 3])


@pytest.mark.parametrize("name", ["default", "audioset-zeroshot", "fast"])
def test_gradcam_on_every_bundled_model(name, tmp_path, saved_figures):
    """A frozen YAMNet backbone still gives a map (the gradient flows from the input), laid out like
    the spectrogram (YAMNet's maps are time-first), and the command writes the picture."""
    example = Path(__file__).parents[2] / "src" / "instrumentid" / "assets" / "example.ogg"
    out = tmp_path / f"{name}.png"
    proc = run_cli("gradcam", example, "--model", name, "--out", out, installed=True)
    assert proc.returncode == 0, proc.stderr
    assert out.stat().st_size > 1000 and f"wrote {out}" in proc.stdout
    result = gradcam(Predictor.from_bundle(name, runtime="torch"), example)
    assert result["heatmap"].shape == result["spectrogram"].shape
    if name == "audioset-zeroshot":  # its best label scores 0.15 here: no region adds evidence
        assert result["heatmap"].max() == 0 and "the map is empty" in proc.stdout
    else:
        assert result["heatmap"].max() == 1.0 and result["heatmap"].std(axis=1).max() > 0  # varies along time


def test_embed_a_plain_folder_of_music_colours_by_predicted_label(tiny_bundle, tmp_path):
    """No labels anywhere (no <code>/ folders, no .txt, no labels.csv): every audio file below the
    folder is embedded and coloured by the model's top label for it."""
    from helpers import write_tone

    library = tmp_path / "My Music"
    write_tone(library / "album" / "one.flac", 220, 1.5, 44_100)
    write_tone(library / "two.wav", 440, 1.0, 22_050, channels=2)
    write_tone(library / "album" / "cd2" / "three.ogg", 330, 2.0, 48_000, subtype="VORBIS")
    (library / "cover.jpg").write_bytes(b"\xff\xd8 not audio")
    out = tmp_path / "emb"
    proc = run_cli("embed", library, "--model", tiny_bundle, "--out", out, installed=True)
    assert proc.returncode == 0, proc.stderr
    assert "coloured by each file's predicted top label" in proc.stdout
    rows = [line.split("\t") for line in (out / "metadata.tsv").read_text().splitlines()[1:]]
    assert sorted(r[0] for r in rows) == ["one.flac", "three.ogg", "two.wav"]
    assert all(r[1] == "none" and r[2].endswith(" (predicted)") and r[2].split()[0] in LABELS for r in rows)
    assert (out / "pca.png").is_file()
