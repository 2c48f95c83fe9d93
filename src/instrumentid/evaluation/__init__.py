"""Evaluation: multi-label metrics, threshold tuning, plots and reports.

>>> from instrumentid.evaluation import compute_metrics, tune_thresholds
>>> metrics = compute_metrics(y_true, y_score, thresholds=0.5)
>>> thresholds = tune_thresholds(y_true_val, y_score_val)
>>> from instrumentid.evaluation import thresholds_by_rule      # a named rule (RULES)
>>> thresholds = thresholds_by_rule("one-for-all-above-non-music", y_true_val, y_score_val)

``metrics`` and ``thresholds`` need only numpy and scikit-learn; ``evaluation.evaluate.evaluate`` runs a
model bundle over a dataset; ``plots`` needs matplotlib (the ``analysis`` extra).
"""

from importlib import import_module

#: name → submodule; imported on first use, so importing a light submodule (thresholds) does not
#: pull scikit-learn into a command that only needs its constants.
_LAZY = {
    "binarize": "metrics",
    "compute_metrics": "metrics",
    "per_label_metrics": "metrics",
    "per_sample_metrics": "metrics",
    "tune_thresholds": "thresholds",
    "thresholds_by_rule": "thresholds",
    "RULES": "thresholds",
}

__all__ = list(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(f"instrumentid.evaluation.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'instrumentid.evaluation' has no attribute {name!r}")
