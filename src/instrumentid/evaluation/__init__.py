"""Evaluation: multi-label metrics, threshold tuning, plots and reports.

>>> from instrumentid.evaluation import compute_metrics, tune_thresholds
>>> metrics = compute_metrics(y_true, y_score, thresholds=0.5)
>>> thresholds = tune_thresholds(y_true_val, y_score_val)

``metrics`` and ``thresholds`` need only numpy and scikit-learn; ``evaluation.evaluate.evaluate`` runs a
model bundle over a dataset; ``plots`` needs matplotlib (the ``analysis`` extra).
"""

from instrumentid.evaluation.metrics import binarize, compute_metrics, per_label_metrics, per_sample_metrics
from instrumentid.evaluation.thresholds import tune_thresholds

__all__ = ["binarize", "compute_metrics", "per_label_metrics", "per_sample_metrics", "tune_thresholds"]
