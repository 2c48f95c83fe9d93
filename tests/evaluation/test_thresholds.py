import numpy as np
import pytest
from sklearn.metrics import f1_score

from instrumentid.errors import ConfigError
from instrumentid.evaluation.thresholds import COARSE_GRID, f1_at_thresholds, tune_thresholds


def _f1(y_true, scores, thresholds, j):
    """F1 of label ``j`` at its threshold, by scikit-learn (independent of the tuner's own F1)."""
    return f1_score(y_true[:, j], scores[:, j] >= thresholds[j], zero_division=0.0)


def test_tuned_thresholds_separate_a_separable_label():
    rng = np.random.default_rng(1)
    y_true = (rng.random((200, 3)) < 0.4).astype(int)
    # label 0 separable at 0.3, label 1 at 0.72, label 2 never positive
    y_true[:, 2] = 0
    scores = np.where(y_true == 1, rng.uniform(0.31, 1.0, y_true.shape), rng.uniform(0.0, 0.29, y_true.shape))
    scores[:, 1] = np.where(y_true[:, 1] == 1, rng.uniform(0.73, 1.0, 200), rng.uniform(0.0, 0.71, 200))
    t = tune_thresholds(y_true, scores)
    assert 0.29 < t[0] <= 0.31 + 1e-9
    assert scores[y_true[:, 1] == 0, 1].max() < t[1] <= 0.73 + 1e-9
    assert t[2] == 0.5
    assert _f1(y_true, scores, t, 0) == 1.0 and _f1(y_true, scores, t, 1) == 1.0
    coarse = tune_thresholds(y_true, scores, grid="coarse")
    assert coarse[1] in COARSE_GRID and _f1(y_true, scores, coarse, 1) < 1.0  # the refinement is what separates it


def test_f1_at_thresholds_hand_computed():
    f1 = f1_at_thresholds([1, 0, 1, 0], [0.9, 0.6, 0.4, 0.1], [0.5, 0.3, 0.95])
    np.testing.assert_allclose(f1, [0.5, 0.8, 0.0])


def test_bad_grid():
    with pytest.raises(ConfigError, match="--grid"):
        tune_thresholds(np.ones((2, 2)), np.ones((2, 2)), grid="bogus")
