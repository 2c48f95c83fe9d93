"""Evaluation and dataset plots (matplotlib, Agg backend, PNG).

Every function draws one figure from plain arrays, saves it to ``path`` (parent folders are
created) and returns the path. Shapes follow :mod:`instrumentid.evaluation.metrics`:
``y_true`` / ``y_pred`` ``(n_samples, n_labels)`` 0/1, ``y_score`` the matching scores.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from instrumentid.labels import LABELS, NAMES

#: Resolution of saved PNGs (small files for reports and docs).
DPI = 80


def pyplot():
    """``matplotlib.pyplot`` with the non-interactive Agg backend (safe on servers and in tests)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def save(fig, path: str | os.PathLike, *, dpi: int = DPI) -> Path:
    """Save ``fig`` as PNG to ``path`` (creating folders), close it and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    pyplot().close(fig)
    return path


def _title(code: str) -> str:
    return f"{NAMES.get(code, code)} ({code})"


def _grid(n: int):
    plt = pyplot()
    cols = min(4, n)
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.0 * cols, 2.8 * rows), squeeze=False)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    return fig, axes.ravel()


def metric_bars(
    per_label: Mapping[str, Mapping[str, float | None]],
    path,
    *,
    metrics: Sequence[str] = ("f1", "precision", "recall", "roc_auc", "average_precision"),
    title: str = "Per-instrument metrics",
) -> Path:
    """Grouped bars: one group per instrument, one bar per metric (undefined values are skipped)."""
    plt = pyplot()
    codes = list(per_label)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(codes) + 2), 3.6))
    width = 0.8 / len(metrics)
    x = np.arange(len(codes))
    for i, name in enumerate(metrics):
        values = [per_label[c].get(name) for c in codes]
        heights = [np.nan if v is None else v for v in values]
        ax.bar(x + (i - (len(metrics) - 1) / 2) * width, heights, width, label=name.replace("_", " "))
    ax.set_xticks(x, codes)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("score")
    ax.set_xlabel("instrument")
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7, ncols=len(metrics), loc="upper center", bbox_to_anchor=(0.5, -0.18), frameon=False)
    return save(fig, path)


def _curves(kind: str, y_true, y_score, labels, path) -> Path:
    from sklearn.metrics import auc, precision_recall_curve, roc_curve

    y_true, y_score = np.asarray(y_true), np.asarray(y_score)
    fig, axes = _grid(len(labels))
    for j, (ax, code) in enumerate(zip(axes, labels, strict=False)):  # the grid's spare panels are hidden
        column = y_true[:, j]
        ax.set_title(_title(code), fontsize=9)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        if kind == "roc":
            ax.set_xlabel("false positive rate", fontsize=8)
            ax.set_ylabel("true positive rate", fontsize=8)
            ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--")
            if 0 < column.sum() < len(column):
                fpr, tpr, _ = roc_curve(column, y_score[:, j])
                ax.plot(fpr, tpr, lw=1.5, label=f"AUC {auc(fpr, tpr):.3f}")
                ax.legend(fontsize=7, loc="lower right")
            else:
                ax.text(0.5, 0.5, "undefined\n(one class only)", ha="center", va="center", fontsize=8)
        else:
            ax.set_xlabel("recall", fontsize=8)
            ax.set_ylabel("precision", fontsize=8)
            if column.sum() > 0:
                precision, recall, _ = precision_recall_curve(column, y_score[:, j])
                ax.step(recall, precision, where="post", lw=1.5)
                ax.axhline(column.mean(), color="grey", lw=0.8, ls="--", label=f"prevalence {column.mean():.2f}")
                ax.legend(fontsize=7, loc="lower left")
            else:
                ax.text(0.5, 0.5, "undefined\n(no positives)", ha="center", va="center", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.suptitle("ROC curves per instrument" if kind == "roc" else "Precision-recall curves per instrument")
    fig.tight_layout()
    return save(fig, path)


def roc_curves(y_true, y_score, labels: Sequence[str], path) -> Path:
    """One ROC curve per instrument (grid of panels, AUC in the legend)."""
    return _curves("roc", y_true, y_score, labels, path)


def pr_curves(y_true, y_score, labels: Sequence[str], path) -> Path:
    """One precision-recall curve per instrument, with the prevalence (chance level)."""
    return _curves("pr", y_true, y_score, labels, path)


def label_confusion_matrices(y_true, y_pred, labels: Sequence[str], path) -> Path:
    """A 2×2 confusion matrix (rows true absent/present, columns predicted) per instrument."""
    y_true, y_pred = np.asarray(y_true).astype(bool), np.asarray(y_pred).astype(bool)
    fig, axes = _grid(len(labels))
    for j, (ax, code) in enumerate(zip(axes, labels, strict=False)):  # the grid's spare panels are hidden
        t, p = y_true[:, j], y_pred[:, j]
        matrix = np.array([[np.sum(~t & ~p), np.sum(~t & p)], [np.sum(t & ~p), np.sum(t & p)]])
        ax.imshow(matrix, cmap="Blues", vmin=0, vmax=max(1, matrix.max()))
        for (r, c), value in np.ndenumerate(matrix):
            ax.text(
                c,
                r,
                str(value),
                ha="center",
                va="center",
                color="white" if value > matrix.max() / 2 else "black",
                fontsize=9,
            )
        ax.set_xticks([0, 1], ["absent", "present"], fontsize=7)
        ax.set_yticks([0, 1], ["absent", "present"], fontsize=7)
        ax.set_xlabel("predicted", fontsize=8)
        ax.set_ylabel("true", fontsize=8)
        ax.set_title(_title(code), fontsize=9)
    fig.suptitle("Confusion matrix per instrument")
    fig.tight_layout()
    return save(fig, path)


def cooccurrence_matrix(y_true, y_pred, labels: Sequence[str]) -> np.ndarray:
    """``(n_labels, n_labels)`` counts: entry ``[i, j]`` = samples with ``i`` true and ``j`` predicted."""
    return np.asarray(y_true, dtype=np.int64).T @ np.asarray(y_pred, dtype=np.int64)


def confusion_matrix(y_true, y_pred, labels: Sequence[str], path, *, title: str | None = None) -> Path:
    """The multi-label confusion (co-occurrence) matrix, rows normalised by the true count.

    Cell ``[i, j]`` is the fraction of samples containing instrument ``i`` in which ``j`` was
    predicted; the diagonal is the recall, off-diagonal cells show confusions (and genuine
    co-occurrence). Raw counts are printed in the cells.
    """
    plt = pyplot()
    counts = cooccurrence_matrix(y_true, y_pred, labels)
    support = np.asarray(y_true).sum(axis=0)
    fractions = counts / np.maximum(support, 1)[:, None]
    n = len(labels)
    fig, ax = plt.subplots(figsize=(0.55 * n + 2.2, 0.5 * n + 1.6))
    image = ax.imshow(fractions, cmap="viridis", vmin=0, vmax=1)
    for (r, c), value in np.ndenumerate(counts):
        ax.text(
            c, r, str(value), ha="center", va="center", fontsize=7, color="black" if fractions[r, c] > 0.6 else "white"
        )
    ax.set_xticks(range(n), labels, rotation=90, fontsize=8)
    ax.set_yticks(range(n), [f"{c} ({s})" for c, s in zip(labels, support, strict=True)], fontsize=8)
    ax.set_xlabel("predicted instrument")
    ax.set_ylabel("true instrument (support)")
    ax.set_title(title or "True vs predicted instruments (row-normalised)")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="fraction of true")
    return save(fig, path)


def per_sample_histograms(per_sample: Mapping[str, np.ndarray], path, *, bins: int = 20) -> Path:
    """Histograms of per-file metrics (e.g. F1, precision, recall, hamming score)."""
    plt = pyplot()
    names = list(per_sample)
    fig, axes = plt.subplots(1, len(names), figsize=(2.8 * len(names), 2.6), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        values = np.asarray(per_sample[name])
        ax.hist(values, bins=np.linspace(0, 1, bins + 1), color="tab:blue", edgecolor="white")
        ax.axvline(values.mean(), color="tab:red", lw=1.2, label=f"mean {values.mean():.3f}")
        ax.set_title(name.replace("_", " "), fontsize=9)
        ax.set_xlabel("value per file", fontsize=8)
        ax.set_ylabel("files", fontsize=8)
        ax.legend(fontsize=7)
        ax.tick_params(labelsize=7)
    fig.suptitle("Distribution of per-file metrics")
    fig.tight_layout()
    return save(fig, path)


def instrument_count_histogram(y_true, path, *, y_pred=None, title: str = "Instruments per file") -> Path:
    """Histogram of the number of instruments per file (true, and predicted when given)."""
    plt = pyplot()
    series = {"true": np.asarray(y_true).sum(axis=1)}
    if y_pred is not None:
        series["predicted"] = np.asarray(y_pred).sum(axis=1)
    top = int(max(s.max() for s in series.values()))
    x = np.arange(top + 1)
    width = 0.8 / len(series)
    fig, ax = plt.subplots(figsize=(max(4.0, 0.6 * len(x) + 2), 3.0))
    for i, (name, counts) in enumerate(series.items()):
        ax.bar(
            x + (i - (len(series) - 1) / 2) * width,
            np.bincount(counts.astype(int), minlength=top + 1),
            width,
            label=name,
        )
    ax.set_xticks(x)
    ax.set_xlabel("number of instruments")
    ax.set_ylabel("files")
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return save(fig, path)


def label_distribution(
    datasets: Mapping[str, np.ndarray], labels: Sequence[str], path, *, normalize: bool = False
) -> Path:
    """Side-by-side bars of how many files carry each label, one bar colour per dataset.

    ``datasets`` maps a dataset name to its ``y_true`` ``(n_files, n_labels)``; with
    ``normalize`` the bars are fractions of each dataset's files.
    """
    plt = pyplot()
    names = list(datasets)
    x = np.arange(len(labels))
    width = 0.8 / max(1, len(names))
    fig, ax = plt.subplots(figsize=(max(6.0, 0.8 * len(labels) + 2), 3.4))
    for i, name in enumerate(names):
        y = np.asarray(datasets[name])
        counts = y.sum(axis=0) / (max(1, len(y)) if normalize else 1)
        ax.bar(x + (i - (len(names) - 1) / 2) * width, counts, width, label=f"{name} ({len(y)} files)")
    ax.set_xticks(x, labels)
    ax.set_xlabel("instrument")
    ax.set_ylabel("fraction of files" if normalize else "files")
    ax.set_title("Label distribution")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return save(fig, path)


def timing(durations_s, seconds, path, *, title: str = "Prediction time vs audio duration") -> Path:
    """Wall-clock prediction time against audio duration, with the real-time factor annotated."""
    plt = pyplot()
    durations_s, seconds = np.asarray(durations_s, float), np.asarray(seconds, float)
    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    ax.plot(durations_s, seconds, marker="o")
    if len(durations_s) > 1:
        slope, intercept = np.polyfit(durations_s, seconds, 1)
        ax.plot(
            durations_s,
            slope * durations_s + intercept,
            ls="--",
            color="grey",
            label=f"fit: {slope * 60:.2f} s per audio minute + {intercept:.2f} s",
        )
        ax.legend(fontsize=8)
    ax.set_xlabel("audio duration (s)")
    ax.set_ylabel("prediction time (s)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    return save(fig, path)


def embedding_scatter(points, colour_by: Sequence[str], path, *, title: str, axis_labels=("1", "2")) -> Path:
    """2-D scatter of embeddings (t-SNE / PCA), coloured by a category per point."""
    plt = pyplot()
    points = np.asarray(points)
    categories = sorted(set(colour_by), key=lambda c: (c not in LABELS, LABELS.index(c) if c in LABELS else 0, c))
    cmap = plt.get_cmap("tab10" if len(categories) <= 10 else "tab20")
    fig, ax = plt.subplots(figsize=(5.8, 4.4))
    colour_by = np.asarray(colour_by)
    for i, category in enumerate(categories):
        mask = colour_by == category
        ax.scatter(points[mask, 0], points[mask, 1], s=12, color=cmap(i % 20), label=category, alpha=0.8)
    ax.set_xlabel(axis_labels[0])
    ax.set_ylabel(axis_labels[1])
    ax.set_title(title)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    return save(fig, path)


def explained_variance(ratios, path, *, title: str = "PCA explained variance") -> Path:
    """Bars of the explained-variance ratio per principal component plus the cumulative curve."""
    plt = pyplot()
    ratios = np.asarray(ratios)
    x = np.arange(1, len(ratios) + 1)
    fig, ax = plt.subplots(figsize=(max(4.0, 0.35 * len(x) + 2), 3.0))
    ax.bar(x, ratios * 100, label="per component")
    ax.plot(x, np.cumsum(ratios) * 100, color="tab:red", marker=".", label="cumulative")
    ax.set_xlabel("principal component")
    ax.set_ylabel("explained variance (%)")
    ax.set_ylim(0, 105)
    ax.set_title(title)
    ax.legend(fontsize=8)
    return save(fig, path)


def ranked_bars(names: Sequence[str], values, path, *, title: str, xlabel: str, top: int = 25) -> Path:
    """Horizontal bars of the ``top`` largest ``values`` (e.g. feature variance ranking)."""
    plt = pyplot()
    values = np.asarray(values, float)
    order = np.argsort(values)[::-1][:top]
    fig, ax = plt.subplots(figsize=(5.5, 0.22 * len(order) + 1.2))
    ax.barh(range(len(order)), values[order][::-1])
    ax.set_yticks(range(len(order)), [names[i] for i in order][::-1], fontsize=7)
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    return save(fig, path)
