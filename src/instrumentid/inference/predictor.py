"""The one predictor: chunk any file into windows, score them in batches, aggregate.

The CLI, the Python API, evaluation and the server all call :class:`Predictor`, so a number
seen in ``evaluate`` is the number ``predict`` gives. Windowing and aggregation are
:mod:`instrumentid.inference.windows`; the scoring itself is a runtime (:mod:`instrumentid.inference.runtimes`:
PyTorch for bundles, onnxruntime for exported graphs), so this module does not import torch.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np

from instrumentid import audio
from instrumentid.errors import AudioError, ConfigError, InstrumentIdError
from instrumentid.inference import schema
from instrumentid.inference.contract import BundleInfo, Framing, SignalLevel, score_batches
from instrumentid.inference.decision import check_threshold
from instrumentid.inference.pipeline import WorkerPool, ordered_map
from instrumentid.inference.runtimes import OnnxRuntime, TorchRuntime, open_runtime
from instrumentid.inference.windows import aggregate, audible


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


def check_path(path: str | os.PathLike) -> None:
    """Raise :class:`AudioError` naming ``path`` when no engine can read it: a folder that could not
    be listed (:class:`UnlistedFolder`) or a name that is not UTF-8 (records hold text)."""
    name = printable_name(path)
    if isinstance(path, UnlistedFolder):
        raise AudioError(f"{name}: {path.reason}")
    if name != str(path):
        raise AudioError(f"{name}: the file name is not valid UTF-8; rename the file")


def find_audio_files(paths: Sequence[str | os.PathLike], *, recursive: bool = False) -> list[Path]:
    """:func:`iter_audio_files` as a list."""
    return list(iter_audio_files(paths, recursive=recursive))


#: Most files :meth:`Predictor.predict_files` reads at once, two per scoring thread up to this
#: (each holds a few decoded blocks and its queued batches: memory grows with it, not with the cores).
FILES_AT_ONCE = 8


class Predictor:
    """A loaded model, ready to score audio.

    >>> predictor = Predictor.from_bundle()          # bundled default model
    >>> predictor.predict_file("song.wav")["present"]

    ``bundle`` is a bundle dict (run in PyTorch) or an already opened runtime.
    """

    def __init__(
        self, bundle: Mapping | TorchRuntime | OnnxRuntime, *, batch_size: int | None = None, device: str = "cpu"
    ) -> None:
        self.runtime = bundle if isinstance(bundle, (TorchRuntime, OnnxRuntime)) else TorchRuntime(bundle, device)
        self.bundle = self.runtime.bundle
        #: how the model reads audio, typed (the same for a bundle in PyTorch and an ONNX graph's header)
        self.info: BundleInfo = self.runtime.info
        self.framing: Framing = self.info.framing
        self.labels: tuple[str, ...] = self.info.labels
        self.thresholds = np.asarray(self.info.thresholds, dtype=np.float32)
        #: windows scored together (default: the runtime's own, 64 in PyTorch, 8 in onnxruntime)
        self.batch_size = int(batch_size or self.runtime.batch_size)
        #: batches scored at once (the runtime's: one per core in onnxruntime, one in PyTorch)
        self.concurrency: int = self.runtime.concurrency
        self._pool: WorkerPool | None = None

    @classmethod
    def from_bundle(
        cls,
        path: str | os.PathLike | None = None,
        *,
        runtime: str = "auto",
        device: str = "cpu",
        threads: int | None = None,
        **kwargs,
    ) -> Predictor:
        """Load a bundle, an exported ``.onnx`` graph or a bundled name (the default when None).

        ``runtime``: ``auto`` (onnxruntime for ``.onnx``, torch otherwise), ``torch`` or ``onnxruntime``.
        """
        return cls(open_runtime(path, runtime, device=device, threads=threads), **kwargs)

    @property
    def metadata(self) -> dict:
        return self.info.metadata

    @property
    def aggregation(self) -> str:
        return self.info.aggregation

    @property
    def sample_rate(self) -> int:
        return self.framing.sample_rate

    @property
    def window_s(self) -> float:
        return self.framing.window_s

    @property
    def hop_s(self) -> float:
        return self.framing.hop_s

    def _torch(self, what: str) -> TorchRuntime:
        if not isinstance(self.runtime, TorchRuntime):
            raise ConfigError(f"{what} needs the model in PyTorch: open it with runtime='torch'", option="runtime")
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
    @property
    def score_pool(self) -> WorkerPool | None:
        """The threads that score batches, :attr:`concurrency` of them, shared by every file this
        predictor reads at once (so graph runs never outnumber them); None when it scores one
        batch at a time."""
        if self.concurrency <= 1:
            return None
        if self._pool is None or self._pool.size != self.concurrency:
            self._pool = WorkerPool(self.concurrency, "instrumentid-score")
            weakref.finalize(self, self._pool.close)  # its threads end with the predictor
        return self._pool

    def score_windows(self, windows) -> np.ndarray:
        """Sigmoid scores ``(n, n_labels)`` for waveform windows ``(n, window_samples)``."""
        return self.runtime(np.asarray(windows, dtype=np.float32))

    def _score_stream(self, windows: Iterable[tuple[int, np.ndarray]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(starts_s, scores, levels_dbfs)`` of a stream of windows, scored in batches."""
        starts, scores, levels = score_batches(self.score_windows, windows, self.batch_size, pool=self.score_pool)
        return starts / self.sample_rate, scores, levels

    def window_scores(self, path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
        """``(starts_s (n,), scores (n, n_labels))`` of every analysis window of a file."""
        starts, scores, _ = self.scored_windows(path)
        return starts, scores

    def scored_windows(self, path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(starts_s, scores, levels_dbfs)`` of every window of a file: what a record is made of
        (windows that :func:`instrumentid.inference.windows.audible` rejects are left out of its scores)."""
        return self._score_stream(self.framing.windows(self.framing.blocks(path)))

    def window_features(self, path: str | os.PathLike):
        """Normalised model input ``(n_windows, 1, n_mels, frames)`` of every window of a file (torch runtime)."""
        runtime = self._torch("window features")
        return runtime.features(np.stack([w for _, w in self.framing.windows(self.framing.blocks(path))]))

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
            raise ConfigError(
                f"labels {', '.join(missing)} are not in this model's vocabulary ({', '.join(self.labels)})"
            )
        return np.array([j for j, code in enumerate(self.labels) if code in set(labels)], dtype=int)

    def record(
        self,
        name: str,
        level: SignalLevel,
        starts,
        scores,
        levels,
        *,
        segments: bool = False,
        threshold: float | None = None,
        aggregation: str | None = None,
        labels: Sequence[str] | None = None,
    ) -> dict:
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
            segment_list = [
                schema.make_segment(
                    s, min(s + self.window_s, duration_s), codes, sc, thresholds, abstain=abstain or not on
                )
                for s, sc, on in zip(starts, scores, keep, strict=True)
            ]
        active = (
            {}
            if abstain
            else schema.activity(
                starts, scores, thresholds, window_s=self.window_s, duration_s=duration_s, labels=codes, keep=keep
            )
        )
        return schema.make_record(
            name,
            duration_s,
            codes,
            file_scores,
            thresholds,
            activity=active,
            segments=segment_list,
            warnings=warnings,
            abstain=abstain,
        )

    def _predict_blocks(self, name: str, level: SignalLevel, blocks: Iterable[np.ndarray], **options) -> dict:
        """A record of ``blocks``, which ``level`` watches as they are decoded."""
        starts, scores, levels = self._score_stream(self.framing.windows(blocks))
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
        level = SignalLevel(self.sample_rate)
        return self._predict_blocks(
            name or str(path),
            level,
            self.framing.blocks(path, max_duration_s, level=level),
            segments=segments,
            threshold=threshold,
            aggregation=aggregation,
            labels=labels,
        )

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
        level = SignalLevel(self.sample_rate)
        return self._predict_blocks(
            name,
            level,
            level.watch([mono]),
            segments=segments,
            threshold=threshold,
            aggregation=aggregation,
            labels=labels,
        )

    def predict(self, path: str | os.PathLike, **kwargs) -> dict:
        """Alias of :meth:`predict_file` (``load_model().predict("a.wav")``)."""
        return self.predict_file(path, **kwargs)

    def predict_files(self, paths: Iterable[str | os.PathLike], **kwargs) -> Iterator[dict]:
        """One record per path, in order; a failing file yields an error record instead.

        Two files per scoring thread, up to :data:`FILES_AT_ONCE`, are read at once
        (:func:`~instrumentid.inference.pipeline.ordered_map`): one file's decoding overlaps
        another's scoring, which short files (sample packs) need, as they have too few windows to
        keep every core busy alone. Their batches share :attr:`score_pool`, so a long file still
        gets every core.
        """
        # two files per scoring thread: one decodes while the other's batches are scored; one
        # at a time when the runtime scores one batch at a time (PyTorch spreads it over its threads)
        files = min(2 * self.concurrency, FILES_AT_ONCE) if self.concurrency > 1 else 1
        pool = WorkerPool(files, "instrumentid-file") if files > 1 else None
        try:
            yield from ordered_map(lambda path: self._file_record(path, **kwargs), paths, pool, ahead=files)
        finally:
            if pool is not None:
                pool.close()

    def _file_record(self, path: str | os.PathLike, **kwargs) -> dict:
        name = printable_name(path)
        try:
            check_path(path)
            return self.predict_file(path, **kwargs)
        except InstrumentIdError as exc:  # a model failure's message does not name the file: prefix it
            return schema.error_record(name, str(exc) if str(exc).startswith(name) else f"{name}: {exc}")
