"""instrumentid.inference.decision: the one comparison and the three ranges (override, bundle, tuned).

(Named apart from tests/evaluation/test_thresholds.py, which tests threshold tuning.)
"""

import math

import numpy as np
import pytest

from instrumentid.errors import BundleError, ConfigError
from instrumentid.evaluation.metrics import binarize
from instrumentid.inference import schema
from instrumentid.inference.decision import (
    TUNED_RANGE,
    check_bundle_thresholds,
    check_threshold,
    clip_tuned,
    is_present,
)


def test_present_means_at_or_above_the_threshold():
    scores = np.array([[0.3, 0.5, 0.7], [0.5, 0.49, 0.5]], dtype=np.float32)
    expected = [[False, True, True], [True, False, True]]
    assert is_present(scores, 0.5).tolist() == expected
    assert is_present(scores, [0.5, 0.5, 0.5]).tolist() == expected
    assert is_present(scores, [0.2, 0.6, 0.65]).tolist() == [[True, False, True], [True, False, False]]


def test_record_and_metrics_decide_alike():
    """The predict record's `present` and the metrics' predictions are the same comparison."""
    labels = ("a", "b", "c")
    scores = np.array([0.3, 0.5, 0.7], dtype=np.float32)
    thresholds = np.array([0.3, 0.51, 0.7], dtype=np.float32)
    assert schema.present_labels(labels, scores, thresholds) == ["a", "c"]
    assert binarize(scores[None], thresholds).tolist() == [[1, 0, 1]]


@pytest.mark.parametrize("value", [0, 0.0, 0.35, 1.0, "0.5"])
def test_an_override_may_be_anything_from_0_to_1(value):
    assert check_threshold(value, "--threshold") == float(value)


@pytest.mark.parametrize("value", [-0.01, 1.5, math.nan, math.inf])
def test_an_override_outside_0_1_names_the_flag(value):
    with pytest.raises(ConfigError, match=r"^--threshold must be between 0 and 1, got "):
        check_threshold(value, "--threshold")


def test_a_non_number_override_names_the_field():
    with pytest.raises(ConfigError, match=r"^threshold must be a number between 0 and 1, got 'high'$"):
        check_threshold("high", "threshold")


def test_a_bundle_keeps_its_thresholds_strictly_inside_0_1():
    check_bundle_thresholds([0.001, 0.5, 0.999], ["a", "b", "c"], "m.iid")
    with pytest.raises(BundleError, match=r"^m.iid: thresholds must lie strictly between 0 and 1 \(b: 1\)$"):
        check_bundle_thresholds([0.5, 1.0, 0.5], ["a", "b", "c"], "m.iid")
    with pytest.raises(BundleError, match=r"^m.iid: 2 thresholds for 3 labels$"):
        check_bundle_thresholds([0.5, 0.5], ["a", "b", "c"], "m.iid")


def test_tuned_thresholds_are_clipped_inside_the_bundle_range():
    assert TUNED_RANGE == (0.02, 0.98)
    assert clip_tuned([0.005, 0.5, 0.995]).tolist() == [0.02, 0.5, 0.98]
    check_bundle_thresholds(clip_tuned([0.0, 1.0]), ["a", "b"], "tuned")
