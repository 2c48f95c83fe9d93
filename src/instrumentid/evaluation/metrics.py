"""Multi-label metrics on ``y_true`` / ``y_score`` arrays (pure numpy + scikit-learn).

Everything here works without a model: pass ``y_true`` ``(n_samples, n_labels)`` 0/1 and
``y_score`` ``(n_samples, n_labels)`` probabilities, plus the per-label thresholds that turn
scores into predictions (``y_pred = y_score >= threshold``).

Undefined cases are handled explicitly and the same way everywhere:

* macro averages (F1, precision, recall, ROC-AUC, AP) are taken over the labels **present**
  in the ground truth (at least one positive; ``macro_labels``), not over all labels: a label
  absent from the set has no recall to measure, and counting its F1 as 0 would only scale the
  average down by the share of absent labels. ``absent_labels`` lists the others, and
  :func:`macro_note` says it in words. With no label present the macro averages are ``None``.
* precision / recall / F1 with a zero denominator (no predicted positives, or no true
  positives) take the value ``zero_division`` (default ``0.0``), as in scikit-learn's
  ``zero_division`` argument; micro, weighted and samples averages include such labels
  (scikit-learn semantics).
* ROC-AUC of a label whose column is all 0 or all 1 is undefined: ``None`` (JSON ``null``).
* average precision of a label with no positives is undefined: ``None``.
* macro ROC-AUC and mean average precision (mAP) average only the defined labels (so a label
  present in every file drops out of ROC-AUC too; ``None`` when no label is defined);
  ``n_labels_defined`` says how many were used.
* the hamming score (example-based accuracy, ``|y ∩ ŷ| / |y ∪ ŷ|``) of a sample whose true
  and predicted sets are both empty is 1 (a perfect answer), as
  ``jaccard_score(average="samples", zero_division=1)``; its samples-averaged precision,
  recall and F1 are ``zero_division`` (scikit-learn's convention).
* LRAP follows scikit-learn: a sample whose labels are all 0 or all 1 scores 1.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn import metrics as skm

from instrumentid.inference.decision import is_present
from instrumentid.labels import LABELS

#: The averaged F1/precision/recall variants reported.
AVERAGES: tuple[str, ...] = ("micro", "macro", "weighted", "samples")


def check_arrays(y_true, y_score, labels: Sequence[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Validate and convert ``y_true`` (0/1) and ``y_score`` to 2-D arrays of equal shape.

    Raises
    ------
    ValueError
        Naming the offending argument when shapes differ, values are not 0/1 or not finite.
    """
    y_true = np.asarray(y_true)
    y_score = np.asarray(y_score, dtype=np.float64)
    if y_true.ndim != 2:
        raise ValueError(f"y_true must be 2-D (n_samples, n_labels), got shape {y_true.shape}")
    if y_score.shape != y_true.shape:
        raise ValueError(f"y_score shape {y_score.shape} differs from y_true shape {y_true.shape}")
    if y_true.shape[0] == 0:
        raise ValueError("y_true has no samples")
    if not np.isin(y_true, (0, 1)).all():
        raise ValueError("y_true must contain only 0 and 1")
    if not np.isfinite(y_score).all():
        raise ValueError("y_score contains NaN or infinite values")
    if labels is not None and len(labels) != y_true.shape[1]:
        raise ValueError(f"labels has {len(labels)} entries but the arrays have {y_true.shape[1]} columns")
    return y_true.astype(np.int64), y_score


def binarize(y_score, thresholds) -> np.ndarray:
    """``y_score >= thresholds`` as int 0/1; ``thresholds`` is a scalar or one value per label."""
    y_score = np.asarray(y_score, dtype=np.float64)
    thresholds = np.broadcast_to(np.asarray(thresholds, dtype=np.float64), y_score.shape[-1:])
    return is_present(y_score, thresholds).astype(np.int64)


def hamming_score(y_true, y_pred) -> np.ndarray:
    """Per-sample example-based accuracy ``|y ∩ ŷ| / |y ∪ ŷ|`` (1.0 when both sets are empty)."""
    y_true = np.asarray(y_true).astype(bool)
    y_pred = np.asarray(y_pred).astype(bool)
    inter = np.logical_and(y_true, y_pred).sum(axis=1)
    union = np.logical_or(y_true, y_pred).sum(axis=1)
    return np.where(union == 0, 1.0, inter / np.maximum(union, 1))


def per_sample_metrics(y_true, y_pred, *, zero_division: float = 0.0) -> dict[str, np.ndarray]:
    """Per-sample precision, recall, F1 and hamming score, each ``(n_samples,)``.

    Precision of a sample with no predicted label, recall of one with no true label, and F1 of
    one with neither are ``zero_division`` (as scikit-learn's ``average="samples"``, so the means
    equal ``f1_samples`` etc.); the hamming score of a sample with neither is 1.
    """
    y_true = np.asarray(y_true).astype(bool)
    y_pred = np.asarray(y_pred).astype(bool)
    tp = np.logical_and(y_true, y_pred).sum(axis=1).astype(np.float64)
    n_pred = y_pred.sum(axis=1)
    n_true = y_true.sum(axis=1)
    precision = np.where(n_pred > 0, tp / np.maximum(n_pred, 1), zero_division)
    recall = np.where(n_true > 0, tp / np.maximum(n_true, 1), zero_division)
    denominator = n_pred + n_true
    f1 = np.where(denominator > 0, 2 * tp / np.maximum(denominator, 1), zero_division)
    return {"precision": precision, "recall": recall, "f1": f1, "hamming_score": hamming_score(y_true, y_pred)}


def _optional(value) -> float | None:
    return None if value is None else float(value)


def per_label_metrics(
    y_true, y_score, thresholds, labels: Sequence[str] = LABELS, *, zero_division: float = 0.0
) -> dict[str, dict]:
    """Per-instrument F1, precision, recall, ROC-AUC, AP, support and confusion counts.

    Returns
    -------
    dict
        ``{code: {"f1", "precision", "recall", "roc_auc", "average_precision", "support",
        "predicted", "tp", "fp", "fn", "tn", "threshold"}}``; ``roc_auc`` / ``average_precision``
        are ``None`` when undefined (see the module docstring).
    """
    y_true, y_score = check_arrays(y_true, y_score, labels)
    y_pred = binarize(y_score, thresholds)
    thresholds = np.broadcast_to(np.asarray(thresholds, dtype=np.float64), (len(labels),))
    precision, recall, f1, support = skm.precision_recall_fscore_support(
        y_true, y_pred, average=None, zero_division=zero_division
    )
    result = {}
    for j, code in enumerate(labels):
        column, scores, predicted = y_true[:, j], y_score[:, j], y_pred[:, j]
        n_pos = int(column.sum())
        auc = skm.roc_auc_score(column, scores) if 0 < n_pos < len(column) else None
        ap = skm.average_precision_score(column, scores) if n_pos > 0 else None
        result[code] = {
            "f1": float(f1[j]),
            "precision": float(precision[j]),
            "recall": float(recall[j]),
            "roc_auc": _optional(auc),
            "average_precision": _optional(ap),
            "support": int(support[j]),
            "predicted": int(predicted.sum()),
            "tp": int(np.sum((column == 1) & (predicted == 1))),
            "fp": int(np.sum((column == 0) & (predicted == 1))),
            "fn": int(np.sum((column == 1) & (predicted == 0))),
            "tn": int(np.sum((column == 0) & (predicted == 0))),
            "threshold": float(thresholds[j]),
        }
    return result


def _mean_defined(values) -> tuple[float | None, int]:
    defined = [v for v in values if v is not None]
    return (float(np.mean(defined)) if defined else None), len(defined)


def _averages(y_true, y_pred, present: np.ndarray, zero_division: float) -> dict[str, float | None]:
    """``{f1,precision,recall}_{average}`` for every average; macro over the ``present`` label columns."""
    out: dict[str, float | None] = {}
    for average in AVERAGES:
        if average == "macro" and not present.size:
            out.update({"f1_macro": None, "precision_macro": None, "recall_macro": None})
            continue
        precision, recall, f1, _ = skm.precision_recall_fscore_support(
            y_true, y_pred, average=average, zero_division=zero_division, labels=present if average == "macro" else None
        )
        out.update(
            {f"f1_{average}": float(f1), f"precision_{average}": float(precision), f"recall_{average}": float(recall)}
        )
    return out


def compute_metrics(
    y_true,
    y_score,
    thresholds=0.5,
    labels: Sequence[str] = LABELS,
    *,
    zero_division: float = 0.0,
) -> dict:
    """All multi-label metrics of one set of predictions.

    Parameters
    ----------
    y_true : array-like, shape (n_samples, n_labels)
        0/1 ground truth.
    y_score : array-like, shape (n_samples, n_labels)
        Scores in [0, 1] (higher = more likely present).
    thresholds : float or array-like, shape (n_labels,)
        A label is predicted when ``y_score >= threshold``.
    labels : sequence of str
        Label codes naming the columns.
    zero_division : float
        Value of precision/recall/F1 when their denominator is zero.

    Returns
    -------
    dict
        JSON-ready: ``n_samples``, ``n_labels``, ``macro_labels`` / ``absent_labels`` (codes
        with / without a positive), ``f1_{micro,macro,weighted,samples}`` (same for
        ``precision_`` and ``recall_``; macro over ``macro_labels``), ``hamming_score``,
        ``hamming_loss``, ``exact_match``, ``lrap``, ``mean_average_precision``,
        ``roc_auc_macro``, ``roc_auc_micro``, ``n_labels_defined`` and ``per_label`` (see
        :func:`per_label_metrics`).
    """
    y_true, y_score = check_arrays(y_true, y_score, labels)
    y_pred = binarize(y_score, thresholds)
    has_positive = y_true.sum(axis=0) > 0
    out: dict = {
        "n_samples": int(y_true.shape[0]),
        "n_labels": int(y_true.shape[1]),
        "macro_labels": [code for code, p in zip(labels, has_positive, strict=True) if p],
        "absent_labels": [code for code, p in zip(labels, has_positive, strict=True) if not p],
        **_averages(y_true, y_pred, np.flatnonzero(has_positive), zero_division),
    }
    out["hamming_score"] = float(hamming_score(y_true, y_pred).mean())
    out["hamming_loss"] = float(skm.hamming_loss(y_true, y_pred))
    out["exact_match"] = float(skm.accuracy_score(y_true, y_pred))
    out["lrap"] = float(skm.label_ranking_average_precision_score(y_true, y_score))
    per_label = per_label_metrics(y_true, y_score, thresholds, labels, zero_division=zero_division)
    out["mean_average_precision"], n_ap = _mean_defined(v["average_precision"] for v in per_label.values())
    out["roc_auc_macro"], n_auc = _mean_defined(v["roc_auc"] for v in per_label.values())
    flat_true = y_true.ravel()
    out["roc_auc_micro"] = (
        float(skm.roc_auc_score(flat_true, y_score.ravel())) if 0 < flat_true.sum() < flat_true.size else None
    )
    out["n_labels_defined"] = {"average_precision": n_ap, "roc_auc": n_auc}
    out["per_label"] = per_label
    return out


#: Headline metrics shown in tables and reports, in order.
SUMMARY_KEYS: tuple[str, ...] = (
    "f1_micro",
    "f1_macro",
    "f1_weighted",
    "f1_samples",
    "precision_micro",
    "precision_macro",
    "recall_micro",
    "recall_macro",
    "hamming_score",
    "hamming_loss",
    "exact_match",
    "lrap",
    "mean_average_precision",
    "roc_auc_macro",
)


def macro_note(metrics: dict) -> str:
    """Over which labels the macro averages of a :func:`compute_metrics` result were taken, in words."""
    used, absent = metrics["macro_labels"], metrics["absent_labels"]
    total = len(used) + len(absent)
    if not absent:
        return f"macro over all {total} labels (each has a positive)"
    if not used:
        return f"macro undefined: none of the {total} labels has a positive"
    return f"macro over {len(used)} of {total} labels present; absent: {', '.join(absent)}"
