"""The classical model's file: arrays and JSON, so loading one can never run code (issue 17).

A fitted head (scaler + SVM, calibrated or not, or a logistic regression) is reduced to the
numbers that compute its probability, a :class:`Head`; the file is an ``.npz`` archive read with
``allow_pickle=False``: one ``header`` array holding UTF-8 JSON (format, version, labels,
thresholds, metadata, each head's scalars) and each head's arrays under ``<label index>.<name>``.
A pickle or joblib file (what instrumentid wrote before) is refused unread: unpickling a shared
file runs whatever code it names.
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from instrumentid.errors import DataError
from instrumentid.fileio import atomic_path

FORMAT = "instrumentid-classical"
#: 1 was a joblib pickle (refused); 2 is this archive.
FORMAT_VERSION = 2
KERNELS = ("linear", "rbf", "poly", "sigmoid")
ARRAYS = ("mean", "scale", "vectors", "dual")


@dataclass
class Head:
    """One label's probability from a file's feature vector ``x``, as plain numbers.

    ``z = (x - mean) / scale``; ``f = dual · K(vectors, z) + intercept``; ``p = expit(slope·f + offset)``,
    or ``p = constant`` for a label seen with one class only. An SVC keeps its support vectors and
    dual coefficients (Platt calibration: ``slope = -a``, ``offset = -b``); a logistic regression is
    the linear kernel with its coefficients as the one vector.
    """

    mean: np.ndarray = field(default_factory=lambda: np.zeros(0))
    scale: np.ndarray = field(default_factory=lambda: np.ones(0))
    vectors: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    dual: np.ndarray = field(default_factory=lambda: np.zeros(0))
    intercept: float = 0.0
    slope: float = 1.0
    offset: float = 0.0
    kernel: str = "linear"
    gamma: float = 1.0
    coef0: float = 0.0
    degree: int = 3
    constant: float | None = None

    def decision(self, X: np.ndarray) -> np.ndarray:
        """The SVM's (or linear model's) decision value of each row of ``X``."""
        z = (np.asarray(X, dtype=np.float64) - self.mean) / self.scale
        dot = z @ self.vectors.T
        if self.kernel == "linear":
            gram = dot
        elif self.kernel == "rbf":
            squared = (z * z).sum(axis=1)[:, None] - 2 * dot + (self.vectors * self.vectors).sum(axis=1)[None, :]
            gram = np.exp(-self.gamma * np.maximum(squared, 0.0))
        elif self.kernel == "poly":
            gram = (self.gamma * dot + self.coef0) ** self.degree
        else:
            gram = np.tanh(self.gamma * dot + self.coef0)
        return gram @ self.dual + self.intercept

    def predict_proba(self, X) -> np.ndarray:
        """``(n, 2)``: probabilities of absent and present, as scikit-learn gives them."""
        if self.constant is not None:
            p = np.full(len(X), float(self.constant))
        else:
            p = 1.0 / (1.0 + np.exp(-(self.slope * self.decision(X) + self.offset)))
        return np.stack([1 - p, p], axis=1)


class ConstantProbability:
    """Stands in for a label seen with one class only: always predicts that class' probability."""

    def __init__(self, value: float) -> None:
        self.value = float(value)

    def predict_proba(self, X) -> np.ndarray:
        p = np.full(len(X), self.value)
        return np.stack([1 - p, p], axis=1)


class DecisionSigmoid:
    """An SVC whose decision value is squashed by a logistic (used when a label has too few
    positives for cross-validated calibration)."""

    def __init__(self, pipeline) -> None:
        self.pipeline = pipeline

    def predict_proba(self, X) -> np.ndarray:
        p = 1.0 / (1.0 + np.exp(-2.0 * self.pipeline.decision_function(X)))
        return np.stack([1 - p, p], axis=1)


def head_of(fitted) -> Head:
    """The :class:`Head` computing what a head of :func:`~instrumentid.analysis.classical.fit_svms` computes."""
    if isinstance(fitted, ConstantProbability):
        return Head(constant=fitted.value)
    slope, offset = 1.0, 0.0
    if isinstance(fitted, DecisionSigmoid):
        fitted, slope = fitted.pipeline, 2.0
    scaler, final = fitted.steps[0][1], fitted.steps[-1][1]
    common = {"mean": scaler.mean_.astype(np.float64), "scale": scaler.scale_.astype(np.float64)}
    if hasattr(final, "coef_") and not hasattr(final, "support_vectors_"):  # logistic regression
        return Head(
            **common, vectors=final.coef_.astype(np.float64), dual=np.ones(1), intercept=float(final.intercept_[0])
        )
    if hasattr(final, "calibrated_classifiers_"):
        calibrated = final.calibrated_classifiers_[0]
        final, sigmoid = calibrated.estimator, calibrated.calibrators[0]
        slope, offset = -float(sigmoid.a_), -float(sigmoid.b_)
    return Head(
        **common,
        vectors=final.support_vectors_.astype(np.float64),
        dual=final.dual_coef_[0].astype(np.float64),
        intercept=float(final.intercept_[0]),
        slope=slope,
        offset=offset,
        kernel=final.kernel,
        gamma=float(final._gamma),
        coef0=float(final.coef0),
        degree=int(final.degree),
    )


def save(model: dict, path: str | os.PathLike) -> None:
    """Write ``model`` (its ``models`` are :class:`Head`\\ s) to ``path`` atomically."""
    arrays, scalars = {}, []
    for i, head in enumerate(model["models"]):
        values = asdict(head)
        arrays.update({f"{i}.{name}": values.pop(name) for name in ARRAYS})
        scalars.append(values)
    header = {**{k: v for k, v in model.items() if k != "models"}, "heads": scalars}
    arrays["header"] = np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)
    with atomic_path(path) as tmp, tmp.open("wb") as handle:
        np.savez_compressed(handle, **arrays)


def load(path: str | os.PathLike) -> dict:
    """The model saved by :func:`save`; :class:`DataError` in one line for anything else, pickles unread."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: classical model not found")
    if not zipfile.is_zipfile(path):
        raise DataError(_not_ours(path))
    try:
        with np.load(path, allow_pickle=False) as archive:
            header = json.loads(archive["header"].tobytes().decode("utf-8"))
            if not isinstance(header, dict) or header.get("format") != FORMAT:
                raise DataError(_not_ours(path))
            if header.get("format_version") != FORMAT_VERSION:
                raise DataError(
                    f"{path}: classical model format {header.get('format_version')} is not the "
                    f"{FORMAT_VERSION} this instrumentid reads; retrain it with 'instrumentid classical train'"
                )
            heads = [
                _head(header["heads"][i], {a: archive[f"{i}.{a}"] for a in ARRAYS})
                for i in range(len(header["labels"]))
            ]
    except (KeyError, IndexError, TypeError, ValueError, OSError, zipfile.BadZipFile) as exc:
        raise DataError(
            f"{path}: damaged classical model ({type(exc).__name__}: {str(exc)[:200]}); retrain it"
        ) from None
    header.pop("heads")
    return {**header, "models": heads}


def _head(scalars: dict, arrays: dict) -> Head:
    """A head from its file entries, its shapes checked so a bad file fails here and not mid-evaluation."""
    head = Head(**scalars, **{name: np.asarray(value, dtype=np.float64) for name, value in arrays.items()})
    if head.kernel not in KERNELS:
        raise ValueError(f"unknown kernel {head.kernel!r}")
    if head.constant is None and (
        head.vectors.ndim != 2
        or head.vectors.shape[0] != head.dual.shape[0]
        or not head.vectors.shape[1] == head.mean.shape[0] == head.scale.shape[0]
    ):
        raise ValueError("the arrays of a head do not fit together")
    return head


def _not_ours(path: Path) -> str:
    """Why a file that is not a classical-model archive is refused, and what to do."""
    with path.open("rb") as handle:
        start = handle.read(2)
    if start[:1] == b"\x80" or path.suffix.lower() in (".joblib", ".pkl", ".pickle"):
        return (
            f"{path}: a pickle (joblib) classical model, refused because loading it could run code; "
            "retrain it with 'instrumentid classical train'"
        )
    return f"{path}: not an instrumentid classical model (made by 'instrumentid classical train'); retrain it"
