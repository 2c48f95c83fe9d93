"""Find suspect labels with cleanlab (confident learning on out-of-fold probabilities).

1. Represent every file by a vector (``features``): ``"model"``, a bundle's embeddings
   (``model.embed`` averaged over windows; ``model=None`` is the bundled default, as everywhere),
   or ``"classical"``, the hand-crafted features of :mod:`~instrumentid.analysis.classical_features`.
2. Out-of-fold probabilities: K-fold cross-validated predictions of one logistic regression
   per label (``StandardScaler → LogisticRegression``); folds are multilabel-stratified over
   *groups*, so excerpts of one song never help predict each other.
3. ``cleanlab.multilabel_classification.filter.find_label_issues`` flags files whose given
   labels disagree with those probabilities; ``get_label_quality_scores`` ranks them.

Outputs: ``label_issues.csv`` (every flagged file, its given and suggested labels, the
quality score and the per-label probabilities) and ``label_overrides.csv`` (``file`` + one 0/1
column per label with the suggested labels -- the CSV shape ``train`` accepts).
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from instrumentid.errors import ConfigError, DataError
from instrumentid.inference.decision import is_present
from instrumentid.labels import LABELS


def group_folds(Y: np.ndarray, groups: Sequence[str] | None, *, n_splits: int = 5, seed: int = 0) -> np.ndarray:
    """Fold index of every sample: multilabel-stratified K-fold over groups (label union per group)."""
    from iterstrat.ml_stratifiers import MultilabelStratifiedKFold

    Y = np.asarray(Y).astype(int)
    groups = list(groups) if groups is not None else [str(i) for i in range(len(Y))]
    names = list(dict.fromkeys(groups))
    index = {g: i for i, g in enumerate(names)}
    G = np.zeros((len(names), Y.shape[1]), dtype=int)
    for g, row in zip(groups, Y, strict=True):
        G[index[g]] |= row
    n_splits = min(n_splits, len(names))
    if n_splits < 2:
        raise DataError(f"need at least 2 groups for cross-validation, found {len(names)}")
    group_fold = np.zeros(len(names), dtype=int)
    splitter = MultilabelStratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    for fold, (_, test) in enumerate(splitter.split(np.zeros((len(names), 1)), G)):
        group_fold[test] = fold
    return np.array([group_fold[index[g]] for g in groups])


def out_of_fold_probabilities(
    X: np.ndarray,
    Y: np.ndarray,
    *,
    groups: Sequence[str] | None = None,
    n_splits: int = 5,
    C: float = 1.0,
    seed: int = 0,
) -> np.ndarray:
    """Out-of-fold ``P(label present)`` ``(n_samples, n_labels)`` from per-label logistic regressions."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, Y = np.asarray(X, dtype=np.float64), np.asarray(Y).astype(int)
    folds = group_folds(Y, groups, n_splits=n_splits, seed=seed)
    probs = np.zeros(Y.shape, dtype=np.float64)
    for fold in np.unique(folds):
        train, test = folds != fold, folds == fold
        for j in range(Y.shape[1]):
            column = Y[train, j]
            if column.min() == column.max():
                probs[test, j] = float(column[0])
                continue
            clf = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=2000))
            probs[test, j] = clf.fit(X[train], column).predict_proba(X[test])[:, 1]
    return np.clip(probs, 1e-6, 1 - 1e-6)


def find_issues(Y: np.ndarray, probs: np.ndarray, *, threshold: float = 0.5) -> dict:
    """Run cleanlab on given labels ``Y`` and out-of-fold ``probs`` (both ``(n, n_labels)``).

    Labels with no positive in ``Y`` are left out of cleanlab (nothing to check) and kept as
    given. Returns ``{"issues": bool (n,), "quality": (n,), "ranked": indices of flagged
    files, worst first, "suggested": (n, n_labels) 0/1}``.
    """
    from cleanlab.multilabel_classification import filter as cl_filter
    from cleanlab.multilabel_classification import rank as cl_rank

    Y, probs = np.asarray(Y).astype(int), np.asarray(probs, dtype=np.float64)
    used = np.flatnonzero(Y.sum(axis=0) > 0)
    if len(used) < 2:
        used = np.arange(Y.shape[1]) if Y.shape[1] >= 2 else used
    given = [list(np.flatnonzero(row[used])) for row in Y]
    p = probs[:, used]
    issues = cl_filter.find_label_issues(labels=given, pred_probs=p)
    quality = cl_rank.get_label_quality_scores(labels=given, pred_probs=p)
    suggested = Y.copy()
    suggested[:, used] = is_present(p, threshold).astype(int)
    empty = np.flatnonzero(suggested.sum(axis=1) == 0)  # every file keeps at least its likeliest label
    suggested[empty, used[np.argmax(p[empty], axis=1)]] = 1
    ranked = [int(i) for i in np.argsort(quality) if issues[i]]
    return {
        "issues": np.asarray(issues, dtype=bool),
        "quality": np.asarray(quality),
        "ranked": ranked,
        "suggested": suggested,
    }


#: What represents a file: a bundle's embeddings, or the hand-crafted classical features.
FEATURES = ("model", "classical")


def check_features(features: str, model) -> None:
    """A :class:`ConfigError` unless ``features`` is one of :data:`FEATURES` and ``model`` fits it."""
    if features not in FEATURES:
        raise ConfigError(f"features must be one of {', '.join(FEATURES)}, not {features!r}", option="features")
    if features == "classical" and model is not None:
        raise ConfigError("a model goes with the 'model' features; classical features use no model", option="model")


def file_vectors(
    examples: Sequence, *, features: str = "model", model=None, progress: bool = False
) -> tuple[np.ndarray, list, list, str]:
    """``(X, ok_examples, errors, description)``: per-file vectors of the kind ``features`` names.

    ``features="model"`` embeds with bundle ``model`` (a path or bundled name; ``None`` = the
    default); ``features="classical"`` computes hand-crafted features and takes no model.
    """
    check_features(features, model)
    if features == "model":
        from instrumentid.analysis.embed import compute_embeddings
        from instrumentid.inference.predictor import Predictor

        predictor = Predictor.from_bundle(model, runtime="torch")
        X, kept, errors = compute_embeddings(predictor, examples, progress=progress)
        return X, kept, errors, f"embeddings of {model if model is not None else 'default'}"
    from instrumentid.analysis.classical_features import dataset_features

    X, kept, errors = dataset_features(examples, progress=progress)
    return X, kept, errors, "classical features"


def label_issues(
    data,
    out,
    *,
    features: str = "model",
    model=None,
    labels_file=None,
    n_splits: int = 5,
    seed: int = 0,
    progress: bool = False,
) -> dict:
    """Find suspect labels in ``data``; write ``label_issues.csv`` and ``label_overrides.csv`` to ``out``.

    ``features`` and ``model`` as in :func:`file_vectors`.

    Returns ``{"n_files", "n_issues", "features", "issues_csv", "overrides_csv", "top": [rows]}``.
    """
    from instrumentid.data.datasets import label_matrix, load_examples, write_csv

    check_features(features, model)  # before the data is read
    examples = load_examples(data, labels_file=labels_file)
    X, kept, errors, source = file_vectors(examples, features=features, model=model, progress=progress)
    Y = label_matrix(kept, LABELS)
    probs = out_of_fold_probabilities(X, Y, groups=[e.group for e in kept], n_splits=n_splits, seed=seed)
    found = find_issues(Y, probs)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in found["ranked"]:
        given = {c for c, v in zip(LABELS, Y[i], strict=True) if v}
        suggested = {c for c, v in zip(LABELS, found["suggested"][i], strict=True) if v}
        rows.append(
            {
                "file": str(kept[i].path),
                "given": ";".join(c for c in LABELS if c in given),
                "suggested": ";".join(c for c in LABELS if c in suggested),
                "add": ";".join(c for c in LABELS if c in suggested - given),
                "remove": ";".join(c for c in LABELS if c in given - suggested),
                "quality": f"{found['quality'][i]:.4f}",
                **{f"p_{c}": f"{probs[i, j]:.4f}" for j, c in enumerate(LABELS)},
            }
        )
    issues_csv = out / "label_issues.csv"
    header = ["file", "given", "suggested", "add", "remove", "quality", *(f"p_{c}" for c in LABELS)]
    with issues_csv.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)
    overrides_csv = write_csv(
        [kept[i] for i in found["ranked"]],
        out / "label_overrides.csv",
        y=found["suggested"][found["ranked"]] if rows else None,
    )
    return {
        "n_files": len(kept),
        "n_issues": len(rows),
        "features": source,
        "errors": errors,
        "issues_csv": issues_csv,
        "overrides_csv": overrides_csv,
        "top": rows[:20],
        "issue_indices": found["ranked"],
        "probabilities": probs,
    }
