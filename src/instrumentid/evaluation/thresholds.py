"""Decision thresholds tuned on a labelled set: the tuners and the named rules that use them.

:func:`tune_thresholds` is pure numpy: each label's F1-optimal threshold. A **rule**
(:data:`RULES`, :func:`thresholds_by_rule`) is a named way of turning a labelled table of scores
into one threshold per label; ``tune-thresholds --rule NAME`` and the default model's recipe
call the same ones, so a rule has one definition:

* ``per-label`` -- each label's own F1-optimal threshold (:func:`tune_thresholds`);
* ``one-for-all`` -- one threshold for every label, the macro-F1-optimal one
  (:func:`one_for_all_threshold`);
* ``per-label-above-non-music`` and ``one-for-all-above-non-music`` -- the same, then raised
  :data:`NON_MUSIC_MARGIN` above the best score any non-music row got (the model must not name
  an instrument in speech or a dog); the per-label one also gives labels with fewer than
  :data:`MIN_POSITIVES` positives the one-for-all threshold, and never goes below
  :data:`MIN_PER_LABEL`.

:func:`nested_presence` judges a rule on sources it never saw (each fold decided by thresholds
tuned on the other folds). :func:`tune_bundle` runs a bundle's predictor over a labelled
dataset, applies a rule, and writes a new bundle whose ``thresholds`` are the tuned ones and
whose ``metadata["threshold_tuning"]`` records the set, the rule, the grid and the F1 before and
after. Never tune on the set you report: ``evaluate`` only applies the bundle's thresholds. The
comparison and the ranges thresholds obey live in :mod:`instrumentid.inference.decision`.
"""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from instrumentid.errors import ConfigError
from instrumentid.inference.decision import is_present

#: Names accepted by ``grid``.
GRIDS: tuple[str, ...] = ("coarse-to-fine", "coarse", "fine")
#: Coarse grid: 0.05, 0.10, ..., 0.95.
COARSE_GRID = np.round(np.arange(0.05, 0.951, 0.05), 4)


def f1_at_thresholds(y_true_column, y_score_column, thresholds) -> np.ndarray:
    """F1 of one label at each candidate threshold (0.0 when undefined), ``shape=(n_thresholds,)``."""
    truth = np.asarray(y_true_column).astype(bool)[:, None]
    predicted = is_present(np.asarray(y_score_column)[:, None], np.asarray(thresholds)[None, :])
    tp = np.logical_and(truth, predicted).sum(axis=0)
    denominator = truth.sum() + predicted.sum(axis=0)
    return np.where(denominator > 0, 2.0 * tp / np.maximum(denominator, 1), 0.0)


def _best(candidates: np.ndarray, scores: np.ndarray, default: float) -> tuple[float, float]:
    """Best threshold (ties: closest to ``default``) and its F1."""
    top = scores.max()
    tied = candidates[np.isclose(scores, top, rtol=0, atol=1e-12)]
    return float(tied[np.argmin(np.abs(tied - default))]), float(top)


def tune_thresholds(
    y_true,
    y_score,
    *,
    grid: str = "coarse-to-fine",
    default: float = 0.5,
    fine_step: float = 0.005,
) -> np.ndarray:
    """Per-label thresholds that maximise that label's F1.

    Parameters
    ----------
    y_true : array-like, shape (n_samples, n_labels)
        0/1 ground truth of the validation set.
    y_score : array-like, shape (n_samples, n_labels)
        Scores of the same samples.
    grid : {"coarse-to-fine", "coarse", "fine"}
        ``coarse`` searches 0.05..0.95 in steps of 0.05; ``coarse-to-fine`` then refines in
        steps of ``fine_step`` within ±0.05 of the coarse optimum; ``fine`` searches
        0.01..0.99 in steps of ``fine_step``.
    default : float
        Threshold kept for a label with no positives (its F1 is 0 whatever the threshold);
        also the tie-breaker (the tied threshold closest to it wins).
    fine_step : float
        Step of the fine search.

    Returns
    -------
    numpy.ndarray, shape (n_labels,)
        float64 thresholds in (0, 1).
    """
    if grid not in GRIDS:
        raise ConfigError(f"the threshold grid must be one of {', '.join(GRIDS)}, not {grid!r}")
    if not 0 < fine_step < 0.05:
        raise ConfigError(f"fine_step must be in (0, 0.05), not {fine_step}")
    y_true = np.asarray(y_true)
    y_score = np.asarray(y_score, dtype=np.float64)
    if y_true.shape != y_score.shape or y_true.ndim != 2:
        raise ValueError(f"y_true {y_true.shape} and y_score {y_score.shape} must be equal 2-D shapes")
    thresholds = np.full(y_true.shape[1], float(default))
    for j in range(y_true.shape[1]):
        if y_true[:, j].sum() == 0:
            continue
        if grid == "fine":
            candidates = np.round(np.arange(0.01, 0.99 + 1e-9, fine_step), 6)
        else:
            candidates = COARSE_GRID
        best, _ = _best(candidates, f1_at_thresholds(y_true[:, j], y_score[:, j], candidates), default)
        if grid == "coarse-to-fine":
            fine = np.round(np.arange(best - 0.05, best + 0.05 + 1e-9, fine_step), 6)
            fine = fine[(fine > 0) & (fine < 1)]
            best, _ = _best(fine, f1_at_thresholds(y_true[:, j], y_score[:, j], fine), best)
        thresholds[j] = best
    return thresholds


#: Grid of the one-for-all search: 0.05, 0.06, ..., 0.95.
ONE_FOR_ALL_GRID = np.round(np.arange(0.05, 0.951, 0.01), 3)
#: Positives a label needs before ``per-label-above-non-music`` tunes its threshold on its own:
#: with fewer, an F1 optimum is fitted to a handful of files, so it takes the one-for-all threshold.
MIN_POSITIVES = 5
#: ``*-above-non-music`` thresholds sit at least this far above the best score of any non-music row.
NON_MUSIC_MARGIN = 0.02
#: No ``per-label-above-non-music`` threshold below this: lower F1-optimal values come from
#: isolated notes and rendered audio, where AudioSet scores run low; on recorded music they would
#: pass cross-talk between instruments (measured by the default model's recipe on its real
#: files: macro-F1 0.538 -> 0.506, the price of the floor).
MIN_PER_LABEL = 0.10
#: Highest threshold the ``*-above-non-music`` rules keep, and the lowest the one-for-all one keeps:
#: a non-music row that scores above 0.95 does not make a label unusable.
ABOVE_NON_MUSIC_RANGE = (0.05, 0.95)


def one_for_all_threshold(y_true, y_score) -> float:
    """The one threshold (:data:`ONE_FOR_ALL_GRID`) with the best F1 averaged over the labels that
    have positives (0.5 when none has): one number fitted on every label's rows at once is harder to
    overfit than a label's own when positives are few."""
    y_true, y_score = _table(y_true, y_score)
    present = np.flatnonzero(y_true.sum(0) > 0)
    if not len(present):
        return 0.5
    grid = ONE_FOR_ALL_GRID
    macro = np.mean([f1_at_thresholds(y_true[:, j], y_score[:, j], grid) for j in present], axis=0)
    return float(grid[int(np.argmax(macro))])


def non_music_rows(y_true) -> np.ndarray:
    """Rows with no label at all (an all-zero label row): the non-music a table knows of when it is
    told nothing else. A caller that knows better (a bass note has no label but is music) passes
    its own mask to the ``*-above-non-music`` rules."""
    return ~np.asarray(y_true).astype(bool).any(axis=1)


def _table(y_true, y_score) -> tuple[np.ndarray, np.ndarray]:
    """Both as arrays of equal 2-D shape; the scores keep their dtype (a float32 table's non-music
    floor is computed in float32, as the shipped default's thresholds were)."""
    y_true = np.asarray(y_true)
    y_score = np.asarray(y_score)
    if y_true.shape != y_score.shape or y_true.ndim != 2:
        raise ValueError(f"y_true {y_true.shape} and y_score {y_score.shape} must be equal 2-D shapes")
    return y_true, y_score


def _per_label(y_true, y_score, non_music, primary, grid) -> np.ndarray:
    return tune_thresholds(y_true, y_score, grid=grid)


def _one_for_all(y_true, y_score, non_music, primary, grid) -> np.ndarray:
    return np.full(y_true.shape[1], one_for_all_threshold(y_true, y_score))


def _per_label_above_non_music(y_true, y_score, non_music, primary, grid) -> np.ndarray:
    """A label's own optimum only where enough positives back it (among the primary rows if they
    suffice); never below what non-music scored, so speech or a dog names no instrument."""
    on_primary = tune_thresholds(y_true[primary], y_score[primary], grid=grid)
    on_all = tune_thresholds(y_true, y_score, grid=grid)
    shared = one_for_all_threshold(y_true, y_score)
    thresholds = np.where(
        y_true[primary].sum(0) >= MIN_POSITIVES,
        on_primary,
        np.where(y_true.sum(0) >= MIN_POSITIVES, on_all, shared),
    )
    if non_music.any():
        thresholds = np.maximum(thresholds, y_score[non_music].max(0) + NON_MUSIC_MARGIN)
    return np.clip(thresholds, MIN_PER_LABEL, ABOVE_NON_MUSIC_RANGE[1])


def _one_for_all_above_non_music(y_true, y_score, non_music, primary, grid) -> np.ndarray:
    """One threshold above every non-music score on every label: one number is the hardest to
    overfit, and no label fires on what has no instrument."""
    best = one_for_all_threshold(y_true, y_score)
    floor = float(y_score[non_music].max()) + NON_MUSIC_MARGIN if non_music.any() else 0.0
    return np.full(y_true.shape[1], float(np.clip(max(best, floor), *ABOVE_NON_MUSIC_RANGE)))


@dataclass(frozen=True)
class ThresholdRule:
    """A named way of turning a labelled table of scores into one threshold per label."""

    #: What the rule does, in a sentence or two (``tune-thresholds --help`` shows it).
    summary: str
    tune: Callable[..., np.ndarray]
    #: Whether the rule keeps above the non-music rows (without any, it has nothing to keep above).
    uses_non_music: bool = False


#: The rules by name; ``per-label`` is what ``tune-thresholds`` applies unless told otherwise.
RULES: dict[str, ThresholdRule] = {
    "per-label": ThresholdRule(
        "each label's own F1-optimal threshold; a label without positives keeps 0.5",
        _per_label,
    ),
    "one-for-all": ThresholdRule(
        "one threshold for every label, the one with the best macro-F1 (0.05..0.95 in steps of 0.01); "
        "steadier than per-label when positives are few",
        _one_for_all,
    ),
    "per-label-above-non-music": ThresholdRule(
        f"per-label for labels with at least {MIN_POSITIVES} positives, one-for-all for the others; "
        f"then each raised {NON_MUSIC_MARGIN} above the best score any non-music file (no label at all) "
        f"got, and kept within {MIN_PER_LABEL}..{ABOVE_NON_MUSIC_RANGE[1]}",
        _per_label_above_non_music,
        uses_non_music=True,
    ),
    "one-for-all-above-non-music": ThresholdRule(
        f"one-for-all, then raised {NON_MUSIC_MARGIN} above the best score any non-music file (no label "
        f"at all) got on any label, kept within {ABOVE_NON_MUSIC_RANGE[0]}..{ABOVE_NON_MUSIC_RANGE[1]}",
        _one_for_all_above_non_music,
        uses_non_music=True,
    ),
}
#: The rule ``tune-thresholds`` applies unless told otherwise.
DEFAULT_RULE = "per-label"


def check_rule(rule: str) -> str:
    """``rule`` when it names one of :data:`RULES`; else a :class:`ConfigError` listing them."""
    if rule not in RULES:
        raise ConfigError(f"unknown threshold rule {rule!r}: one of {', '.join(RULES)}")
    return rule


def thresholds_by_rule(
    rule: str,
    y_true,
    y_score,
    *,
    non_music=None,
    primary_rows=None,
    grid: str = "coarse-to-fine",
) -> np.ndarray:
    """Thresholds, ``shape=(n_labels,)``, by the rule named ``rule`` (:data:`RULES`).

    Parameters
    ----------
    y_true, y_score : array-like, shape (n_samples, n_labels)
        0/1 ground truth and scores of the tuning set.
    non_music : array-like of bool, shape (n_samples,), optional
        Rows the ``*-above-non-music`` rules keep thresholds above (default: :func:`non_music_rows`,
        the rows with no label).
    primary_rows : array-like of bool, shape (n_samples,), optional
        Rows ``per-label-above-non-music`` tunes a label on when it has :data:`MIN_POSITIVES`
        positives among them; the other rows (rendered audio, say) only help labels scarce there.
        Default: every row.
    grid : str
        Search of the per-label tuning (:func:`tune_thresholds`).
    """
    check_rule(rule)
    y_true, y_score = _table(y_true, y_score)
    non_music = non_music_rows(y_true) if non_music is None else np.asarray(non_music, dtype=bool)
    primary = np.ones(len(y_true), dtype=bool) if primary_rows is None else np.asarray(primary_rows, dtype=bool)
    if non_music.shape != (len(y_true),) or primary.shape != (len(y_true),):
        raise ValueError(f"row masks must have one entry per row ({len(y_true)})")
    return RULES[rule].tune(y_true, y_score, non_music, primary, grid)


def nested_presence(rule: str, y_true, y_score, folds, *, non_music=None) -> np.ndarray:
    """Presence decided for each fold by the thresholds ``rule`` tuned on the other folds only.

    What a rule is worth on sources it never saw: tuning and scoring the same rows rewards
    thresholds fitted to a few sources; this does not. ``folds`` gives each row's fold (a source
    should sit in one fold only).
    """
    y_true, y_score = _table(y_true, y_score)
    folds = np.asarray(folds)
    non_music = non_music_rows(y_true) if non_music is None else np.asarray(non_music, dtype=bool)
    present = np.zeros(y_true.shape, dtype=bool)
    for fold in np.unique(folds):
        out = folds == fold
        tuned = thresholds_by_rule(rule, y_true[~out], y_score[~out], non_music=non_music[~out])
        present[out] = is_present(y_score[out], tuned)
    return present


def tune_bundle(
    data: str | os.PathLike,
    model: str | os.PathLike | None,
    out: str | os.PathLike,
    *,
    labels_file: str | os.PathLike | None = None,
    grid: str = "coarse-to-fine",
    aggregation: str | None = None,
    rule: str = DEFAULT_RULE,
) -> dict:
    """Tune thresholds of bundle ``model`` on dataset ``data`` by ``rule`` (:data:`RULES`) and save
    a new bundle to ``out``. The ``*-above-non-music`` rules keep above the files with no label.

    Returns
    -------
    dict
        ``{"thresholds": {code: t}, "f1_before": {...}, "f1_after": {...}, "f1_macro_before",
        "f1_macro_after", "f1_micro_before", "f1_micro_after", "rule", "non_music_files", "out"}``
        (``non_music_files``: the files with no label, what the ``*-above-non-music`` rules keep above).
    """
    from instrumentid.evaluation.evaluate import collect_scores
    from instrumentid.evaluation.metrics import compute_metrics
    from instrumentid.inference.bundle import save_bundle
    from instrumentid.inference.predictor import Predictor

    check_rule(rule)
    predictor = Predictor.from_bundle(model, runtime="torch")
    collected = collect_scores(predictor, data, labels_file=labels_file, aggregation=aggregation, windows=False)
    y_true, y_score = collected["y_true"], collected["y_score"]
    labels = list(predictor.labels)
    before = np.asarray(predictor.thresholds, dtype=np.float64)
    tuned = thresholds_by_rule(rule, y_true, y_score, grid=grid)
    m_before = compute_metrics(y_true, y_score, before, labels)
    m_after = compute_metrics(y_true, y_score, tuned, labels)
    result = {
        "thresholds": dict(zip(labels, map(float, tuned), strict=True)),
        "f1_before": {code: m_before["per_label"][code]["f1"] for code in labels},
        "f1_after": {code: m_after["per_label"][code]["f1"] for code in labels},
        "f1_macro_before": m_before["f1_macro"],
        "f1_macro_after": m_after["f1_macro"],
        "f1_micro_before": m_before["f1_micro"],
        "f1_micro_after": m_after["f1_micro"],
        "rule": rule,
        "non_music_files": int(non_music_rows(y_true).sum()),
        "out": str(out),
    }
    bundle = dict(predictor.bundle)
    bundle["thresholds"] = [float(t) for t in tuned]
    metadata = dict(bundle.get("metadata") or {})
    metadata["threshold_tuning"] = {
        "data": str(Path(data).resolve()),
        "labels_file": str(Path(labels_file).resolve()) if labels_file else None,
        "n_files": int(y_true.shape[0]),
        "rule": rule,
        "non_music_files": result["non_music_files"],
        "grid": grid,
        "aggregation": collected["aggregation"],
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "f1_macro": m_after["f1_macro"],
        "f1_micro": m_after["f1_micro"],
        "f1_per_label": result["f1_after"],
        "f1_macro_before": m_before["f1_macro"],
        "previous_thresholds": [float(t) for t in before],
    }
    bundle["metadata"] = metadata
    save_bundle(bundle, out)
    return result
