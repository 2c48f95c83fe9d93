"""Combine trained bundles into one ensemble bundle (``instrumentid ensemble``).

>>> bundle = assemble(["cnn.iid", "lstm.iid"])                          # plain mean
>>> bundle = assemble(["cnn.iid", "lstm.iid"], val_data="val.csv")      # weights fitted per label
>>> save_bundle(bundle, "ensemble.iid")   # then: instrumentid predict song.wav --model ensemble.iid

Members must share the label set and the analysis window (``window_s``, ``hop_s``): the
ensemble scores each window once, with every member. Their front-ends and sample rates may
differ (:mod:`instrumentid.models.ensemble` holds the model and the bundle layout).

Weights are one number per member and label, normalised per label. With a validation set they
minimise the binary cross-entropy of the weighted mean of the members' file scores, per label
(a label with a single class in the set keeps equal weights), and the thresholds are tuned on
the ensemble's own scores of that set; otherwise thresholds are the weighted mean of the
members' thresholds.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping, Sequence

import numpy as np
import torch

from instrumentid import __version__
from instrumentid.errors import ConfigError
from instrumentid.inference.bundle import load_bundle, make_bundle
from instrumentid.inference.contract import BundleInfo
from instrumentid.inference.decision import clip_tuned

EPS = 1e-7


def _check_members(bundles: Sequence[Mapping], names: Sequence[str]) -> None:
    if len(bundles) < 2:
        raise ConfigError("an ensemble needs at least two bundles")
    infos = [BundleInfo.of(bundle) for bundle in bundles]
    first, first_name = infos[0], names[0]
    for about, name in zip(infos[1:], names[1:], strict=True):
        if about.labels != first.labels:
            raise ConfigError(f"{name} predicts other labels than {first_name}; ensemble members share one label set")
        if (about.window_s, about.hop_s) != (first.window_s, first.hop_s):
            raise ConfigError(
                f"{name} analyses {about.window_s:g}-s windows every {about.hop_s:g} s and "
                f"{first_name} {first.window_s:g} s every {first.hop_s:g} s; "
                "ensemble members share window_s and hop_s"
            )


def _aggregation(bundles: Sequence[Mapping], aggregation: str | None) -> str:
    """The ensemble's window aggregation: the one asked for, or the members' when they agree."""
    if aggregation:
        return aggregation
    found = {BundleInfo.of(b).aggregation for b in bundles}
    if len(found) > 1:
        raise ConfigError(
            f"the bundles aggregate windows differently ({', '.join(sorted(found))}); choose one for the ensemble",
            option="aggregation",
        )
    return found.pop()


def _weight_matrix(weights, n_members: int, n_labels: int) -> np.ndarray:
    """One weight per member (broadcast over labels) or per member and label, normalised per label."""
    matrix = np.ones((n_members, n_labels)) if weights is None else np.asarray(weights, dtype=np.float64)
    if matrix.ndim == 1:
        matrix = np.repeat(matrix[:, None], n_labels, axis=1)
    if matrix.shape != (n_members, n_labels) or (matrix < 0).any() or (matrix.sum(axis=0) <= 0).any():
        raise ConfigError(f"give {n_members} non-negative weights (one per bundle), not all zero")
    return matrix / matrix.sum(axis=0, keepdims=True)


def make_ensemble(
    bundles: Sequence[Mapping],
    *,
    names: Sequence[str] | None = None,
    weights=None,
    aggregation: str | None = None,
    thresholds=None,
    metadata: Mapping | None = None,
) -> dict:
    """The ensemble bundle of ``bundles`` (dicts as :func:`~instrumentid.inference.bundle.load_bundle` returns)."""
    names = list(names or [f"member {i}" for i in range(len(bundles))])
    _check_members(bundles, names)
    labels = list(bundles[0]["labels"])
    matrix = _weight_matrix(weights, len(bundles), len(labels))
    if thresholds is None:
        thresholds = (matrix * np.asarray([b["thresholds"] for b in bundles], dtype=np.float64)).sum(axis=0)
    rate = max(int(b["sample_rate"]) for b in bundles)
    members = [
        {
            "model": dict(b["model"]),
            "features": dict(b["features"]),
            "normalization": dict(b["normalization"]),
            "sample_rate": int(b["sample_rate"]),
        }
        for b in bundles
    ]
    state = {f"members.{i}.{key}": value for i, b in enumerate(bundles) for key, value in b["state_dict"].items()}
    bundle = make_bundle(
        model_name="ensemble",
        model_params={"members": members, "weights": matrix.tolist(), "sample_rate": rate, "n_labels": len(labels)},
        state_dict=state,
        sample_rate=rate,
        window_s=bundles[0]["window_s"],
        hop_s=bundles[0]["hop_s"],
        features={"name": "waveform", "sample_rate": rate},
        normalization={"mean": 0.0, "std": 1.0},
        labels=labels,
        thresholds=clip_tuned(thresholds),
        aggregation=_aggregation(bundles, aggregation),
        metadata={
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "instrumentid_version": __version__,
            "recipe": "instrumentid ensemble",
            "ensemble_of": names,
            **(metadata or {}),
        },
    )
    shortest = [float(b["min_duration_s"]) for b in bundles if "min_duration_s" in b]  # only when a member says it
    if shortest:
        bundle["min_duration_s"] = max(shortest)
    return bundle


def fit_weights(member_scores: np.ndarray, targets: np.ndarray, *, steps: int = 300, lr: float = 0.05) -> np.ndarray:
    """Per-label convex weights ``(members, labels)`` minimising the BCE of the weighted mean of
    ``member_scores`` ``(members, files, labels)`` against 0/1 ``targets`` ``(files, labels)``."""
    scores = torch.as_tensor(np.asarray(member_scores), dtype=torch.float64).clamp(EPS, 1 - EPS)
    y = torch.as_tensor(np.asarray(targets), dtype=torch.float64)
    theta = torch.zeros(scores.shape[0], scores.shape[2], dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.Adam([theta], lr=lr)
    for _ in range(steps):
        mixed = (torch.softmax(theta, dim=0)[:, None, :] * scores).sum(dim=0).clamp(EPS, 1 - EPS)
        loss = -(y * mixed.log() + (1 - y) * (1 - mixed).log()).mean(dim=0).sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    weights = torch.softmax(theta.detach(), dim=0).numpy()
    positives = y.sum(dim=0).numpy()
    uninformative = (positives == 0) | (positives == len(y))
    weights[:, uninformative] = 1.0 / scores.shape[0]
    return weights


def assemble(
    models: Sequence[str | os.PathLike],
    *,
    weights=None,
    val_data=None,
    labels_file=None,
    aggregation: str | None = None,
    progress: bool = False,
) -> dict:
    """Load bundles (paths or bundled names) and make their ensemble; ``val_data`` fits the weights
    and tunes the thresholds (see the module docstring)."""
    from instrumentid.data.datasets import load_examples
    from instrumentid.evaluation.evaluate import collect_scores
    from instrumentid.evaluation.thresholds import tune_thresholds
    from instrumentid.inference.predictor import Predictor

    bundles = [load_bundle(m) for m in models]
    names = [str(m) for m in models]
    if val_data is None:
        return make_ensemble(
            bundles,
            names=names,
            weights=weights,
            aggregation=aggregation,
            metadata={"weights": "given" if weights is not None else "equal"},
        )
    if weights is not None:
        raise ConfigError("give either weights or a validation set to fit them on, not both")
    examples = load_examples(val_data, labels_file=labels_file)
    _check_members(bundles, names)
    method = _aggregation(bundles, aggregation)
    scored = [
        collect_scores(Predictor(b), examples, aggregation=method, windows=False, progress=progress) for b in bundles
    ]
    common = set.intersection(*(set(s["files"]) for s in scored))
    rows = [[s["files"].index(f) for f in sorted(common)] for s in scored]
    member_scores = np.stack([s["y_score"][r] for s, r in zip(scored, rows, strict=True)])
    fitted = fit_weights(member_scores, scored[0]["y_true"][rows[0]])
    bundle = make_ensemble(
        bundles,
        names=names,
        weights=fitted,
        aggregation=method,
        metadata={"weights": f"fitted on {val_data} ({len(common)} files)"},
    )
    own = collect_scores(Predictor(bundle), examples, windows=False, progress=progress)
    bundle["thresholds"] = [float(t) for t in clip_tuned(tune_thresholds(own["y_true"], own["y_score"]))]
    bundle["metadata"]["thresholds_tuned_on"] = str(val_data)
    return bundle
