"""The one predictor: chunk any file into windows, score them in batches, aggregate.

The CLI, the Python API, evaluation and the server all call :class:`Predictor`, so a number
seen in ``evaluate`` is the number ``predict`` gives. Windowing and aggregation are
:mod:`instrumentid.inference.windows`; the scoring itself is a runtime (:mod:`instrumentid.inference.runtimes`:
PyTorch for bundles, onnxruntime for exported graphs), so this module does not import torch.
"""

from __future__ import annotations

import math
import os
import queue
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from instrumentid import audio
from instrumentid.inference import schema
from instrumentid.inference.bundle import info as bundle_info
from instrumentid.errors import AudioError, ConfigError, InstrumentIdError
from instrumentid.inference.runtimes import OnnxRuntime, TorchRuntime, open_runtime
from instrumentid.inference.decision import check_threshold
from instrumentid.inference.windows import activity, aggregate, audible, iter_windows, window_dbfs

#: Shortest audio a prediction is made for: below it there is no timbre to judge (a 0.1-s
#: stroke is about 10 spectrogram frames).
MIN_DURATION_S = 0.1


class SignalLevel:
    """Watches the blocks of a stream go by: length, peak and RMS, so nothing is decoded twice.

    A file names no instrument when its peak is digital silence (:data:`audio.SILENCE_PEAK`,
    ``all-silent``) or when no window rises above the noise floor
    (:data:`instrumentid.inference.windows.SILENCE_FLOOR_DBFS`, ``near-silent``); the record's
    ``warnings`` say which. Quiet audio above the floor is scored like loud audio.
    """

    def __init__(self, sample_rate: int, samples: int = 0, peak: float = 0.0, energy: float = 0.0) -> None:
        self.sample_rate = sample_rate
        self.samples, self.peak, self.energy = int(samples), float(peak), float(energy)

    def watch(self, blocks: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        for block in blocks:
            block = np.asarray(block, dtype=np.float32)
            if block.size:
                self.samples += block.size
                self.peak = max(self.peak, float(np.max(np.abs(block))))
                wide = block.astype(np.float64)  # float32 sums of 10⁷ squares drift
                self.energy += float(np.dot(wide, wide))
            yield block

    @property
    def duration_s(self) -> float:
        return self.samples / self.sample_rate

    @property
    def rms_dbfs(self) -> float:
        rms = math.sqrt(self.energy / self.samples) if self.samples else 0.0
        return 20 * math.log10(rms) if rms > 0 else -math.inf

    def warnings(self, window_s: float, keep: np.ndarray) -> list[str]:
        """``all-silent`` / ``near-silent`` (no window in ``keep``) and ``short`` (under one window)."""
        found = []
        if self.peak <= audio.SILENCE_PEAK:
            found.append("all-silent")
        elif not np.any(keep):
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


class UnlistedFolder(type(Path())):
    """A folder :func:`iter_audio_files` could not list; :meth:`Predictor.predict_files` turns it
    into an error record naming it (``reason``), so an unreadable folder is never skipped silently."""

    reason = "cannot be listed"


def iter_audio_files(paths: Iterable[str | os.PathLike], *, recursive: bool = False) -> Iterator[Path]:
    """Expand folders into their audio files, lazily (a folder of 10⁵ files is never listed whole).

    Files come in full-path order within each folder given; paths that are not folders are
    yielded as given (missing or unreadable files become error records later), and so is a folder
    that cannot be listed, as an :class:`UnlistedFolder`. Each real folder (device, inode) is
    walked once, so symlink loops end.
    """
    seen: set[tuple[int, int]] = set()
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            yield from _walk(path, recursive, seen)
        else:
            yield path


def _walk(folder: Path, recursive: bool, seen: set[tuple[int, int]]) -> Iterator[Path]:
    try:
        stat = folder.stat()
        if (stat.st_dev, stat.st_ino) in seen:
            return
        seen.add((stat.st_dev, stat.st_ino))
        entries = [(entry, _is_dir(entry)) for entry in os.scandir(folder)]
    except OSError as exc:
        unlisted = UnlistedFolder(folder)
        unlisted.reason = f"cannot list this folder ({exc.strerror or exc})"
        yield unlisted
        return
    # sort as full paths sort: "b.wav" before the folder "b/"
    for entry, is_dir in sorted(entries, key=lambda pair: pair[0].name + ("/" if pair[1] else "")):
        if is_dir:
            if recursive:
                yield from _walk(Path(entry.path), recursive, seen)
        elif Path(entry.name).suffix.lower() in audio.AUDIO_SUFFIXES:
            yield Path(entry.path)  # not only regular files: an unreadable or dangling one gets its error record


def _is_dir(entry: os.DirEntry) -> bool:
    """Is ``entry`` a folder (after symlinks)? False for a broken or looping link (it becomes an error record)."""
    try:
        return entry.is_dir()
    except OSError:
        return False


def printable_name(path: str | os.PathLike) -> str:
    """``path`` as text that can be printed and encoded: bytes that are not UTF-8 as ``\\xNN``."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def find_audio_files(paths: Sequence[str | os.PathLike], *, recursive: bool = False) -> list[Path]:
    """:func:`iter_audio_files` as a list."""
    return list(iter_audio_files(paths, recursive=recursive))


@dataclass(frozen=True)
class Framing:
    """How one model reads audio: its rate, window, hop, short-audio rule and minimum length.

    Torch-free and picklable, so decoding can run apart from scoring (the Ray engine).
    """

    sample_rate: int
    window_s: float
    hop_s: float
    tile_short: bool = True
    min_duration_s: float = MIN_DURATION_S

    @classmethod
    def of(cls, bundle: Mapping, *, variable_length: bool = False) -> Framing:
        """From a bundle (or its header); fully convolutional models score short audio whole."""
        return cls(int(bundle["sample_rate"]), float(bundle["window_s"]), float(bundle["hop_s"]),
                   tile_short=not variable_length,
                   min_duration_s=float(bundle.get("min_duration_s", MIN_DURATION_S)))

    @property
    def window_samples(self) -> int:
        return round(self.window_s * self.sample_rate)

    @property
    def hop_samples(self) -> int:
        return round(self.hop_s * self.sample_rate)

    def blocks(self, path: Path, max_duration_s: float | None = None) -> Iterator[np.ndarray]:
        """Decoded blocks at the model's rate; past ``max_duration_s`` of audio, an AudioError."""
        # decoding the next block overlaps with scoring this one (soundfile, soxr and the runtimes release the GIL)
        return prefetch(audio.stream(path, sample_rate=self.sample_rate, block_seconds=max(30.0, 4 * self.window_s),
                                     max_seconds=max_duration_s))

    def windows(self, blocks: Iterable[np.ndarray]) -> Iterator[tuple[int, np.ndarray]]:
        return iter_windows(blocks, self.window_samples, self.hop_samples, tile_short=self.tile_short)

    def check_length(self, name: str, level: SignalLevel) -> None:
        if level.duration_s < self.min_duration_s:
            raise AudioError(f"{name}: audio is {level.duration_s:.3f} s long; this model needs at least "
                             f"{self.min_duration_s:g} s")

    def read(self, path: str | os.PathLike) -> tuple[SignalLevel, np.ndarray, np.ndarray]:
        """A whole file's ``(level, starts_s (n,), windows (n, samples))`` — for engines that decode
        in one place and score in another; memory grows with the file (the local engine streams)."""
        level = SignalLevel(self.sample_rate)
        pairs = list(self.windows(level.watch(self.blocks(Path(path)))))
        self.check_length(str(path), level)
        starts = np.asarray([start for start, _ in pairs]) / self.sample_rate
        return level, starts, np.stack([window for _, window in pairs])


class Predictor:
    """A loaded model, ready to score audio.

    >>> predictor = Predictor.from_bundle()          # bundled default model
    >>> predictor.predict_file("song.wav")["present"]

    ``bundle`` is a bundle dict (run in PyTorch) or an already opened runtime.
    """

    def __init__(self, bundle: Mapping | TorchRuntime | OnnxRuntime, *, batch_size: int | None = None,
                 device: str = "cpu") -> None:
        self.runtime = bundle if isinstance(bundle, (TorchRuntime, OnnxRuntime)) else TorchRuntime(bundle, device)
        self.bundle = bundle = self.runtime.bundle
        #: the bundle's description, typed (the same for a .iid bundle and an ONNX graph's header)
        self.info = info = bundle_info(bundle)
        self.labels: tuple[str, ...] = info.labels
        self.thresholds = np.asarray(info.thresholds, dtype=np.float32)
        self.aggregation = info.aggregation
        #: windows scored together (default: the runtime's own, 64 in PyTorch, 8 in onnxruntime)
        self.batch_size = int(batch_size or self.runtime.batch_size)
        self.framing = framing = Framing.of(bundle, variable_length=self.runtime.variable_length)
        self.sample_rate, self.window_s, self.hop_s = framing.sample_rate, framing.window_s, framing.hop_s
        self.window_samples, self.hop_samples = framing.window_samples, framing.hop_samples
        #: fully convolutional models score a file shorter than one window at its own length
        self.tile_short = framing.tile_short
        #: shorter audio is an error (the bundle may declare its own ``min_duration_s``)
        self.min_duration_s = framing.min_duration_s

    @classmethod
    def from_bundle(cls, path: str | os.PathLike | None = None, *, runtime: str = "auto", device: str = "cpu",
                    threads: int | None = None, **kwargs) -> Predictor:
        """Load a bundle, an exported ``.onnx`` graph or a bundled name (the default when None).

        ``runtime``: ``auto`` (onnxruntime for ``.onnx``, torch otherwise), ``torch`` or ``onnxruntime``.
        """
        return cls(open_runtime(path, runtime, device=device, threads=threads), **kwargs)

    @property
    def metadata(self) -> dict:
        return self.info.metadata

    def _torch(self, what: str) -> TorchRuntime:
        if not isinstance(self.runtime, TorchRuntime):
            raise ConfigError(f"{what} needs the model in PyTorch (a .iid bundle), not an exported ONNX graph")
        return self.runtime

    @property
    def model(self):
        """The network (PyTorch runtime only)."""
        return self._torch("the network").model

    @property
    def frontend(self):
        """The feature extractor (PyTorch runtime only)."""
        return self._torch("the front-end").frontend

    @property
    def device(self):
        return self._torch("a torch device").device

    # -- scoring -------------------------------------------------------------------------
    def score_windows(self, windows) -> np.ndarray:
        """Sigmoid scores ``(n, n_labels)`` for waveform windows ``(n, window_samples)``."""
        return self.runtime(np.asarray(windows, dtype=np.float32))

    def _windows(self, blocks: Iterable[np.ndarray]) -> Iterator[tuple[int, np.ndarray]]:
        return self.framing.windows(blocks)

    def _blocks(self, path: Path, max_duration_s: float | None = None) -> Iterator[np.ndarray]:
        return self.framing.blocks(path, max_duration_s)

    def _score_stream(self, windows: Iterable[tuple[int, np.ndarray]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(starts_s, scores, levels_dbfs)`` of a stream of windows, scored in batches."""
        starts, scores, levels, batch = [], [], [], []
        for start, samples in windows:
            starts.append(start)
            batch.append(samples)
            if len(batch) == self.batch_size:
                stacked = np.stack(batch)
                scores.append(self.score_windows(stacked))
                levels.append(window_dbfs(stacked))
                batch = []
        if batch:
            stacked = np.stack(batch)
            scores.append(self.score_windows(stacked))
            levels.append(window_dbfs(stacked))
        return np.asarray(starts) / self.sample_rate, np.concatenate(scores), np.concatenate(levels)

    def window_scores(self, path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
        """``(starts_s (n,), scores (n, n_labels))`` of every analysis window of a file."""
        starts, scores, _ = self._score_stream(self._windows(self._blocks(Path(path))))
        return starts, scores

    def window_features(self, path: str | os.PathLike):
        """Normalised model input ``(n_windows, 1, n_mels, frames)`` of every window of a file (torch runtime)."""
        runtime = self._torch("window features")
        return runtime.features(np.stack([w for _, w in self._windows(self._blocks(Path(path)))]))

    # -- records ---------------------------------------------------------------------------
    def _thresholds(self, threshold: float | None) -> np.ndarray:
        if threshold is None:
            return self.thresholds
        return np.full(len(self.labels), check_threshold(threshold, "threshold"), dtype=np.float32)

    def label_columns(self, labels: Sequence[str] | None) -> np.ndarray:
        """Positions of ``labels`` (a subset of the model's, e.g. ``--labels irmas``) in its score
        vectors, in the model's order; all labels for None."""
        if labels is None:
            return np.arange(len(self.labels))
        missing = [code for code in labels if code not in self.labels]
        if missing:
            raise ConfigError(f"labels {', '.join(missing)} are not in this model's vocabulary "
                              f"({', '.join(self.labels)})")
        return np.array([j for j, code in enumerate(self.labels) if code in set(labels)], dtype=int)

    def record(self, name: str, level: SignalLevel, starts, scores, levels, *, segments: bool = False,
               threshold: float | None = None, aggregation: str | None = None,
               labels: Sequence[str] | None = None) -> dict:
        """The record of a file from its level, window scores and window levels (dBFS) — engines
        that score apart call this. ``labels`` restricts the record to those codes."""
        columns = self.label_columns(labels)
        codes = tuple(self.labels[j] for j in columns)
        thresholds, scores = self._thresholds(threshold)[columns], np.asarray(scores)[:, columns]
        keep = audible(levels)
        file_scores = aggregate(scores, aggregation or self.aggregation, keep)
        duration_s = level.duration_s
        warnings = level.warnings(self.window_s, keep)
        abstain = level.peak <= audio.SILENCE_PEAK or not keep.any()
        segment_list = None
        if segments:
            segment_list = [schema.make_segment(s, min(s + self.window_s, duration_s), codes, sc, thresholds,
                                                abstain=abstain or not on)
                            for s, sc, on in zip(starts, scores, keep)]
        active = {} if abstain else activity(starts, scores, thresholds, window_s=self.window_s,
                                             duration_s=duration_s, labels=codes, keep=keep)
        return schema.make_record(name, duration_s, codes, file_scores, thresholds, activity=active,
                                  segments=segment_list, warnings=warnings, abstain=abstain)

    def _predict_blocks(self, name: str, blocks: Iterable[np.ndarray], **options) -> dict:
        level = SignalLevel(self.sample_rate)
        starts, scores, levels = self._score_stream(self._windows(level.watch(blocks)))
        self.framing.check_length(name, level)
        return self.record(name, level, starts, scores, levels, **options)

    def predict_file(
        self,
        path: str | os.PathLike,
        *,
        segments: bool = False,
        threshold: float | None = None,
        aggregation: str | None = None,
        name: str | None = None,
        labels: Sequence[str] | None = None,
        max_duration_s: float | None = None,
    ) -> dict:
        """Predict one file; raises :class:`~instrumentid.errors.AudioError` on bad audio, and on
        audio longer than ``max_duration_s`` (counted while decoding, whatever the header says).
        ``labels`` restricts the record to those codes (``labels=instrumentid.labels.LABELS``)."""
        path = Path(path)
        return self._predict_blocks(name or str(path), self._blocks(path, max_duration_s), segments=segments,
                                    threshold=threshold, aggregation=aggregation, labels=labels)

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
        labels: Sequence[str] | None = None,
    ) -> dict:
        """Predict an in-memory waveform: ``(samples,)``, ``(samples, channels)`` as soundfile
        returns it, or ``(channels, samples)`` (see :func:`instrumentid.audio.array_to_mono`).

        >>> model.predict_waveform(*soundfile.read("a.wav"))   # equals model.predict("a.wav")
        """
        mono = audio.array_to_mono(waveform, sample_rate, name=name, channels_first=channels_first)
        if mono.size == 0:
            raise AudioError(f"{name}: audio has zero length")
        mono = audio.resample(mono, int(sample_rate), self.sample_rate)
        return self._predict_blocks(name, [mono], segments=segments, threshold=threshold, aggregation=aggregation,
                                    labels=labels)

    def predict(self, path: str | os.PathLike, **kwargs) -> dict:
        """Alias of :meth:`predict_file` (``load_model().predict("a.wav")``)."""
        return self.predict_file(path, **kwargs)

    def predict_files(self, paths: Iterable[str | os.PathLike], **kwargs) -> Iterator[dict]:
        """One record per path, in order; a failing file yields an error record instead."""
        for path in paths:
            name = printable_name(path)
            try:
                if isinstance(path, UnlistedFolder):
                    raise AudioError(f"{name}: {path.reason}")
                if name != str(path):
                    raise AudioError(f"{name}: the file name is not valid UTF-8; rename the file")
                yield self.predict_file(path, **kwargs)
            except InstrumentIdError as exc:  # a model failure's message does not name the file: prefix it
                yield schema.error_record(name, str(exc) if str(exc).startswith(name) else f"{name}: {exc}")
