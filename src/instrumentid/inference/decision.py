"""Decision thresholds: the one comparison and the one set of ranges.

A label is **present** when its score is at or above its threshold, ``score >= threshold``
(:func:`is_present`); the predict record, the metrics and the label-issue suggestions all
decide through it. Tuning them is :mod:`instrumentid.evaluation.thresholds`.

Ranges, and why they differ:

* **an override** -- ``predict --threshold``, ``evaluate --threshold``, the server's
  ``threshold=``, ``Predictor.predict_file(threshold=)``: ``[0, 1]``
  (:data:`OVERRIDE_RANGE`, :func:`check_threshold`). 0 names every label and 1 only a perfect
  score; odd, but a deliberate choice the user can make for one run.
* **a bundle's per-label thresholds**: ``(0, 1)``, ends excluded (:func:`check_bundle_thresholds`).
  A stored 0 or 1 would make a label present always or never, whatever the audio: never a
  sound model, so a bundle carrying one is refused.
* **thresholds ``train`` tunes** and those ``ensemble`` derives (the members' weighted mean, or
  tuned on a validation set): clipped to :data:`TUNED_RANGE`, ``[0.02, 0.98]``, inside the
  bundle's range (:func:`clip_tuned`). The validation set of a training run can be small; an
  optimum at the grid's edge there (0.005, 0.995) is fitted to a handful of files and would
  name an instrument in nearly everything (or nothing) on new audio. ``tune-thresholds``, which a user
  runs on a set they chose, keeps its result as tuned.

Pure numpy: the torch-free predictor and the ONNX path use it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from instrumentid.errors import BundleError, ConfigError

#: Inclusive range of a threshold given for one run (CLI flag, server query, API argument).
OVERRIDE_RANGE = (0.0, 1.0)
#: Inclusive range ``train`` and ``ensemble`` clip the thresholds they write to (:func:`clip_tuned`).
TUNED_RANGE = (0.02, 0.98)


def is_present(scores, thresholds) -> np.ndarray:
    """``scores >= thresholds`` as booleans; ``thresholds`` broadcasts (a scalar, or one per label
    along the last axis of ``scores``)."""
    return np.asarray(scores, dtype=np.float64) >= np.asarray(thresholds, dtype=np.float64)


def check_threshold(value: float, where: str) -> float:
    """``value`` as a float when it lies in :data:`OVERRIDE_RANGE`; else a :class:`ConfigError`
    naming ``where`` (the flag or field, e.g. ``"--threshold"``)."""
    low, high = OVERRIDE_RANGE
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where} must be a number between {low:g} and {high:g}, got {value!r}") from None
    if not low <= number <= high:  # NaN fails this too
        raise ConfigError(f"{where} must be between {low:g} and {high:g}, got {value}")
    return number


def check_bundle_thresholds(thresholds: Sequence[float], labels: Sequence[str], where: str) -> None:
    """Raise :class:`BundleError` unless there is one threshold per label, each strictly between 0 and 1."""
    if len(thresholds) != len(labels):
        raise BundleError(f"{where}: {len(thresholds)} thresholds for {len(labels)} labels")
    outside = [(code, t) for code, t in zip(labels, thresholds, strict=True) if not 0.0 < float(t) < 1.0]
    if outside:
        code, t = outside[0]
        raise BundleError(f"{where}: thresholds must lie strictly between 0 and 1 ({code}: {float(t):g})")


def clip_tuned(thresholds) -> np.ndarray:
    """Tuned thresholds clipped to :data:`TUNED_RANGE` (see the module docstring for why)."""
    return np.clip(np.asarray(thresholds, dtype=np.float64), *TUNED_RANGE)
