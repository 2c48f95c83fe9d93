"""Per-label decision thresholds that maximise F1 on a validation set.

:func:`tune_thresholds` is pure numpy (the training recipe calls it on validation scores);
:func:`tune_bundle` runs a bundle's predictor over a labelled dataset, tunes, and writes a new
bundle whose ``thresholds`` are the tuned ones and whose ``metadata["threshold_tuning"]`` records
the set, the grid and the F1 before and after. Never tune on the set you report: ``evaluate``
only applies the bundle's thresholds. The comparison and the ranges thresholds obey live in
:mod:`instrumentid.inference.decision`.
"""

from __future__ import annotations

import datetime as _dt
import os
from pathlib import Path

import numpy as np

from instrumentid.errors import ConfigError
from instrumentid.inference.decision import is_present

#: Names accepted by ``grid``.
GRIDS: tuple[str, ...] = ("coarse-to-fine", "coarse", "fine")
#: Coarse grid: 0.05, 0.10, ..., 0.95.
COARSE_GRID = np.round(np.arange(0.05, 0.951, 0.05), 4)


def f1_at_thresholds(y_true_column, y_score_column, thresholds) -> np.ndarray:
    """F1 of one label at each candidate threshold (0.0 when undefined), ``shape=(n_thresholds,)``."""
    truth = np.asarray(y_true_column).astype(bool)[:, None]
    predicted = is_present(np.asarray(y_score_column)[:, None], np.asarray(thresholds)[None, :])
    tp = np.logical_and(truth, predicted).sum(axis=0)
    denominator = truth.sum() + predicted.sum(axis=0)
    return np.where(denominator > 0, 2.0 * tp / np.maximum(denominator, 1), 0.0)


def _best(candidates: np.ndarray, scores: np.ndarray, default: float) -> tuple[float, float]:
    """Best threshold (ties: closest to ``default``) and its F1."""
    top = scores.max()
    tied = candidates[np.isclose(scores, top, rtol=0, atol=1e-12)]
    return float(tied[np.argmin(np.abs(tied - default))]), float(top)


def tune_thresholds(
    y_true,
    y_score,
    *,
    grid: str = "coarse-to-fine",
    default: float = 0.5,
    fine_step: float = 0.005,
) -> np.ndarray:
    """Per-label thresholds that maximise that label's F1.

    Parameters
    ----------
    y_true : array-like, shape (n_samples, n_labels)
        0/1 ground truth of the validation set.
    y_score : array-like, shape (n_samples, n_labels)
        Scores of the same samples.
    grid : {"coarse-to-fine", "coarse", "fine"}
        ``coarse`` searches 0.05..0.95 in steps of 0.05; ``coarse-to-fine`` then refines in
        steps of ``fine_step`` within ±0.05 of the coarse optimum; ``fine`` searches
        0.01..0.99 in steps of ``fine_step``.
    default : float
        Threshold kept for a label with no positives (its F1 is 0 whatever the threshold);
        also the tie-breaker (the tied threshold closest to it wins).
    fine_step : float
        Step of the fine search.

    Returns
    -------
    numpy.ndarray, shape (n_labels,)
        float64 thresholds in (0, 1).
    """
    if grid not in GRIDS:
        raise ConfigError(f"--grid must be one of {', '.join(GRIDS)}, not {grid!r}")
    if not 0 < fine_step < 0.05:
        raise ConfigError(f"fine_step must be in (0, 0.05), not {fine_step}")
    y_true = np.asarray(y_true)
    y_score = np.asarray(y_score, dtype=np.float64)
    if y_true.shape != y_score.shape or y_true.ndim != 2:
        raise ValueError(f"y_true {y_true.shape} and y_score {y_score.shape} must be equal 2-D shapes")
    thresholds = np.full(y_true.shape[1], float(default))
    for j in range(y_true.shape[1]):
        if y_true[:, j].sum() == 0:
            continue
        if grid == "fine":
            candidates = np.round(np.arange(0.01, 0.99 + 1e-9, fine_step), 6)
        else:
            candidates = COARSE_GRID
        best, _ = _best(candidates, f1_at_thresholds(y_true[:, j], y_score[:, j], candidates), default)
        if grid == "coarse-to-fine":
            fine = np.round(np.arange(best - 0.05, best + 0.05 + 1e-9, fine_step), 6)
            fine = fine[(fine > 0) & (fine < 1)]
            best, _ = _best(fine, f1_at_thresholds(y_true[:, j], y_score[:, j], fine), best)
        thresholds[j] = best
    return thresholds


def tune_bundle(
    data: str | os.PathLike,
    model: str | os.PathLike | None,
    out: str | os.PathLike,
    *,
    labels_file: str | os.PathLike | None = None,
    grid: str = "coarse-to-fine",
    aggregation: str | None = None,
) -> dict:
    """Tune thresholds of bundle ``model`` on dataset ``data`` and save a new bundle to ``out``.

    Returns
    -------
    dict
        ``{"thresholds": {code: t}, "f1_before": {...}, "f1_after": {...},
        "f1_macro_before", "f1_macro_after", "f1_micro_before", "f1_micro_after", "out"}``.
    """
    from instrumentid.evaluation.evaluate import collect_scores
    from instrumentid.evaluation.metrics import compute_metrics
    from instrumentid.inference.bundle import save_bundle
    from instrumentid.inference.predictor import Predictor

    predictor = Predictor.from_bundle(model, runtime="torch")
    collected = collect_scores(predictor, data, labels_file=labels_file, aggregation=aggregation, windows=False)
    y_true, y_score = collected["y_true"], collected["y_score"]
    labels = list(predictor.labels)
    before = np.asarray(predictor.thresholds, dtype=np.float64)
    tuned = tune_thresholds(y_true, y_score, grid=grid)
    m_before = compute_metrics(y_true, y_score, before, labels)
    m_after = compute_metrics(y_true, y_score, tuned, labels)
    result = {
        "thresholds": dict(zip(labels, map(float, tuned))),
        "f1_before": {code: m_before["per_label"][code]["f1"] for code in labels},
        "f1_after": {code: m_after["per_label"][code]["f1"] for code in labels},
        "f1_macro_before": m_before["f1_macro"],
        "f1_macro_after": m_after["f1_macro"],
        "f1_micro_before": m_before["f1_micro"],
        "f1_micro_after": m_after["f1_micro"],
        "out": str(out),
    }
    bundle = dict(predictor.bundle)
    bundle["thresholds"] = [float(t) for t in tuned]
    metadata = dict(bundle.get("metadata") or {})
    metadata["threshold_tuning"] = {
        "data": str(Path(data).resolve()),
        "labels_file": str(Path(labels_file).resolve()) if labels_file else None,
        "n_files": int(y_true.shape[0]),
        "grid": grid,
        "aggregation": collected["aggregation"],
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "f1_macro": m_after["f1_macro"],
        "f1_micro": m_after["f1_micro"],
        "f1_per_label": result["f1_after"],
        "f1_macro_before": m_before["f1_macro"],
        "previous_thresholds": [float(t) for t in before],
    }
    bundle["metadata"] = metadata
    save_bundle(bundle, out)
    return result
