"""plot timing / plot distribution, and every evaluation plot on a tiny set."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from helpers import run_cli
from instrumentid.evaluation import plots as P
from instrumentid.evaluation.metrics import compute_metrics, per_sample_metrics
from instrumentid.labels import LABELS, NAMES


@pytest.fixture
def scored():
    """30 files: ``y_true``, ``y_score`` and ``y_pred`` at 0.5; ``tru`` (column 8) has no positives."""
    rng = np.random.default_rng(0)
    y_true = (rng.random((30, 11)) < 0.3).astype(int)
    y_true[:, 8] = 0  # one label without positives: its panels say "undefined"
    y_score = np.clip(0.5 * y_true + 0.6 * rng.random((30, 11)), 0, 1)
    return y_true, y_score, (y_score >= 0.5).astype(int)


def _is_png(path) -> bool:
    return path.is_file() and path.stat().st_size > 1000 and path.read_bytes()[:4] == b"\x89PNG"


def _legend(ax) -> list[str]:
    return [text.get_text() for text in ax.get_legend().get_texts()]


def _panels(fig) -> list:
    return [ax for ax in fig.axes if ax.get_visible()]


def test_metric_bars_show_one_bar_per_metric_and_instrument(scored, saved_figures, tmp_path):
    y_true, y_score, _ = scored
    per_label = compute_metrics(y_true, y_score, 0.5)["per_label"]
    assert _is_png(P.metric_bars(per_label, tmp_path / "bars.png"))
    (ax,) = saved_figures["bars.png"].axes
    assert (ax.get_title(), ax.get_xlabel(), ax.get_ylabel()) == ("Per-instrument metrics", "instrument", "score")
    assert [t.get_text() for t in ax.get_xticklabels()] == list(LABELS)
    assert _legend(ax) == ["f1", "precision", "recall", "roc auc", "average precision"]
    assert [len(bars) for bars in ax.containers] == [11] * 5
    f1, roc_auc = [b.get_height() for b in ax.containers[0]], [b.get_height() for b in ax.containers[3]]
    assert f1 == pytest.approx([per_label[c]["f1"] for c in LABELS])
    assert np.isnan(roc_auc[8])  # undefined without positives: no bar
    assert roc_auc[0] == pytest.approx(per_label["cel"]["roc_auc"])


def test_roc_and_pr_curves_one_panel_per_instrument(scored, saved_figures, tmp_path):
    y_true, y_score, _ = scored
    assert _is_png(P.roc_curves(y_true, y_score, LABELS, tmp_path / "roc.png"))
    assert _is_png(P.pr_curves(y_true, y_score, LABELS, tmp_path / "pr.png"))
    roc, pr = saved_figures["roc.png"], saved_figures["pr.png"]
    assert roc.get_suptitle() == "ROC curves per instrument"
    assert pr.get_suptitle() == "Precision-recall curves per instrument"
    for fig, axis_labels in ((roc, ("false positive rate", "true positive rate")), (pr, ("recall", "precision"))):
        assert [ax.get_title() for ax in _panels(fig)] == [f"{NAMES[c]} ({c})" for c in LABELS]
        assert {(ax.get_xlabel(), ax.get_ylabel()) for ax in _panels(fig)} == {axis_labels}
    for j, (roc_ax, pr_ax) in enumerate(zip(_panels(roc), _panels(pr), strict=True)):
        if j == 8:  # no positives: the chance diagonal only, and a note
            assert len(roc_ax.lines) == 1 and len(pr_ax.lines) == 0
            assert "undefined" in roc_ax.texts[0].get_text() and "undefined" in pr_ax.texts[0].get_text()
            continue
        assert len(roc_ax.lines) == 2 and _legend(roc_ax) == [f"AUC {roc_auc_score(y_true[:, j], y_score[:, j]):.3f}"]
        assert len(pr_ax.lines) == 2 and _legend(pr_ax) == [f"prevalence {y_true[:, j].mean():.2f}"]


def test_confusion_matrices_show_the_counts(scored, saved_figures, tmp_path):
    y_true, y_score, y_pred = scored
    assert _is_png(P.label_confusion_matrices(y_true, y_pred, LABELS, tmp_path / "cm2.png"))
    assert _is_png(P.confusion_matrix(y_true, y_pred, LABELS, tmp_path / "cm.png"))
    panels = _panels(saved_figures["cm2.png"])
    assert [ax.get_title() for ax in panels] == [f"{NAMES[c]} ({c})" for c in LABELS]
    for j, ax in enumerate(panels):
        t, p = y_true[:, j].astype(bool), y_pred[:, j].astype(bool)
        assert [int(x.get_text()) for x in ax.texts] == [(~t & ~p).sum(), (~t & p).sum(), (t & ~p).sum(), (t & p).sum()]
    ax, colorbar = saved_figures["cm.png"].axes
    counts = P.cooccurrence_matrix(y_true, y_pred, LABELS)
    support = y_true.sum(axis=0)
    assert [int(x.get_text()) for x in ax.texts] == counts.ravel().tolist()
    np.testing.assert_allclose(ax.images[0].get_array(), counts / np.maximum(support, 1)[:, None])
    assert [t.get_text() for t in ax.get_yticklabels()] == [f"{c} ({s})" for c, s in zip(LABELS, support, strict=True)]
    assert (ax.get_xlabel(), colorbar.get_ylabel()) == ("predicted instrument", "fraction of true")
    m = compute_metrics(y_true, y_score, 0.5)
    np.testing.assert_array_equal(counts.diagonal(), [m["per_label"][c]["tp"] for c in LABELS])


def test_histograms_and_distribution_bars_count_the_files(scored, saved_figures, tmp_path):
    y_true, _, y_pred = scored
    per_sample = per_sample_metrics(y_true, y_pred)
    assert _is_png(P.per_sample_histograms(per_sample, tmp_path / "hist.png"))
    assert _is_png(P.instrument_count_histogram(y_true, tmp_path / "count.png", y_pred=y_pred))
    assert _is_png(P.label_distribution({"a": y_true, "b": y_pred}, LABELS, tmp_path / "dist.png"))
    hist = saved_figures["hist.png"]
    assert [ax.get_title() for ax in hist.axes] == [name.replace("_", " ") for name in per_sample]
    for ax, values in zip(hist.axes, per_sample.values(), strict=True):
        assert sum(b.get_height() for b in ax.containers[0]) == 30  # every file in one of the bins
        assert _legend(ax) == [f"mean {np.mean(values):.3f}"]
    (count,) = saved_figures["count.png"].axes
    assert _legend(count) == ["true", "predicted"] and count.get_xlabel() == "number of instruments"
    for bars, y in zip(count.containers, (y_true, y_pred), strict=True):
        assert [b.get_height() for b in bars] == np.bincount(y.sum(axis=1), minlength=len(bars)).tolist()
    (dist,) = saved_figures["dist.png"].axes
    assert _legend(dist) == ["a (30 files)", "b (30 files)"]
    assert [[b.get_height() for b in bars] for bars in dist.containers] == [
        y_true.sum(0).tolist(),
        y_pred.sum(0).tolist(),
    ]
    assert [t.get_text() for t in dist.get_xticklabels()] == list(LABELS)


def test_timing_variance_scatter_and_ranking_plots(saved_figures, tmp_path):
    assert _is_png(P.timing([10, 30, 60], [0.1, 0.25, 0.5], tmp_path / "timing.png"))
    (ax,) = saved_figures["timing.png"].axes
    measured, _ = ax.lines
    assert measured.get_ydata().tolist() == [0.1, 0.25, 0.5]
    assert _legend(ax) == ["fit: 0.48 s per audio minute + 0.02 s"]  # least squares: 0.00803 s/s, 0.0158 s
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("audio duration (s)", "prediction time (s)")

    assert _is_png(P.explained_variance([0.5, 0.3, 0.2], tmp_path / "ev.png"))
    (ax,) = saved_figures["ev.png"].axes
    assert [b.get_height() for b in ax.containers[0]] == pytest.approx([50, 30, 20])
    assert ax.lines[0].get_ydata() == pytest.approx([50, 80, 100])  # cumulative

    points = np.random.default_rng(0).random((30, 2))
    assert _is_png(
        P.embedding_scatter(
            points, ["multiple", "voi", "gac"] * 10, tmp_path / "sc.png", title="PCA", axis_labels=("PC1", "PC2")
        )
    )
    (ax,) = saved_figures["sc.png"].axes
    assert _legend(ax) == ["gac", "voi", "multiple"]  # instruments in label order, then the rest
    assert [len(c.get_offsets()) for c in ax.collections] == [10, 10, 10]
    assert (ax.get_title(), ax.get_xlabel(), ax.get_ylabel()) == ("PCA", "PC1", "PC2")

    assert _is_png(P.ranked_bars(["a", "b", "c"], [3, 1, 2], tmp_path / "rank.png", title="t", xlabel="v", top=2))
    (ax,) = saved_figures["rank.png"].axes
    assert [t.get_text() for t in ax.get_yticklabels()] == ["c", "a"]  # the two largest, largest on top
    assert [b.get_width() for b in ax.containers[0]] == [2, 3]


def test_plot_timing_command(tiny_bundle, tmp_path):
    proc = run_cli("plot", "timing", "--model", tiny_bundle, "--durations", "2,4", "--out", tmp_path, installed=True)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "timing.png").stat().st_size > 1000
    assert len((tmp_path / "timing.csv").read_text().splitlines()) == 3
    bad = run_cli("plot", "timing", "--model", tiny_bundle, "--durations", "ten", "--out", tmp_path, installed=True)
    assert bad.returncode == 2 and "--durations" in bad.stderr


def test_plot_distribution_command(irmas_test_dir, tmp_path):
    from instrumentid.data.split import split_dataset

    split_dataset(irmas_test_dir, tmp_path / "s", val_fraction=0.5)
    proc = run_cli(
        "plot",
        "distribution",
        tmp_path / "s" / "train.csv",
        tmp_path / "s" / "val.csv",
        "--names",
        "train,val",
        "--out",
        tmp_path / "d",
        installed=True,
    )
    assert proc.returncode == 0, proc.stderr
    for name in ("label_distribution.png", "label_distribution_fraction.png", "instrument_count_1.png"):
        assert (tmp_path / "d" / name).stat().st_size > 1000
    assert (tmp_path / "d" / "distribution.csv").read_text().startswith("dataset,files,songs")
