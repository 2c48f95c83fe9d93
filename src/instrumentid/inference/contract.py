"""How a model reads audio: the one typed contract every engine, trainer and runtime takes.

A bundle is a dict on disk (:mod:`instrumentid.inference.bundle`); everything that reads audio
for a model reads it through the frozen objects here, built once per load:

- :class:`Framing` — rate, window, hop, whether short audio is tiled (not for models that take
  any length), the minimum duration; decoding, windowing and the length check follow from it;
- :class:`BundleInfo` — the framing plus labels, thresholds, aggregation and metadata: the
  typed view of a bundle, alike for a ``.iid`` bundle and an ONNX graph's header;
- :func:`score_batches` — the one loop that scores a stream of windows in batches (the
  predictor, the Ray engine and the frozen-embedding cache run it).

Torch-free and picklable, so decoding can run apart from scoring (the Ray engine).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from instrumentid import audio
from instrumentid.errors import AudioError
from instrumentid.inference.pipeline import WorkerPool, ordered_map, prefetch
from instrumentid.inference.windows import iter_windows, window_dbfs

#: Shortest audio a prediction is made for: below it there is no timbre to judge (a 0.1-s
#: stroke is about 10 spectrogram frames). A bundle may declare its own ``min_duration_s``.
MIN_DURATION_S = 0.1
#: Decoded blocks (30 s of audio or more, a few MB at 16 kHz) kept ready ahead of scoring, so the
#: model never waits on the decoder for long.
PREFETCH_BLOCKS = 4


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
                self.peak = max(self.peak, float(block.max()), -float(block.min()))
                # float64 (float32 sums of 10⁷ squares drift) and numpy's own sum, not a BLAS dot
                # whose threads spin on every core after it returns (audio.to_mono)
                wide = block.astype(np.float64)
                self.energy += float(np.square(wide, out=wide).sum())
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


@dataclass(frozen=True)
class Framing:
    """How one model reads audio: its rate, window, hop, short-audio rule and minimum length.

    ``variable_length`` models (fully convolutional) score a file shorter than one window at its
    own length; the others see it tiled to a full window (:func:`~instrumentid.inference.windows.iter_windows`).
    """

    sample_rate: int
    window_s: float
    hop_s: float
    variable_length: bool = False
    min_duration_s: float = MIN_DURATION_S

    @classmethod
    def of(cls, bundle: Mapping, *, variable_length: bool = False) -> Framing:
        """From a bundle (or its header)."""
        return cls(
            int(bundle["sample_rate"]),
            float(bundle["window_s"]),
            float(bundle["hop_s"]),
            variable_length=bool(variable_length),
            min_duration_s=float(bundle.get("min_duration_s", MIN_DURATION_S)),
        )

    @property
    def tile_short(self) -> bool:
        return not self.variable_length

    @property
    def window_samples(self) -> int:
        return round(self.window_s * self.sample_rate)

    @property
    def hop_samples(self) -> int:
        return round(self.hop_s * self.sample_rate)

    def blocks(
        self, path: str | os.PathLike, max_duration_s: float | None = None, *, level: SignalLevel | None = None
    ) -> Iterator[np.ndarray]:
        """Decoded blocks at the model's rate; past ``max_duration_s`` of audio, an AudioError.

        Decoding runs in a thread up to :data:`PREFETCH_BLOCKS` blocks ahead of scoring
        (soundfile, soxr and the runtimes release the GIL); ``level``, when given, watches the
        blocks there too, off the thread that feeds the model.
        """
        source = audio.stream(
            Path(path),
            sample_rate=self.sample_rate,
            block_seconds=max(30.0, 4 * self.window_s),
            max_seconds=max_duration_s,
        )
        return prefetch(level.watch(source) if level is not None else source, depth=PREFETCH_BLOCKS)

    def windows(self, blocks: Iterable[np.ndarray]) -> Iterator[tuple[int, np.ndarray]]:
        """``(start_sample, window)`` pairs of a stream of mono blocks at the model's rate."""
        return iter_windows(blocks, self.window_samples, self.hop_samples, tile_short=self.tile_short)

    def check_length(self, name: str, level: SignalLevel) -> None:
        if level.duration_s < self.min_duration_s:
            raise AudioError(
                f"{name}: audio is {level.duration_s:.3f} s long; this model needs at least {self.min_duration_s:g} s"
            )

    def read(self, path: str | os.PathLike) -> tuple[SignalLevel, np.ndarray, np.ndarray]:
        """A whole file's ``(level, starts_s (n,), windows (n, samples))`` — for engines that decode
        in one place and score in another; memory grows with the file (the local engine streams)."""
        level = SignalLevel(self.sample_rate)
        pairs = list(self.windows(level.watch(self.blocks(path))))
        self.check_length(str(path), level)
        starts = np.asarray([start for start, _ in pairs]) / self.sample_rate
        return level, starts, np.stack([window for _, window in pairs])


def takes_any_length(model: object) -> bool:
    """Does a built model score audio of any length (``variable_length``, the fully convolutional
    ones)? Its :class:`Framing` then does not tile short audio."""
    return bool(getattr(model, "variable_length", False))


@dataclass(frozen=True)
class BundleInfo:
    """What a bundle says about its model, typed: read it here rather than from the dict's keys."""

    model_name: str
    labels: tuple[str, ...]
    thresholds: tuple[float, ...]
    aggregation: str
    framing: Framing
    metadata: dict = field(default_factory=dict)

    @classmethod
    def of(cls, bundle: Mapping, *, variable_length: bool | None = None) -> BundleInfo:
        """From a validated bundle or its header (an ONNX graph's metadata, which says
        ``variable_length`` itself; for a bundle, the built model says it)."""
        if variable_length is None:
            variable_length = bool(bundle.get("variable_length", False))
        return cls(
            model_name=str(bundle["model"]["name"]),
            labels=tuple(bundle["labels"]),
            thresholds=tuple(float(t) for t in bundle["thresholds"]),
            aggregation=str(bundle["aggregation"]),
            framing=Framing.of(bundle, variable_length=variable_length),
            metadata=dict(bundle.get("metadata") or {}),
        )

    @property
    def sample_rate(self) -> int:
        return self.framing.sample_rate

    @property
    def window_s(self) -> float:
        return self.framing.window_s

    @property
    def hop_s(self) -> float:
        return self.framing.hop_s


def score_batches(
    score: Callable[[np.ndarray], np.ndarray],
    windows: Iterable[tuple[float, np.ndarray]],
    batch_size: int,
    *,
    pool: WorkerPool | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(starts, outputs, levels_dbfs)`` of a stream of ``(start, window)`` pairs, ``score``-d
    ``batch_size`` windows at a time; ``starts`` come back as given, ``levels_dbfs`` is the RMS
    level of each window (:func:`~instrumentid.inference.windows.window_dbfs`).

    With a ``pool``, batches are scored on its threads, as many at once as it has
    (:func:`~instrumentid.inference.pipeline.ordered_map`; ``score`` must be thread-safe, as an
    onnxruntime session is).
    """
    starts, levels = [], []

    def batches() -> Iterator[np.ndarray]:
        batch = []
        for start, samples in windows:
            starts.append(start)
            batch.append(samples)
            if len(batch) == batch_size:
                yield _stacked(batch, levels)
                batch = []
        if batch:
            yield _stacked(batch, levels)

    outputs = list(ordered_map(score, batches(), pool))
    return np.asarray(starts), np.concatenate(outputs), np.concatenate(levels)


def _stacked(batch: list[np.ndarray], levels: list[np.ndarray]) -> np.ndarray:
    """The batch as one array; its windows' levels appended to ``levels``."""
    stacked = np.stack(batch)
    levels.append(window_dbfs(stacked))
    return stacked
