"""cleanlab finds deliberately flipped labels in a separable toy set."""

import numpy as np
import pytest

from helpers import run_cli
from instrumentid.analysis.label_issues import (
    file_vectors,
    find_issues,
    group_folds,
    label_issues,
    out_of_fold_probabilities,
)
from instrumentid.data import read_dataset
from instrumentid.errors import ConfigError
from instrumentid.labels import LABELS


def test_flipped_labels_are_flagged():
    rng = np.random.default_rng(0)
    n, active = 240, [0, 3, 6, 10]  # cel, gac, pia, voi
    Y = np.zeros((n, len(LABELS)), int)
    for i in range(n):
        Y[i, rng.choice(active, size=rng.integers(1, 3), replace=False)] = 1
    # separable features: each label pushes its own direction
    X = Y @ (rng.standard_normal((len(LABELS), 16)) * 3) + rng.standard_normal((n, 16)) * 0.5
    noisy = Y.copy()
    flipped = rng.choice(n, size=12, replace=False)
    for i in flipped:
        present = np.flatnonzero(noisy[i])
        absent = [j for j in active if j not in present]
        noisy[i, present[0]] = 0
        noisy[i, absent[0]] = 1
    groups = [f"song{i // 2}" for i in range(n)]
    probs = out_of_fold_probabilities(X, noisy, groups=groups, n_splits=4)
    found = find_issues(noisy, probs)
    flagged = set(found["ranked"])
    assert len(flagged & set(flipped)) >= 10  # most flips found
    assert len(flagged - set(flipped)) <= 6  # few false alarms
    np.testing.assert_array_equal(found["suggested"][flipped], Y[flipped])  # suggestions undo the flips


def test_group_folds_keep_groups_together():
    Y = np.eye(4, dtype=int)[np.arange(40) % 4]
    groups = [f"g{i // 4}" for i in range(40)]
    folds = group_folds(Y, groups, n_splits=5)
    for g in set(groups):
        assert len({f for f, gg in zip(folds, groups, strict=True) if gg == g}) == 1


@pytest.mark.parametrize(
    "features,model,match",
    [
        ("classical", "my.iid", "a model goes with the 'model' features"),
        ("spectra", None, "features must be one of model, classical, not 'spectra'"),
    ],
)
def test_features_and_model_must_agree(features, model, match, tmp_path):
    with pytest.raises(ConfigError, match=match):
        file_vectors([], features=features, model=model)
    with pytest.raises(ConfigError, match=match):  # said before any data is read
        label_issues(tmp_path / "no such data", tmp_path / "out", features=features, model=model)


def test_label_issues_on_classical_features_needs_no_model(irmas_test_dir, tmp_path):
    result = label_issues(irmas_test_dir, tmp_path, features="classical", n_splits=2)
    assert result["features"] == "classical features" and result["n_files"] == len(read_dataset(irmas_test_dir))
    assert (tmp_path / "label_issues.csv").is_file()


def test_label_issues_command_writes_csvs(tiny_bundle, irmas_test_dir, tmp_path):
    import csv

    proc = run_cli(
        "label-issues", irmas_test_dir, "--model", tiny_bundle, "--out", tmp_path, "--folds", "2", installed=True
    )
    assert proc.returncode == 0, proc.stderr
    header = next(csv.reader((tmp_path / "label_issues.csv").open()))
    assert header[:6] == ["file", "given", "suggested", "add", "remove", "quality"]
    overrides = tmp_path / "label_overrides.csv"
    assert next(csv.reader(overrides.open()))[:12] == ["file", *LABELS]
    n_issues = len(list(csv.DictReader((tmp_path / "label_issues.csv").open())))
    if n_issues:  # the override CSV is readable by the dataset reader (what train uses)
        assert len(read_dataset(overrides)) == n_issues
