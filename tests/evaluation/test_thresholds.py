import numpy as np
import pytest
from sklearn.metrics import f1_score

from instrumentid.errors import ConfigError
from instrumentid.evaluation.thresholds import (
    ABOVE_NON_MUSIC_RANGE,
    COARSE_GRID,
    DEFAULT_RULE,
    MIN_PER_LABEL,
    NON_MUSIC_MARGIN,
    ONE_FOR_ALL_GRID,
    RULES,
    f1_at_thresholds,
    nested_presence,
    non_music_rows,
    one_for_all_threshold,
    thresholds_by_rule,
    tune_thresholds,
)


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
    with pytest.raises(ConfigError, match=r"^the threshold grid must be one of coarse-to-fine, coarse, fine"):
        tune_thresholds(np.ones((2, 2)), np.ones((2, 2)), grid="bogus")


def _table():
    """Three labels. Label 0: 20 positives scoring 0.55..0.95. Label 1: 3 positives (too few to
    tune alone). Label 2: 30 positives, the other instrument of label 0's negatives. Ten rows
    have no label (the non-music): their best scores are 0.6 on label 0 and 0.3 on label 1."""
    y_true = np.zeros((60, 3), dtype=int)
    y_score = np.full((60, 3), 0.1)
    y_true[:20, 0] = 1
    y_score[:20, 0] = np.linspace(0.55, 0.95, 20)
    y_true[20:23, 1] = 1
    y_score[20:23, 1] = 0.7
    y_true[20:50, 2] = 1
    y_score[20:50, 2] = 0.9
    y_score[20:50, 0] = 0.3
    y_score[50:, 0] = np.linspace(0.2, 0.6, 10)
    y_score[50:, 1] = 0.3
    return y_true, y_score


def test_every_rule_is_described_and_reachable_by_name():
    assert set(RULES) == {"per-label", "one-for-all", "per-label-above-non-music", "one-for-all-above-non-music"}
    assert DEFAULT_RULE == "per-label"
    y_true, y_score = _table()
    for name, rule in RULES.items():
        assert rule.summary, name
        thresholds = thresholds_by_rule(name, y_true, y_score)
        assert thresholds.shape == (3,) and np.all((thresholds > 0) & (thresholds < 1)), name


def test_per_label_is_tune_thresholds():
    y_true, y_score = _table()
    np.testing.assert_array_equal(thresholds_by_rule("per-label", y_true, y_score), tune_thresholds(y_true, y_score))
    np.testing.assert_array_equal(
        thresholds_by_rule("per-label", y_true, y_score, grid="coarse"), tune_thresholds(y_true, y_score, grid="coarse")
    )


def test_one_for_all_is_the_macro_f1_optimum_on_its_grid():
    y_true, y_score = _table()
    t = thresholds_by_rule("one-for-all", y_true, y_score)
    assert t[0] == t[1] == t[2] == one_for_all_threshold(y_true, y_score)

    def macro_f1(thresholds):
        return np.mean([_f1(y_true, y_score, thresholds, j) for j in range(3)])

    assert np.isclose(macro_f1(t), max(macro_f1(np.full(3, g)) for g in ONE_FOR_ALL_GRID))
    assert one_for_all_threshold(np.zeros((4, 2)), np.ones((4, 2))) == 0.5  # no positives at all


def test_per_label_above_non_music_keeps_above_unlabelled_rows_and_helps_scarce_labels():
    y_true, y_score = _table()
    assert non_music_rows(y_true).tolist() == [False] * 50 + [True] * 10
    t = thresholds_by_rule("per-label-above-non-music", y_true, y_score)
    own = tune_thresholds(y_true, y_score)
    assert own[0] < 0.6 and t[0] == 0.6 + NON_MUSIC_MARGIN  # 20 positives: its own, raised above the non-music
    assert t[1] == one_for_all_threshold(y_true, y_score) != own[1]  # 3 positives: the shared threshold
    assert t[2] == own[2]  # the non-music scored low on label 2: nothing to raise
    # a caller that knows better names the non-music rows itself: none here, so no floor
    free = thresholds_by_rule("per-label-above-non-music", y_true, y_score, non_music=np.zeros(60, dtype=bool))
    assert free[0] == own[0]
    y_score[:20, 0] = np.linspace(0.01, 0.05, 20)  # positives that score very low: the floor holds
    low = thresholds_by_rule("per-label-above-non-music", y_true, y_score, non_music=np.zeros(60, dtype=bool))
    assert low[0] == MIN_PER_LABEL


def test_per_label_above_non_music_tunes_on_primary_rows_where_they_suffice():
    """Label 0 has its 20 positives among the primary rows (the first 40): it is tuned there
    alone, and negatives outside them (say rendered ones) do not move its threshold."""
    y_true, y_score = _table()
    primary = np.arange(60) < 40
    y_score[40:50, 0] = 0.6
    none = np.zeros(60, dtype=bool)
    on_primary = tune_thresholds(y_true[primary], y_score[primary])[0]
    t = thresholds_by_rule("per-label-above-non-music", y_true, y_score, non_music=none, primary_rows=primary)
    assert t[0] == on_primary < thresholds_by_rule("per-label-above-non-music", y_true, y_score, non_music=none)[0]


def test_one_for_all_above_non_music_is_one_threshold_above_every_non_music_score():
    y_true, y_score = _table()
    t = thresholds_by_rule("one-for-all-above-non-music", y_true, y_score)
    assert t[0] == t[1] == t[2] == 0.6 + NON_MUSIC_MARGIN > one_for_all_threshold(y_true, y_score)
    y_score[55, 1] = 0.99  # a non-music row scoring near 1: the threshold stops at the range's top
    assert thresholds_by_rule("one-for-all-above-non-music", y_true, y_score)[0] == ABOVE_NON_MUSIC_RANGE[1]


def test_nested_presence_uses_thresholds_tuned_without_the_fold():
    """Fold 0's positives score 0.35, below other folds' negatives (up to 0.5): tuned without
    fold 0, every rule misses them, though tuned on every row per-label would find them."""
    rng = np.random.default_rng(0)
    folds = np.repeat(np.arange(4), 50)
    y_true = np.zeros((200, 2), dtype=int)
    y_true[::2, 0] = 1
    y_true[1::2, 1] = 1
    y_score = np.where(y_true > 0, 0.9, rng.uniform(0.05, 0.5, y_true.shape))
    y_score[folds == 0] = np.where(y_true[folds == 0] > 0, 0.35, 0.05)
    for name in RULES:
        present = nested_presence(name, y_true, y_score, folds)
        for k in range(4):
            others = thresholds_by_rule(name, y_true[folds != k], y_score[folds != k])
            np.testing.assert_array_equal(present[folds == k], y_score[folds == k] >= others)
        assert not present[folds == 0].any(), name
    assert (y_score[folds == 0] >= thresholds_by_rule("per-label", y_true, y_score)).any()


def test_an_unknown_rule_is_a_plain_error():
    with pytest.raises(ConfigError, match=r"^unknown threshold rule 'bogus': one of per-label, one-for-all"):
        thresholds_by_rule("bogus", np.ones((2, 2)), np.ones((2, 2)))
    with pytest.raises(ValueError, match="one entry per row"):
        thresholds_by_rule("per-label-above-non-music", np.ones((2, 2)), np.ones((2, 2)), non_music=[True])
