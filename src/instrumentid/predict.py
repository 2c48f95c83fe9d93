"""The one predictor: chunk any file into windows, score them in batches, aggregate.

The CLI, the Python API, evaluation and the server all call :class:`Predictor`, so a number
seen in ``evaluate`` is the number ``predict`` gives.

Windowing: windows of ``window_s`` every ``hop_s`` over the whole file, read as a stream of
blocks (memory does not grow with the file's length). A file shorter than one window is tiled
(repeated) to fill it — zero padding would feed the model silence it never heard in
training. When the hops do not reach the end, one more window aligned to the end of the file
covers the tail. Window scores are aggregated into file scores with ``mean``, ``max`` or
``topk`` (mean of the top quarter of windows).
"""

from __future__ import annotations

import math
import os
import queue
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
import torch

from instrumentid import audio, schema
from instrumentid.bundle import AGGREGATIONS, build_model, load_bundle
from instrumentid.errors import AudioError, ConfigError, InstrumentIdError
from instrumentid.features import build_frontend

#: Shortest audio a prediction is made for: below it there is no timbre to judge (a 0.1-s
#: stroke is about 10 spectrogram frames).
MIN_DURATION_S = 0.1
#: Audio whose overall RMS is below this (dBFS) is treated as silence: no instrument is named.
QUIET_DBFS = -60.0


class SignalLevel:
    """Watches the blocks of a stream go by: length, peak and RMS, so nothing is decoded twice.

    ``silent`` (peak at or below :data:`audio.SILENCE_PEAK`, or RMS below :data:`QUIET_DBFS`)
    means the predictor names no instrument and says why in the record's ``warnings``.
    """

    def __init__(self, sample_rate: int) -> None:
        self.sample_rate = sample_rate
        self.samples, self.peak, self.energy = 0, 0.0, 0.0

    def watch(self, blocks: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        for block in blocks:
            block = np.asarray(block, dtype=np.float32)
            if block.size:
                self.samples += block.size
                self.peak = max(self.peak, float(np.max(np.abs(block))))
                self.energy += float(np.dot(block.astype(np.float64), block.astype(np.float64)))
            yield block

    @property
    def duration_s(self) -> float:
        return self.samples / self.sample_rate

    @property
    def rms_dbfs(self) -> float:
        rms = math.sqrt(self.energy / self.samples) if self.samples else 0.0
        return 20 * math.log10(rms) if rms > 0 else -math.inf

    @property
    def silent(self) -> bool:
        return self.peak <= audio.SILENCE_PEAK or self.rms_dbfs < QUIET_DBFS

    def warnings(self, window_s: float) -> list[str]:
        found = []
        if self.peak <= audio.SILENCE_PEAK:
            found.append("all-silent")
        elif self.rms_dbfs < QUIET_DBFS:
            found.append("near-silent")
        if self.duration_s < window_s:
            found.append("short")
        return found


def prefetch(items: Iterable, depth: int = 1) -> Iterator:
    """Iterate ``items`` in a background thread, ``depth`` ahead; its exceptions re-raise here.

    The thread stops when the consumer stops early (an error, a ``break``), so no file stays open.
    """
    buffer: queue.Queue = queue.Queue(depth)
    stop = threading.Event()
    done = object()

    def worker() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        buffer.put((item, None), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            buffer.put((done, None))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
            buffer.put((done, exc))

    thread = threading.Thread(target=worker, name="instrumentid-decode", daemon=True)
    thread.start()
    try:
        while True:
            item, error = buffer.get()
            if item is done:
                if error is not None:
                    raise error
                return
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)


def tile(signal: np.ndarray, length: int) -> np.ndarray:
    """Repeat ``signal`` until it is ``length`` samples long (zeros for an empty signal)."""
    if signal.size == 0:
        return np.zeros(length, dtype=np.float32)
    reps = math.ceil(length / signal.size)
    return np.tile(signal, reps)[:length].astype(np.float32, copy=False)


def iter_windows(blocks: Iterable[np.ndarray], window: int, hop: int, *,
                 tile_short: bool = True) -> Iterator[tuple[int, np.ndarray]]:
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


def aggregate(window_scores: np.ndarray, method: str = "mean") -> np.ndarray:
    """Window scores ``(n_windows, n_labels)`` → file scores ``(n_labels,)``."""
    window_scores = np.asarray(window_scores, dtype=np.float32)
    if window_scores.ndim != 2 or window_scores.shape[0] == 0:
        raise ValueError("window_scores must have shape (n_windows >= 1, n_labels)")
    if method == "mean":
        return window_scores.mean(axis=0)
    if method == "max":
        return window_scores.max(axis=0)
    if method == "topk":
        k = max(1, math.ceil(window_scores.shape[0] / 4))
        return np.sort(window_scores, axis=0)[-k:].mean(axis=0)
    raise ConfigError(f"unknown aggregation {method!r}; choose one of {', '.join(AGGREGATIONS)}")


def find_audio_files(paths: Sequence[str | os.PathLike], *, recursive: bool = False) -> list[Path]:
    """Expand folders into their audio files (sorted); files are kept as given."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            pattern = path.rglob("*") if recursive else path.glob("*")
            found.extend(sorted(p for p in pattern if p.is_file() and p.suffix.lower() in audio.AUDIO_SUFFIXES))
        else:
            found.append(path)  # missing/bad files become error records later
    return found


class Predictor:
    """A loaded model bundle, ready to score audio.

    >>> predictor = Predictor.from_bundle()          # bundled default model
    >>> predictor.predict_file("song.wav")["present"]
    """

    def __init__(self, bundle: dict, *, batch_size: int = 64, device: str | torch.device = "cpu") -> None:
        self.bundle = bundle
        self.labels: tuple[str, ...] = tuple(bundle["labels"])
        self.thresholds = np.asarray(bundle["thresholds"], dtype=np.float32)
        self.sample_rate = int(bundle["sample_rate"])
        self.window_s = float(bundle["window_s"])
        self.hop_s = float(bundle["hop_s"])
        self.aggregation = bundle["aggregation"]
        self.batch_size = int(batch_size)
        self.device = torch.device(device)
        self.frontend = build_frontend(bundle["features"], bundle["normalization"]).to(self.device).eval()
        self.model = build_model(bundle).to(self.device)
        self.window_samples = round(self.window_s * self.sample_rate)
        self.hop_samples = round(self.hop_s * self.sample_rate)
        #: fully convolutional models score a file shorter than one window at its own length
        self.tile_short = not getattr(self.model, "variable_length", False)
        #: shorter audio is an error (the bundle may declare its own ``min_duration_s``)
        self.min_duration_s = float(bundle.get("min_duration_s", MIN_DURATION_S))

    @classmethod
    def from_bundle(cls, path: str | os.PathLike | None = None, **kwargs) -> Predictor:
        """Load a bundle file (the packaged default when ``path`` is None)."""
        return cls(load_bundle(path), **kwargs)

    @property
    def metadata(self) -> dict:
        return self.bundle.get("metadata", {})

    # -- scoring -------------------------------------------------------------------------
    @torch.inference_mode()
    def score_windows(self, windows: np.ndarray | torch.Tensor) -> np.ndarray:
        """Sigmoid scores ``(n, n_labels)`` for waveform windows ``(n, window_samples)``."""
        x = torch.as_tensor(np.asarray(windows, dtype=np.float32)).to(self.device)
        logits = self.model(self.frontend(x))
        return torch.sigmoid(logits).cpu().numpy()

    def _windows(self, blocks: Iterable[np.ndarray]) -> Iterator[tuple[int, np.ndarray]]:
        return iter_windows(blocks, self.window_samples, self.hop_samples, tile_short=self.tile_short)

    def _blocks(self, path: Path) -> Iterator[np.ndarray]:
        # decoding the next block overlaps with scoring this one (soundfile, soxr and torch release the GIL)
        return prefetch(audio.stream(path, sample_rate=self.sample_rate, block_seconds=max(30.0, 4 * self.window_s)))

    def _score_stream(self, windows: Iterable[tuple[int, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
        starts, scores, batch = [], [], []
        for start, samples in windows:
            starts.append(start)
            batch.append(samples)
            if len(batch) == self.batch_size:
                scores.append(self.score_windows(np.stack(batch)))
                batch = []
        if batch:
            scores.append(self.score_windows(np.stack(batch)))
        return np.asarray(starts) / self.sample_rate, np.concatenate(scores)

    def window_scores(self, path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
        """``(starts_s (n,), scores (n, n_labels))`` of every analysis window of a file."""
        return self._score_stream(self._windows(self._blocks(Path(path))))

    def window_features(self, path: str | os.PathLike) -> torch.Tensor:
        """Normalised model input ``(n_windows, 1, n_mels, frames)`` of every window of a file."""
        windows = np.stack([w for _, w in self._windows(self._blocks(Path(path)))])
        with torch.inference_mode():
            return self.frontend(torch.from_numpy(windows).to(self.device)).cpu()

    # -- records ---------------------------------------------------------------------------
    def _thresholds(self, threshold: float | None) -> np.ndarray:
        if threshold is None:
            return self.thresholds
        if not 0.0 <= threshold <= 1.0:
            raise ConfigError(f"threshold must be between 0 and 1, got {threshold}")
        return np.full(len(self.labels), threshold, dtype=np.float32)

    def _record(self, name: str, level: SignalLevel, starts, scores, *, segments, threshold, aggregation):
        thresholds = self._thresholds(threshold)
        file_scores = aggregate(scores, aggregation or self.aggregation)
        duration_s = level.duration_s
        segment_list = None
        warnings = level.warnings(self.window_s)
        abstain = level.silent
        if segments:
            segment_list = [
                schema.make_segment(s, min(s + self.window_s, duration_s), self.labels, sc, thresholds, abstain=abstain)
                for s, sc in zip(starts, scores)
            ]
        return schema.make_record(name, duration_s, self.labels, file_scores, thresholds,
                                  segments=segment_list, warnings=warnings, abstain=abstain)

    def _predict_blocks(self, name: str, blocks: Iterable[np.ndarray], **options) -> dict:
        level = SignalLevel(self.sample_rate)
        starts, scores = self._score_stream(self._windows(level.watch(blocks)))
        if level.duration_s < self.min_duration_s:
            raise AudioError(f"{name}: audio is {level.duration_s:.3f} s long; this model needs at least "
                             f"{self.min_duration_s:g} s")
        return self._record(name, level, starts, scores, **options)

    def predict_file(
        self,
        path: str | os.PathLike,
        *,
        segments: bool = False,
        threshold: float | None = None,
        aggregation: str | None = None,
        name: str | None = None,
    ) -> dict:
        """Predict one file; raises :class:`~instrumentid.errors.AudioError` on bad audio."""
        path = Path(path)
        return self._predict_blocks(name or str(path), self._blocks(path), segments=segments, threshold=threshold,
                                    aggregation=aggregation)

    def predict_waveform(
        self,
        waveform: np.ndarray,
        sample_rate: int,
        *,
        name: str = "<waveform>",
        channels_first: bool | None = None,
        segments: bool = False,
        threshold: float | None = None,
        aggregation: str | None = None,
    ) -> dict:
        """Predict an in-memory waveform: ``(samples,)``, ``(samples, channels)`` as soundfile
        returns it, or ``(channels, samples)`` (see :func:`instrumentid.audio.array_to_mono`).

        >>> model.predict_waveform(*soundfile.read("a.wav"))   # equals model.predict("a.wav")
        """
        mono = audio.array_to_mono(waveform, sample_rate, name=name, channels_first=channels_first)
        if mono.size == 0:
            raise AudioError(f"{name}: audio has zero length")
        mono = audio.resample(mono, int(sample_rate), self.sample_rate)
        return self._predict_blocks(name, [mono], segments=segments, threshold=threshold, aggregation=aggregation)

    def predict(self, path: str | os.PathLike, **kwargs) -> dict:
        """Alias of :meth:`predict_file` (``load_model().predict("a.wav")``)."""
        return self.predict_file(path, **kwargs)

    def predict_files(self, paths: Iterable[str | os.PathLike], **kwargs) -> Iterator[dict]:
        """One record per path, in order; a failing file yields an error record instead."""
        for path in paths:
            try:
                yield self.predict_file(path, **kwargs)
            except InstrumentIdError as exc:
                yield schema.error_record(str(path), str(exc))
