"""``instrumentid evaluate``: score a labelled dataset with a bundle and report metrics.

One :class:`~instrumentid.inference.predictor.Predictor` computes every number: window scores come from
``Predictor.scored_windows`` and file scores from :func:`instrumentid.inference.windows.aggregate` of
them with the bundle's aggregation, exactly what ``predict`` does, so the file-level
``present`` sets here equal ``instrumentid predict``'s. Thresholds are the bundle's (or one
``--threshold`` for all labels); nothing is tuned on the evaluated set.

Window-level metrics score every analysis window against its file's labels (the IRMAS
convention that a label holds for the whole excerpt).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from instrumentid.data.datasets import label_matrix, load_examples
from instrumentid.data.per_file import map_files
from instrumentid.errors import DataError
from instrumentid.evaluation import plots as P
from instrumentid.evaluation.metrics import binarize, compute_metrics, per_sample_metrics
from instrumentid.evaluation.report import format_table, write_html_report, write_json, write_predictions_csv
from instrumentid.inference.decision import check_threshold

#: Value of precision/recall/F1 when the denominator is zero (documented in docs/evaluation.md).
ZERO_DIVISION = 0.0


def collect_scores(
    predictor,
    data,
    *,
    labels_file=None,
    aggregation: str | None = None,
    windows: bool = True,
    progress: bool = False,
    labels: Sequence[str] | None = None,
) -> dict:
    """Run ``predictor`` over a labelled dataset.

    Parameters
    ----------
    predictor : :class:`~instrumentid.inference.predictor.Predictor`
    data : dataset path (any layout ``read_dataset`` reads) or a list of examples.
    labels_file : CSV of labels when ``data`` is a folder.
    aggregation : ``mean`` | ``max`` | ``topk``; ``None`` uses the bundle's.
    windows : also keep per-window scores.
    progress : show a progress bar on stderr.
    labels : score only these of the model's labels (``--labels irmas``); default all.

    Returns
    -------
    dict
        ``examples`` (scored ones), ``files`` (str), ``y_true`` / ``y_score``
        ``(n_files, n_labels)``, ``window_true`` / ``window_score`` / ``window_file`` (index
        into files) / ``window_start_s`` when ``windows``, ``errors`` (``[{"file", "error"}]``),
        ``aggregation``.
    """
    method = aggregation or predictor.aggregation
    examples = load_examples(data, labels_file=labels_file)
    columns = predictor.label_columns(labels)
    scored, kept, errors = map_files(examples, predictor.scored_windows, desc="evaluate", progress=progress)
    if not kept:
        first = errors[0]["error"] if errors else "no files"
        raise DataError(f"{data}: no file could be scored (first error: {first})")
    scored = [(starts, scores[:, columns], levels) for starts, scores, levels in scored]
    y_true = label_matrix(kept, [predictor.labels[j] for j in columns]).astype(np.int64)
    result = {
        "examples": kept,
        "files": [str(e.path) for e in kept],
        "y_true": y_true,
        "y_score": _file_scores(scored, method, n_labels=y_true.shape[1]),
        "errors": errors,
        "aggregation": method,
    }
    if windows:
        result.update(_window_arrays(scored, y_true))
    return result


def _file_scores(scored: Sequence[tuple], method: str, *, n_labels: int) -> np.ndarray:
    """``(n_files, n_labels)`` float64: each file's audible windows aggregated as ``predict`` does."""
    from instrumentid.inference.windows import aggregate, audible

    return np.asarray(
        [aggregate(scores, method, audible(levels)) for _, scores, levels in scored], dtype=np.float64
    ).reshape(-1, n_labels)


def _window_arrays(scored: Sequence[tuple], y_true: np.ndarray) -> dict:
    """Every window with its file's labels, score, file index and start (the IRMAS convention)."""
    counts = [len(scores) for _, scores, _ in scored]
    return {
        "window_true": np.repeat(y_true, counts, axis=0),
        "window_score": np.concatenate([scores for _, scores, _ in scored]).astype(np.float64),
        "window_file": np.repeat(np.arange(len(scored)), counts),
        "window_start_s": np.concatenate([starts for starts, _, _ in scored]),
    }


def resolve_thresholds(
    predictor, threshold: float | None, labels: Sequence[str] | None = None
) -> tuple[np.ndarray, str]:
    """The bundle's per-label thresholds (of ``labels``, default all), or ``threshold`` for every label."""
    columns = predictor.label_columns(labels)
    if threshold is None:
        return np.asarray(predictor.thresholds, dtype=np.float64)[columns], "bundle"
    return np.full(len(columns), check_threshold(threshold, "threshold")), "--threshold"


def make_plots(out_dir, y_true, y_score, y_pred, labels: Sequence[str], metrics: dict) -> dict[str, Path]:
    """Draw the evaluation plots into ``out_dir``; returns ``{caption: path}`` in report order."""
    out_dir = Path(out_dir)
    per_sample = per_sample_metrics(y_true, y_pred, zero_division=ZERO_DIVISION)
    return {
        "Per-instrument metrics": P.metric_bars(metrics["per_label"], out_dir / "metrics_per_instrument.png"),
        "ROC curves": P.roc_curves(y_true, y_score, labels, out_dir / "roc_curves.png"),
        "Precision-recall curves": P.pr_curves(y_true, y_score, labels, out_dir / "pr_curves.png"),
        "Confusion / co-occurrence matrix": P.confusion_matrix(
            y_true, y_pred, labels, out_dir / "confusion_matrix.png"
        ),
        "Confusion matrix per instrument": P.label_confusion_matrices(
            y_true, y_pred, labels, out_dir / "confusion_per_instrument.png"
        ),
        "Per-file metric distributions": P.per_sample_histograms(per_sample, out_dir / "per_file_metrics.png"),
        "Instruments per file": P.instrument_count_histogram(y_true, out_dir / "instrument_count.png", y_pred=y_pred),
        "Label distribution (true vs predicted)": P.label_distribution(
            {"true": y_true, "predicted": y_pred}, labels, out_dir / "label_distribution.png"
        ),
    }


def write_outputs(
    out_dir,
    *,
    files: Sequence[str],
    y_true,
    y_score,
    thresholds,
    labels: Sequence[str],
    info: dict,
    window: tuple | None = None,
    plots: bool = True,
    title: str = "instrumentid evaluation",
) -> dict:
    """Compute metrics and write ``metrics.json``, ``predictions.csv``, ``report.html`` (+ ``plots/``).

    ``window`` is ``(window_true, window_score)`` for window-level metrics. Also used by the
    classical baseline, so any scorer gets the same report.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    y_pred = binarize(y_score, thresholds)
    file_metrics = compute_metrics(y_true, y_score, thresholds, labels, zero_division=ZERO_DIVISION)
    window_metrics = None
    if window is not None:
        window_metrics = compute_metrics(window[0], window[1], thresholds, labels, zero_division=ZERO_DIVISION)
    metrics = {
        **info,
        "zero_division": ZERO_DIVISION,
        "labels": list(labels),
        "thresholds": dict(zip(labels, map(float, np.broadcast_to(thresholds, (len(labels),))), strict=True)),
        "file": file_metrics,
        "window": window_metrics,
    }
    write_json(metrics, out_dir / "metrics.json")
    write_predictions_csv(out_dir / "predictions.csv", files, y_true, y_score, y_pred, labels)
    figures = make_plots(out_dir / "plots", y_true, y_score, y_pred, labels, file_metrics) if plots else {}
    shown = {k: v for k, v in info.items() if not isinstance(v, (list, dict))}
    write_html_report(out_dir / "report.html", metrics, figures, title=title, info=shown)
    return metrics


def evaluate(
    data,
    model=None,
    out=None,
    *,
    labels_file=None,
    threshold: float | None = None,
    aggregation: str | None = None,
    predictor=None,
    plots: bool = True,
    progress: bool = False,
    labels: Sequence[str] | None = None,
) -> dict:
    """Evaluate bundle ``model`` (or a ready ``predictor``) on labelled ``data``.

    Parameters
    ----------
    data : dataset path (IRMAS train/test folder, CSV, folder + ``labels_file``) or examples.
    model : bundle path; ``None`` = the packaged default (ignored when ``predictor`` is given).
    out : output folder for ``metrics.json``, ``predictions.csv``, ``report.html``, ``plots/``;
        ``None`` writes nothing.
    threshold : one threshold for all labels instead of the bundle's per-label ones.
    aggregation : override the bundle's window aggregation (``mean`` | ``max`` | ``topk`` | ``top3``).
    labels : evaluate only these of the model's labels (``labels=instrumentid.labels.LABELS``: IRMAS-style).

    Returns
    -------
    dict
        The content of ``metrics.json``: run info, ``file`` and ``window`` metrics
        (see :func:`~instrumentid.evaluation.metrics.compute_metrics`), ``errors``.
    """
    if predictor is None:
        from instrumentid.inference.predictor import Predictor

        predictor = Predictor.from_bundle(model)
    thresholds, source = resolve_thresholds(predictor, threshold, labels)
    labels = [predictor.labels[j] for j in predictor.label_columns(labels)]
    collected = collect_scores(
        predictor,
        data,
        labels_file=labels_file,
        aggregation=aggregation,
        windows=True,
        progress=progress,
        labels=labels,
    )
    info = {
        "data": str(data) if isinstance(data, (str, os.PathLike)) else "<examples>",
        "labels_file": str(labels_file) if labels_file else None,
        "model": str(model) if model is not None else "default",
        "model_name": predictor.info.model_name,
        "aggregation": collected["aggregation"],
        "threshold_source": source,
        "n_files": len(collected["files"]),
        "n_windows": int(len(collected["window_score"])),
        "n_errors": len(collected["errors"]),
        "errors": collected["errors"],
    }
    window = (collected["window_true"], collected["window_score"])
    if out is None:
        return {
            **info,
            "labels": labels,
            "thresholds": dict(zip(labels, map(float, thresholds), strict=True)),
            "file": compute_metrics(
                collected["y_true"], collected["y_score"], thresholds, labels, zero_division=ZERO_DIVISION
            ),
            "window": compute_metrics(*window, thresholds, labels, zero_division=ZERO_DIVISION),
        }
    return write_outputs(
        out,
        files=collected["files"],
        y_true=collected["y_true"],
        y_score=collected["y_score"],
        thresholds=thresholds,
        labels=labels,
        info=info,
        window=window,
        plots=plots,
    )


__all__ = ["collect_scores", "evaluate", "format_table", "label_matrix", "load_examples", "write_outputs"]
