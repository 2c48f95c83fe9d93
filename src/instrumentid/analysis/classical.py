"""Classical baseline: hand-crafted features + one SVM per instrument; and stacking.

Each label gets its own ``StandardScaler → SVC(class_weight="balanced")`` pipeline with
cross-validated sigmoid (Platt) calibration of its probabilities (binary relevance:
multi-label as 11 independent yes/no problems), or with ``head="logistic"`` a balanced
logistic regression. A label with a single class in the training data gets a constant
predictor. The model is saved as arrays and JSON (:mod:`~instrumentid.analysis.classical_file`:
loading one cannot run code; old joblib pickles are refused) and evaluated through
:mod:`instrumentid.evaluation`, so its report matches ``evaluate``'s.

**Stacking** (``embedding_model=BUNDLE``): each file's vector is the hand-made features
followed by the bundle's embedding (``model.embed`` averaged over the file's windows, as
``instrumentid embed`` computes it), so one head per label learns from both what a trained
network hears and the classical descriptors. The model records the bundle's path and
checksum, and evaluation refuses a bundle that has changed since.
"""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from instrumentid.analysis import classical_file
from instrumentid.analysis.classical_file import ConstantProbability, DecisionSigmoid
from instrumentid.errors import DataError
from instrumentid.labels import LABELS

HEADS = ("svm", "logistic")


def make_pipeline(*, C: float = 1.0, kernel: str = "rbf", seed: int = 0, n_minority: int = 5, head: str = "svm"):
    """``StandardScaler → CalibratedClassifierCV(SVC(class_weight="balanced"))`` (sigmoid / Platt
    calibration, ``cv = min(5, n_minority)``; a plain SVC when ``n_minority < 2``), or with
    ``head="logistic"`` ``StandardScaler → LogisticRegression(class_weight="balanced")``."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    if head not in HEADS:
        raise DataError(f"unknown classical head {head!r}; choose one of {', '.join(HEADS)}")
    if head == "logistic":
        return Pipeline(
            [("scale", StandardScaler()), ("logistic", LogisticRegression(C=C, class_weight="balanced", max_iter=2000))]
        )
    svm = SVC(C=C, kernel=kernel, class_weight="balanced", random_state=seed)
    if n_minority >= 2:
        svm = CalibratedClassifierCV(svm, method="sigmoid", cv=min(5, n_minority), ensemble=False)
    return Pipeline([("scale", StandardScaler()), ("svm", svm)])


def fit_svms(
    X: np.ndarray, Y: np.ndarray, *, C: float = 1.0, kernel: str = "rbf", seed: int = 0, head: str = "svm"
) -> list:
    """One fitted pipeline (or :class:`ConstantProbability`) per column of ``Y`` ``(n, n_labels)``."""
    X, Y = np.asarray(X, dtype=np.float64), np.asarray(Y).astype(int)
    if len(X) != len(Y) or len(X) == 0:
        raise DataError(f"need matching non-empty features and labels, got {len(X)} and {len(Y)} rows")
    models = []
    for j in range(Y.shape[1]):
        column = Y[:, j]
        if column.min() == column.max():
            models.append(ConstantProbability(column[0]))
        else:
            n_minority = int(min(column.sum(), len(column) - column.sum()))
            pipeline = make_pipeline(C=C, kernel=kernel, seed=seed, n_minority=n_minority, head=head).fit(X, column)
            models.append(pipeline if n_minority >= 2 or head == "logistic" else DecisionSigmoid(pipeline))
    return models


def stacked_features(
    examples: Sequence, *, sample_rate: int, embedding_bundle=None, progress: bool = False
) -> tuple[np.ndarray, list, list[dict], list[str]]:
    """``(X, kept, errors, names)``: hand-made features, followed by the mean window embedding of
    ``embedding_bundle`` (a loaded bundle) when given."""
    from instrumentid.analysis.classical_features import dataset_features, feature_names

    X, kept, errors = dataset_features(examples, sample_rate=sample_rate, progress=progress)
    names = feature_names()
    if embedding_bundle is None or not kept:
        return X, kept, errors, names
    from instrumentid.analysis.embed import compute_embeddings
    from instrumentid.inference.predictor import Predictor

    embeddings, embedded, failed = compute_embeddings(Predictor(embedding_bundle), kept, progress=progress)
    position = {id(example): i for i, example in enumerate(kept)}
    rows = [position[id(example)] for example in embedded]
    names = names + [f"embedding{i}" for i in range(embeddings.shape[1])]
    return np.hstack([X[rows], embeddings]), embedded, errors + failed, names


def _embedding_bundle(path, checksum: str | None = None):
    """The stacking bundle at ``path``; with ``checksum``, refuse one that changed since training."""
    if path is None:
        return None
    from instrumentid.inference.bundle import load_bundle

    bundle = load_bundle(path)
    if checksum is not None and bundle.get("checksum") != checksum:
        raise DataError(f"{path}: this embedding bundle changed since the stacked model was trained; retrain it")
    return bundle


def predict_proba(models: Sequence, X: np.ndarray) -> np.ndarray:
    """Probability of every label ``(n_samples, n_labels)``."""
    X = np.asarray(X, dtype=np.float64)
    return np.stack([m.predict_proba(X)[:, 1] for m in models], axis=1)


def train_classical(
    data,
    out: str | os.PathLike,
    *,
    labels_file=None,
    C: float = 1.0,
    kernel: str = "rbf",
    head: str = "svm",
    embedding_model: str | os.PathLike | None = None,
    seed: int = 0,
    progress: bool = False,
) -> dict:
    """Extract features of a labelled dataset (stacked with ``embedding_model``'s embedding when
    given), fit one head per label, save the model to ``out`` (:func:`classical_file.save`).

    Returns
    -------
    dict
        The saved model: ``format``, ``labels``, ``feature_names``, ``sample_rate``, ``head``,
        ``embedding_model``, ``embedding_checksum``, ``models``, ``thresholds``,
        ``feature_variance``, ``metadata``; ``models`` are :class:`~classical_file.Head`\\ s.
    """
    from instrumentid.analysis.classical_features import SAMPLE_RATE, feature_variance
    from instrumentid.data.datasets import label_matrix, load_examples

    examples = load_examples(data, labels_file=labels_file)
    bundle = _embedding_bundle(embedding_model)
    X, kept, errors, names = stacked_features(
        examples, sample_rate=SAMPLE_RATE, embedding_bundle=bundle, progress=progress
    )
    if not kept:
        raise DataError(f"{data}: no file could be read (first error: {errors[0]['error'] if errors else '-'})")
    Y = label_matrix(kept, LABELS)
    model = {
        "format": classical_file.FORMAT,
        "format_version": classical_file.FORMAT_VERSION,
        "labels": list(LABELS),
        "feature_names": names,
        "sample_rate": SAMPLE_RATE,
        "head": head,
        "embedding_model": str(embedding_model) if embedding_model else None,
        "embedding_checksum": bundle.get("checksum") if bundle else None,
        "models": [classical_file.head_of(m) for m in fit_svms(X, Y, C=C, kernel=kernel, seed=seed, head=head)],
        "thresholds": [0.5] * len(LABELS),
        "feature_variance": feature_variance(X, names),
        "metadata": {
            "data": str(data),
            "n_files": len(kept),
            "errors": errors,
            "C": C,
            "kernel": kernel,
            "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "support": dict(zip(LABELS, map(int, Y.sum(axis=0)), strict=True)),
        },
    }
    classical_file.save(model, out)
    return model


def load_classical(path: str | os.PathLike) -> dict:
    """Load a model saved by :func:`train_classical`; a pickle (joblib) file is refused unread."""
    return classical_file.load(path)


def evaluate_classical(data, model_path, out, *, labels_file=None, plots: bool = True, progress: bool = False) -> dict:
    """Evaluate a classical model on labelled ``data``; writes the same outputs as ``evaluate``
    plus ``feature_variance.csv`` / ``plots/feature_variance.png`` and PCA / t-SNE plots of the
    features.
    """
    from instrumentid.data.datasets import label_matrix, load_examples
    from instrumentid.evaluation import plots as P
    from instrumentid.evaluation.evaluate import write_outputs

    model = load_classical(model_path)
    labels = model["labels"]
    examples = load_examples(data, labels_file=labels_file)
    bundle = _embedding_bundle(model.get("embedding_model"), model.get("embedding_checksum"))
    X, kept, errors, _ = stacked_features(
        examples, sample_rate=model["sample_rate"], embedding_bundle=bundle, progress=progress
    )
    if not kept:
        raise DataError(f"{data}: no file could be read (first error: {errors[0]['error'] if errors else '-'})")
    y_true = label_matrix(kept, labels)
    y_score = predict_proba(model["models"], X)
    name = f"classical-{model.get('head', 'svm')}" + ("-stacked" if model.get("embedding_model") else "")
    info = {
        "data": str(data),
        "model": str(model_path),
        "model_name": name,
        "aggregation": "none (whole-file features)",
        "threshold_source": "model",
        "n_files": len(kept),
        "n_errors": len(errors),
        "errors": errors,
    }
    out = Path(out)
    metrics = write_outputs(
        out,
        files=[str(e.path) for e in kept],
        y_true=y_true,
        y_score=y_score,
        thresholds=np.asarray(model["thresholds"]),
        labels=labels,
        info=info,
        plots=plots,
        title="instrumentid classical baseline (SVM) evaluation",
    )
    ranking = model["feature_variance"]
    with (out / "feature_variance.csv").open("w", encoding="utf-8") as handle:
        handle.write("feature,variance,scaled_variance\n")
        handle.writelines(f"{r['feature']},{r['variance']:.6g},{r['scaled_variance']:.6g}\n" for r in ranking)
    if plots:
        P.ranked_bars(
            [r["feature"] for r in ranking],
            [r["scaled_variance"] for r in ranking],
            out / "plots" / "feature_variance.png",
            title="Feature variance (training set, min-max scaled)",
            xlabel="variance of the [0, 1]-scaled feature",
        )
        if len(kept) >= 3:
            from instrumentid.analysis.embed import colour_categories, reduce_and_plot

            reduce_and_plot(X, colour_categories(kept), out / "plots", prefix="features_", standardize=True)
    return metrics
