"""Metrics agree with scikit-learn to 1e-6, including undefined cases."""

import json

import numpy as np
import pytest
from sklearn import metrics as skm

from instrumentid.evaluation.metrics import binarize, compute_metrics, hamming_score, macro_note, per_sample_metrics
from instrumentid.evaluation.report import format_table
from instrumentid.labels import LABELS


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def _random(rng, n=60, n_labels=11):
    y_true = (rng.random((n, n_labels)) < 0.3).astype(int)
    y_true[np.arange(n), rng.integers(0, n_labels, n)] = 1
    y_score = np.clip(y_true * 0.4 + rng.random((n, n_labels)) * 0.7, 0, 1)
    return y_true, y_score


def _check_against_sklearn(y_true, y_score, thresholds):
    y_pred = binarize(y_score, thresholds)
    m = compute_metrics(y_true, y_score, thresholds)
    present = np.flatnonzero(y_true.sum(0) > 0)  # macro averages are over the labels with a positive
    for average in ("micro", "macro", "weighted", "samples"):
        if average == "macro" and not present.size:
            assert m["f1_macro"] is m["precision_macro"] is m["recall_macro"] is None
            continue
        kwargs = {"average": average, "zero_division": 0, "labels": present if average == "macro" else None}
        assert m[f"f1_{average}"] == pytest.approx(skm.f1_score(y_true, y_pred, **kwargs), abs=1e-6)
        assert m[f"precision_{average}"] == pytest.approx(skm.precision_score(y_true, y_pred, **kwargs), abs=1e-6)
        assert m[f"recall_{average}"] == pytest.approx(skm.recall_score(y_true, y_pred, **kwargs), abs=1e-6)
    assert m["macro_labels"] == [LABELS[j] for j in present]
    assert m["hamming_score"] == pytest.approx(
        skm.jaccard_score(y_true, y_pred, average="samples", zero_division=1), abs=1e-6
    )
    assert m["hamming_loss"] == pytest.approx(skm.hamming_loss(y_true, y_pred), abs=1e-6)
    assert m["exact_match"] == pytest.approx(skm.accuracy_score(y_true, y_pred), abs=1e-6)
    assert m["lrap"] == pytest.approx(skm.label_ranking_average_precision_score(y_true, y_score), abs=1e-6)
    f1 = skm.f1_score(y_true, y_pred, average=None, zero_division=0)
    aps, aucs = [], []
    for j, code in enumerate(LABELS):
        row = m["per_label"][code]
        assert row["f1"] == pytest.approx(f1[j], abs=1e-6)
        assert row["support"] == int(y_true[:, j].sum())
        assert row["tp"] + row["fp"] + row["fn"] + row["tn"] == len(y_true)
        if 0 < y_true[:, j].sum() < len(y_true):
            aucs.append(skm.roc_auc_score(y_true[:, j], y_score[:, j]))
            assert row["roc_auc"] == pytest.approx(aucs[-1], abs=1e-6)
        else:
            assert row["roc_auc"] is None
        if y_true[:, j].sum() > 0:
            aps.append(skm.average_precision_score(y_true[:, j], y_score[:, j]))
            assert row["average_precision"] == pytest.approx(aps[-1], abs=1e-6)
        else:
            assert row["average_precision"] is None
    assert m["mean_average_precision"] == pytest.approx(np.mean(aps) if aps else None, abs=1e-6)
    assert m["roc_auc_macro"] == pytest.approx(np.mean(aucs) if aucs else None, abs=1e-6)
    json.dumps(m)  # JSON-ready
    return m


def test_random_inputs_match_sklearn(rng):
    y_true, y_score = _random(rng)
    thresholds = rng.uniform(0.3, 0.7, len(LABELS))
    m = _check_against_sklearn(y_true, y_score, thresholds)
    assert m["n_labels_defined"] == {"average_precision": 11, "roc_auc": 11}
    assert m["mean_average_precision"] == pytest.approx(
        skm.average_precision_score(y_true, y_score, average="macro"), abs=1e-6
    )


def test_label_with_no_positives_and_label_with_all_positives(rng):
    y_true, y_score = _random(rng)
    y_true[:, 2] = 0  # flu: no positives -> AP and AUC undefined
    y_true[:, 5] = 1  # org: all positives -> AUC undefined, AP defined
    m = _check_against_sklearn(y_true, y_score, 0.5)
    assert m["per_label"]["flu"]["average_precision"] is None and m["per_label"]["flu"]["roc_auc"] is None
    assert m["per_label"]["org"]["roc_auc"] is None and m["per_label"]["org"]["average_precision"] == 1.0
    assert m["n_labels_defined"] == {"average_precision": 10, "roc_auc": 9}


def test_macro_averages_only_labels_present_and_says_so(rng):
    """A set where 5 instruments never occur: they do not drag the macro averages towards 0."""
    y_true, y_score = _random(rng)
    absent = ["cel", "cla", "flu", "org", "tru"]
    columns = [LABELS.index(code) for code in absent]
    y_true[:, columns] = 0
    y_score[:, columns] = 0.9  # false alarms on absent labels still count in micro averages
    m = _check_against_sklearn(y_true, y_score, 0.5)
    kept = [j for j in range(len(LABELS)) if j not in columns]
    f1 = [m["per_label"][LABELS[j]]["f1"] for j in kept]
    assert m["f1_macro"] == pytest.approx(np.mean(f1), abs=1e-9)
    assert m["recall_macro"] == pytest.approx(np.mean([m["per_label"][LABELS[j]]["recall"] for j in kept]), abs=1e-9)
    assert m["mean_average_precision"] == pytest.approx(
        np.mean([m["per_label"][LABELS[j]]["average_precision"] for j in kept]), abs=1e-9
    )
    assert m["absent_labels"] == absent and len(m["macro_labels"]) == 6
    note = "macro over 6 of 11 labels present; absent: cel, cla, flu, org, tru"
    assert macro_note(m) == note
    assert note in format_table({"file": m, "window": None})


def test_macro_note_when_all_or_no_labels_are_present(rng):
    y_true, y_score = _random(rng)
    assert macro_note(compute_metrics(y_true, y_score)) == "macro over all 11 labels (each has a positive)"
    assert (
        macro_note(compute_metrics(np.zeros_like(y_true), y_score))
        == "macro undefined: none of the 11 labels has a positive"
    )


def test_no_positives_anywhere_and_empty_predictions():
    y_true = np.zeros((5, 11), int)
    y_score = np.full((5, 11), 0.1)
    m = _check_against_sklearn(y_true, y_score, 0.5)
    assert m["mean_average_precision"] is None and m["roc_auc_macro"] is None and m["roc_auc_micro"] is None
    assert m["hamming_score"] == 1.0 and m["exact_match"] == 1.0 and m["f1_micro"] == 0.0


def test_all_positives():
    y_true = np.ones((4, 11), int)
    y_score = np.linspace(0.2, 0.9, 44).reshape(4, 11)
    m = _check_against_sklearn(y_true, y_score, 0.5)
    assert m["roc_auc_macro"] is None and m["mean_average_precision"] == 1.0


def test_hamming_score_hand_computed():
    y_true = np.array([[1, 1, 0], [0, 0, 0], [1, 0, 0]])
    y_pred = np.array([[1, 0, 1], [0, 0, 0], [0, 1, 0]])
    np.testing.assert_allclose(hamming_score(y_true, y_pred), [1 / 3, 1.0, 0.0])
    per = per_sample_metrics(y_true, y_pred)
    np.testing.assert_allclose(per["f1"], [0.5, 0.0, 0.0])  # both empty -> zero_division, as sklearn


def test_per_sample_means_equal_samples_averages(rng):
    y_true, y_score = _random(rng)
    y_true[:5] = 0  # some files without any instrument
    y_pred = binarize(y_score, 0.6)
    y_pred[:2] = 0
    y_score[:2] = 0.1
    m = compute_metrics(y_true, y_score, 0.6)
    per = per_sample_metrics(y_true, y_pred)
    for name in ("f1", "precision", "recall"):
        assert per[name].mean() == pytest.approx(m[f"{name}_samples"], abs=1e-9)
    assert per["hamming_score"].mean() == pytest.approx(m["hamming_score"], abs=1e-9)


def test_bad_inputs_name_the_argument():
    with pytest.raises(ValueError, match="y_score shape"):
        compute_metrics(np.zeros((3, 11)), np.zeros((3, 10)))
    with pytest.raises(ValueError, match="only 0 and 1"):
        compute_metrics(np.full((3, 11), 2), np.zeros((3, 11)))
