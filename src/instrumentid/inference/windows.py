"""Windowing and aggregation: how any stream of audio becomes fixed-size analysis windows, and
how window scores become file scores. Core: no torch, used by prediction and training alike.

Windows of ``window`` samples every ``hop`` over the whole stream, read block by block (memory
does not grow with the stream's length). A stream shorter than one window is tiled (repeated)
to fill it — zero padding would feed the model silence it never heard in training — unless
the model takes any length. When the hops do not reach the end, one more window aligned to
the end covers the tail.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator

import numpy as np

from instrumentid.errors import ConfigError

#: How window scores become file scores (the bundle's ``aggregation``): ``mean``, ``max``,
#: ``topk`` (the mean of the best quarter of windows) and ``top3`` (the mean of the best three:
#: an instrument that plays clearly for three windows of a long file counts).
AGGREGATIONS = ("mean", "max", "topk", "top3")
#: The noise floor: a window whose RMS is below this many dBFS holds no instrument. It is left out
#: of a file's aggregation and of activity, and a file whose every window is below it names none
#: (``near-silent``; ``all-silent`` when its peak is digital silence, :data:`audio.SILENCE_PEAK`).
SILENCE_FLOOR_DBFS = -90.0
#: ... and so is a window more than this many dB below the file's loudest window: the gaps of a
#: quiet take stay out whatever the take's level. With both rules, and models that scale windows
#: (``level_dbfs``), a clean recording whose loudest window is above -60 dBFS RMS (a take peaking
#: at -50 dBFS) scores like the same recording at -1 dBFS.
RELATIVE_GATE_DB = 30.0


def tile(signal: np.ndarray, length: int) -> np.ndarray:
    """Repeat ``signal`` until it is ``length`` samples long (zeros for an empty signal)."""
    if signal.size == 0:
        return np.zeros(length, dtype=np.float32)
    reps = math.ceil(length / signal.size)
    return np.tile(signal, reps)[:length].astype(np.float32, copy=False)


def iter_windows(
    blocks: Iterable[np.ndarray], window: int, hop: int, *, tile_short: bool = True
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(start_sample, samples[window])`` over a stream of mono blocks.

    Regular windows start at 0, hop, 2·hop, … while they fit; then, if samples remain
    uncovered, one window aligned to the end; a stream shorter than ``window`` gives one
    window at 0: tiled to full length, or (``tile_short=False``, for models that take any
    length) the stream as it is. Only about ``window + block`` samples are held at a time.
    """
    if window <= 0 or hop <= 0:
        raise ConfigError("window and hop must be positive")
    buffer = np.zeros(0, dtype=np.float32)
    buffer_start = 0  # absolute index of buffer[0]
    next_start = 0
    last_end = 0
    for block in blocks:
        buffer = np.concatenate([buffer, np.asarray(block, dtype=np.float32)])
        while next_start + window <= buffer_start + buffer.size:
            offset = next_start - buffer_start
            yield next_start, buffer[offset : offset + window].copy()
            last_end = next_start + window
            next_start += hop
        keep_from = min(next_start, buffer_start + buffer.size - window)
        if keep_from > buffer_start:
            buffer = buffer[keep_from - buffer_start :]
            buffer_start = keep_from
    total = buffer_start + buffer.size
    if last_end == 0:
        yield 0, tile(buffer, window) if tile_short or buffer.size == 0 else buffer.copy()
    elif last_end < total:
        yield total - window, buffer[buffer.size - window :].copy()


def window_dbfs(windows: np.ndarray) -> np.ndarray:
    """RMS level in dBFS of each row of ``(n, samples)`` (``-inf`` for digital silence)."""
    wide = np.asarray(windows, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(np.mean(wide * wide, axis=-1))


def audible(levels_dbfs: np.ndarray) -> np.ndarray:
    """Which windows count: at or above :data:`SILENCE_FLOOR_DBFS` and within :data:`RELATIVE_GATE_DB`
    of the loudest window (levels of one file, in dBFS)."""
    levels = np.asarray(levels_dbfs, dtype=np.float64)
    if levels.size == 0:
        return np.zeros(0, dtype=bool)
    return (levels >= SILENCE_FLOOR_DBFS) & (levels >= np.max(levels) - RELATIVE_GATE_DB)


def aggregate(window_scores: np.ndarray, method: str = "mean", keep: np.ndarray | None = None) -> np.ndarray:
    """Window scores ``(n_windows, n_labels)`` → file scores ``(n_labels,)``.

    ``keep`` (booleans, one per window; :func:`audible`) leaves silent windows out, so silence
    never dilutes an instrument that plays; when no window is kept, all are used.
    """
    window_scores = np.asarray(window_scores, dtype=np.float32)
    if window_scores.ndim != 2 or window_scores.shape[0] == 0:
        raise ValueError("window_scores must have shape (n_windows >= 1, n_labels)")
    if keep is not None and np.any(keep):
        window_scores = window_scores[np.asarray(keep, dtype=bool)]
    if method == "mean":
        return window_scores.mean(axis=0)
    if method == "max":
        return window_scores.max(axis=0)
    if method == "topk":
        k = max(1, math.ceil(window_scores.shape[0] / 4))
        return np.sort(window_scores, axis=0)[-k:].mean(axis=0)
    if method == "top3":
        return np.sort(window_scores, axis=0)[-3:].mean(axis=0)
    raise ConfigError(f"unknown aggregation {method!r}; choose one of {', '.join(AGGREGATIONS)}")
