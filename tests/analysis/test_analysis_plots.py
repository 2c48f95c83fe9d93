"""plot timing / plot distribution, and every evaluation plot on a tiny set."""

import subprocess
import sys
from pathlib import Path

import numpy as np

from instrumentid.evaluation import plots as P
from instrumentid.evaluation.metrics import compute_metrics, per_sample_metrics
from instrumentid.labels import LABELS

CLI = Path(sys.executable).with_name("instrumentid")


def test_every_plot_is_written(tmp_path):
    rng = np.random.default_rng(0)
    y_true = (rng.random((30, 11)) < 0.3).astype(int)
    y_true[:, 8] = 0  # one label without positives: its panels say "undefined"
    y_score = np.clip(0.5 * y_true + 0.6 * rng.random((30, 11)), 0, 1)
    y_pred = (y_score >= 0.5).astype(int)
    m = compute_metrics(y_true, y_score, 0.5)
    paths = [
        P.metric_bars(m["per_label"], tmp_path / "bars.png"),
        P.roc_curves(y_true, y_score, LABELS, tmp_path / "roc.png"),
        P.pr_curves(y_true, y_score, LABELS, tmp_path / "pr.png"),
        P.label_confusion_matrices(y_true, y_pred, LABELS, tmp_path / "cm2.png"),
        P.confusion_matrix(y_true, y_pred, LABELS, tmp_path / "cm.png"),
        P.per_sample_histograms(per_sample_metrics(y_true, y_pred), tmp_path / "hist.png"),
        P.instrument_count_histogram(y_true, tmp_path / "count.png", y_pred=y_pred),
        P.label_distribution({"a": y_true, "b": y_pred}, LABELS, tmp_path / "dist.png"),
        P.timing([10, 30, 60], [0.1, 0.25, 0.5], tmp_path / "timing.png"),
        P.explained_variance([0.5, 0.3, 0.2], tmp_path / "ev.png"),
        P.embedding_scatter(rng.random((30, 2)), ["gac", "voi", "multiple"] * 10, tmp_path / "sc.png", title="x"),
        P.ranked_bars(["a", "b", "c"], [3, 1, 2], tmp_path / "rank.png", title="t", xlabel="v"),
    ]
    for path in paths:
        assert path.is_file() and path.stat().st_size > 1000 and path.read_bytes()[:4] == b"\x89PNG"
    np.testing.assert_array_equal(P.cooccurrence_matrix(y_true, y_pred, LABELS).diagonal(),
                                  [m["per_label"][c]["tp"] for c in LABELS])


def test_plot_timing_command(tiny_bundle, tmp_path):
    proc = subprocess.run([str(CLI), "plot", "timing", "--model", str(tiny_bundle), "--durations", "2,4",
                           "--out", str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "timing.png").stat().st_size > 1000
    assert len((tmp_path / "timing.csv").read_text().splitlines()) == 3
    bad = subprocess.run([str(CLI), "plot", "timing", "--model", str(tiny_bundle), "--durations", "ten",
                          "--out", str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "--durations" in bad.stderr


def test_plot_distribution_command(irmas_test_dir, tmp_path):
    from instrumentid.data.split import split_dataset

    split_dataset(irmas_test_dir, tmp_path / "s", val_fraction=0.5)
    proc = subprocess.run([str(CLI), "plot", "distribution", str(tmp_path / "s" / "train.csv"),
                           str(tmp_path / "s" / "val.csv"), "--names", "train,val", "--out", str(tmp_path / "d")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    for name in ("label_distribution.png", "label_distribution_fraction.png", "instrument_count_1.png"):
        assert (tmp_path / "d" / name).stat().st_size > 1000
    assert (tmp_path / "d" / "distribution.csv").read_text().startswith("dataset,files,songs")
