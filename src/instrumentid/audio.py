"""Decode, down-mix and resample audio; stream long files in blocks.

Decoding uses soundfile (libsndfile: WAV, FLAC, OGG/Vorbis, Opus, MP3, AIFF, and more) and
falls back to PyAV, FFmpeg's libraries shipped in its wheel (M4A/AAC, WMA, video containers...),
so no system package is needed. Resampling
uses soxr (high-quality, anti-aliased). Every failure is an :class:`AudioError` whose message
names the file and the problem.

Conventions: ``waveform`` is float32 with ``shape=(channels, samples)``; mono helpers return
``shape=(samples,)``; ``sample_rate`` is in Hz.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from instrumentid.errors import AudioError
from instrumentid.fileio import atomic_path

#: File suffixes treated as audio when a folder is walked (predict, datasets).
AUDIO_SUFFIXES = frozenset(
    {
        ".wav",
        ".wave",
        ".flac",
        ".ogg",
        ".oga",
        ".opus",
        ".mp3",
        ".aif",
        ".aiff",
        ".aifc",
        ".au",
        ".snd",
        ".caf",
        ".w64",
        ".m4a",
        ".m4b",
        ".aac",
        ".ac3",
        ".wma",
        ".mka",
        ".mkv",
        ".mp4",
        ".mov",
        ".webm",
    }
)
#: Supported sample-rate range for inputs (Hz).
MIN_SAMPLE_RATE = 8_000
MAX_SAMPLE_RATE = 192_000
#: Peak amplitude at or below which a file counts as all-silent (about -90 dBFS).
SILENCE_PEAK = 10 ** (-90 / 20)


@dataclass(frozen=True)
class AudioInfo:
    """What the header says about a file."""

    path: str
    sample_rate: int
    channels: int
    frames: int
    format: str
    subtype: str

    @property
    def duration_seconds(self) -> float:
        return self.frames / self.sample_rate if self.sample_rate else 0.0


def _check_exists(path: Path) -> None:
    if not path.exists():
        raise AudioError(f"{path}: file not found")
    if not os.access(path, os.R_OK):
        raise AudioError(f"{path}: permission denied (this user may not read it; check its owner and mode)")
    if path.is_dir():
        raise AudioError(f"{path}: is a directory, not an audio file")
    if not path.is_file():  # a pipe or a device: decoders seek, and a pipe cannot be read twice
        raise AudioError(f"{path}: not a regular file (a pipe or device); save the audio to a file first")
    if path.stat().st_size == 0:
        raise AudioError(f"{path}: file is empty (0 bytes)")


def _check_rate(path: Path, sample_rate: int) -> None:
    if not MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE:
        raise AudioError(
            f"{path}: unsupported sample rate {sample_rate} Hz (supported: {MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz)"
        )


#: FFmpeg demuxers PyAV may use, matched against the format FFmpeg probes from the file's content
#: (``format_whitelist``): audio containers only. Playlists (hls), concat scripts, image and
#: video-only formats are refused, since some of them open other files or URLs by themselves.
AV_DEMUXERS = (
    "wav",
    "w64",
    "flac",
    "ogg",
    "mp3",
    "mov",
    "matroska",
    "aac",
    "ac3",
    "eac3",
    "aiff",
    "caf",
    "asf",
    "au",
    "wv",
    "ape",
    "dts",
    "amr",
)
#: Largest block a reader holds (samples over all channels): 8 M float32 samples, 32 MB.
MAX_BLOCK_SAMPLES = 2**23


def _av_open(path: Path):
    """``path`` opened by PyAV through the file protocol alone, as one of :data:`AV_DEMUXERS`."""
    import av

    options = {"format_whitelist": ",".join(AV_DEMUXERS), "protocol_whitelist": "file"}
    try:
        return av.open("file:" + os.path.abspath(path), container_options=options, metadata_errors="replace")
    except av.ArgumentError:  # FFmpeg's answer to a format off the whitelist (EINVAL)
        raise AudioError(
            f"{path}: not an audio container this reader opens (playlists, concat scripts, images "
            "and network streams are refused)"
        ) from None
    except (av.FFmpegError, UnicodeError) as exc:
        raise undecodable(path, exc) from None


def _av_planar(frames) -> Iterator[tuple[int, np.ndarray]]:
    """PyAV's decoded ``frames`` as ``(rate, planar float32 (channels, samples))`` blocks.

    Every block has the first frame's channel layout and rate: a stream may change them midway
    (AC-3 switching between 5.1 and stereo), and one resampler takes only one input setup.
    """
    import av

    resampler, setup, target = None, None, None
    for frame in frames:
        target = target or (frame.layout.name, frame.sample_rate)
        if (frame.format.name, frame.layout.name, frame.sample_rate) != setup:
            if resampler is not None:
                yield from ((target[1], f.to_ndarray()) for f in resampler.resample(None))
            resampler = av.AudioResampler(format="fltp", layout=target[0], rate=target[1])
            setup = (frame.format.name, frame.layout.name, frame.sample_rate)
        yield from ((target[1], f.to_ndarray()) for f in resampler.resample(frame))
    if resampler is not None:
        yield from ((target[1], f.to_ndarray()) for f in resampler.resample(None))


def _gathered(blocks: Iterator[tuple[int, np.ndarray]], block_seconds: float) -> Iterator[tuple[int, np.ndarray]]:
    """PyAV's frame-sized ``(rate, (channels, n))`` blocks joined into blocks of about ``block_seconds``."""
    pending, size, rate = [], 0, 0
    for rate, block in blocks:
        pending.append(block)
        size += block.shape[1]
        if size >= _block_frames(rate, block.shape[0], block_seconds):
            yield rate, np.concatenate(pending, axis=1)
            pending, size = [], 0
    if pending:
        yield rate, np.concatenate(pending, axis=1)


def _av_source(path: Path, block_seconds: float) -> Iterator[tuple[int, np.ndarray]]:
    """The file decoded by PyAV (M4A/AAC, WMA, Opus, video files) as ``(rate, (channels, n))`` blocks."""
    import av

    with _av_open(path) as container:
        stream = next((s for s in container.streams if s.type == "audio"), None)
        if stream is None:
            raise AudioError(f"{path}: not a readable audio file (no audio stream)")
        try:
            yield from _gathered(_av_planar(container.decode(stream)), block_seconds)
        except av.FFmpegError as exc:
            raise undecodable(path, exc) from None


def _block_frames(rate: int, channels: int, block_seconds: float) -> int:
    return max(1024, min(int(block_seconds * rate), MAX_BLOCK_SAMPLES // max(1, channels)))


def _sf_source(path: Path, block_seconds: float) -> Iterator[tuple[int, np.ndarray]]:
    """The file read by libsndfile in blocks, as ``(rate, (channels, n))``: never what the header
    declares at once (a damaged MP3 header can declare 10^10 frames)."""
    try:
        with sf.SoundFile(str(path)) as handle:
            block_frames = _block_frames(handle.samplerate, handle.channels, block_seconds)
            while True:
                block = handle.read(block_frames, dtype="float32", always_2d=True)
                if block.shape[0]:
                    yield handle.samplerate, block.T
                if block.shape[0] < block_frames:
                    return
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise AudioError(f"{path}: could not decode audio ({_reason(exc)})") from None


def _source(path: Path, block_seconds: float = 30.0) -> Iterator[tuple[int, np.ndarray]]:
    """Every decoder's output as ``(rate, float32 (channels, n))`` blocks of bounded size, checked
    finite: libsndfile when it reads the file, else PyAV."""
    reader = _sf_source if _soundfile_info(path) is not None else _av_source
    for rate, block in reader(path, block_seconds):
        _check_rate(path, rate)
        _check_finite(path, block)
        yield rate, block


def _soundfile_info(path: Path):
    """libsndfile's header of ``path`` (checked), or None when only PyAV can read the file."""
    _check_exists(path)
    try:
        with c_stderr_captured():
            meta = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError):
        return None
    if meta.frames <= 0:
        raise AudioError(f"{path}: audio has zero length")
    _check_rate(path, meta.samplerate)
    return meta


def info(path: str | os.PathLike) -> AudioInfo:
    """Header information of an audio file (counted block by block for formats libsndfile cannot read)."""
    path = Path(path)
    meta = _soundfile_info(path)
    if meta is None:
        rate, channels, frames = 0, 0, 0
        for block_rate, block in _source(path):
            rate, channels, frames = block_rate, block.shape[0], frames + block.shape[1]
        if not frames:
            raise undecodable(path)
        return AudioInfo(str(path), rate, channels, frames, "av", "FLOAT")
    return AudioInfo(str(path), meta.samplerate, meta.channels, meta.frames, meta.format, meta.subtype)


def declared_duration(path: str | os.PathLike) -> float | None:
    """The duration (s) a file's header declares, without decoding any audio: libsndfile's frame
    count, or the container's duration for PyAV formats; None when the header does not say.

    For limits checked before decoding (the server's duration cap); a header may lie, so
    :func:`stream` counts the samples too (``max_seconds``).
    """
    path = Path(path)
    meta = _soundfile_info(path)
    if meta is not None:
        return meta.frames / meta.samplerate if meta.samplerate > 0 else None
    import av

    with _av_open(path) as container:
        return container.duration / av.time_base if container.duration else None


def undecodable(path: Path, exc: Exception | None = None) -> AudioError:
    """The one message for bytes no decoder turns into audio (random data, a text file named .mp3)."""
    detail = f" ({getattr(exc, 'strerror', None) or _reason(exc)})" if exc is not None else ""
    return AudioError(
        f"{path}: not decodable audio{detail}; check that it is a complete audio file, or convert it to WAV or FLAC"
    )


_FD2_LOCK = threading.Lock()


@contextlib.contextmanager
def c_stderr_captured() -> Iterator[None]:
    """Keep what C decoders print on file descriptor 2 (mpg123's "Note: Illegal Audio-MPEG-Header"
    lines when libsndfile sniffs a file that is not MP3) off the terminal: our :class:`AudioError`
    says it in one line. Lines of anything else written meanwhile are passed on afterwards; one
    thread redirects at a time, for the short header reads this wraps."""
    with _FD2_LOCK, tempfile.TemporaryFile() as captured:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            others = [
                line
                for line in captured.read().decode("utf-8", "replace").splitlines(keepends=True)
                if not line.startswith(("Note: ", "Warning: ", "[src/libmpg123"))
            ]
            if others:
                sys.stderr.write("".join(others))


def _reason(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[-1] if text else type(exc).__name__


#: Largest sample magnitude accepted (+60 dB over full scale). Float audio is nominally within ±1;
#: samples far beyond mean a corrupt file, and from about 1e18 the spectrogram overflows float32.
MAX_ABS_SAMPLE = 1e3


def _check_finite(path: Path, block: np.ndarray) -> None:
    # max and min propagate NaN and keep ±inf: one pass each, no temporary arrays
    peak = max(float(block.max()), -float(block.min())) if block.size else 0.0
    if not math.isfinite(peak):
        raise AudioError(f"{path}: audio contains NaN or infinite samples")
    if peak > MAX_ABS_SAMPLE:
        raise AudioError(
            f"{path}: samples reach {peak:.3g}, far outside the ±1 full scale of float audio "
            f"(at most ±{MAX_ABS_SAMPLE:g} accepted); the file is corrupt or not audio"
        )


def to_mono(waveform: np.ndarray, *, channel_axis: int = 0) -> np.ndarray:
    """Average the channels of ``waveform`` (``(channels, samples)``, ``(samples, channels)`` with
    ``channel_axis=1``, or ``(samples,)``).

    Channel by channel, not ``mean``: numpy reduces a short axis about 40 times slower, which cost
    half a second per 10 minutes of stereo audio; and not a matrix product, whose BLAS threads
    keep spinning on every core after it returns, starving the model's threads beside the decoder
    (benchmarks/predict_speed.py measured the fast model 1.4x slower). Stereo sums exactly as the
    product did (halving is exact in float32).
    """
    waveform = np.asarray(waveform, dtype=np.float32)
    if waveform.ndim == 1:
        return waveform
    channels = np.moveaxis(waveform, channel_axis, 0)
    mono = channels[0].copy()
    for channel in channels[1:]:
        mono += channel
    mono *= np.float32(1.0 / len(channels))
    return mono


#: Most channels an in-memory array may have; it also tells ``(samples, channels)`` from ``(channels, samples)``.
MAX_CHANNELS = 64


def array_to_mono(
    waveform, sample_rate: int, *, name: str = "<waveform>", channels_first: bool | None = None
) -> np.ndarray:
    """An in-memory waveform as the predictor takes it → mono float32 in [-1, 1].

    Accepts ``(samples,)``, ``(samples, channels)`` as ``soundfile.read`` returns it, and
    ``(channels, samples)``; the layout is inferred when only one axis can be channels (at most
    :data:`MAX_CHANNELS`), else give ``channels_first``. Integer arrays are scaled by their dtype
    (int16 ÷ 32768, uint8 centred on 128…). The rate, NaN/Inf and magnitude checks are the file reader's.
    """
    array = np.asarray(waveform)
    if array.dtype.kind in "iu":
        info = np.iinfo(array.dtype)
        offset = (int(info.max) + 1) / 2 if array.dtype.kind == "u" else 0.0
        array = (array.astype(np.float64) - offset) / (int(info.max) + 1 - offset)
    elif array.dtype.kind != "f":
        raise AudioError(f"{name}: expected a numeric audio array, got dtype {array.dtype}")
    array = array.astype(np.float32, copy=False)
    _check_rate(Path(name), int(sample_rate))
    if array.ndim == 2:
        if channels_first is None:
            rows_are_channels, cols_are_channels = array.shape[0] <= MAX_CHANNELS, array.shape[1] <= MAX_CHANNELS
            if rows_are_channels == cols_are_channels:
                raise AudioError(
                    f"{name}: cannot tell channels from samples in an array of shape {array.shape}; "
                    "pass channels_first=True or False"
                )
            channels_first = rows_are_channels and not cols_are_channels
        array = to_mono(array, channel_axis=0 if channels_first else 1)
    elif array.ndim != 1:
        raise AudioError(f"{name}: expected a 1-d or 2-d audio array, got shape {array.shape}")
    _check_finite(Path(name), array)
    return array


def resample(waveform: np.ndarray, orig_sample_rate: int, target_sample_rate: int) -> np.ndarray:
    """Resample along the last axis with soxr (anti-aliased); a no-op when the rates match."""
    waveform = np.asarray(waveform, dtype=np.float32)
    if orig_sample_rate == target_sample_rate:
        return waveform
    if waveform.ndim == 1:
        return soxr.resample(waveform, orig_sample_rate, target_sample_rate).astype(np.float32, copy=False)
    out = soxr.resample(waveform.T, orig_sample_rate, target_sample_rate)
    return np.ascontiguousarray(out.T, dtype=np.float32)


def _capped(
    path: Path, blocks: Iterator[tuple[int, np.ndarray]], max_seconds: float | None
) -> Iterator[tuple[int, np.ndarray]]:
    """``blocks`` while the samples counted so far fit ``max_seconds`` (None: no cap); AudioError
    past it, whatever the header said."""
    frames = 0
    for rate, block in blocks:
        frames += block.shape[-1]
        if max_seconds is not None and frames > max_seconds * rate:
            raise AudioError(f"{path}: audio is longer than the {max_seconds:g} s limit")
        yield rate, block


def load(
    path: str | os.PathLike,
    *,
    sample_rate: int | None = None,
    mono: bool = True,
    max_seconds: float | None = None,
) -> tuple[np.ndarray, int]:
    """Decode a whole file.

    Parameters
    ----------
    path : audio file (any format soundfile or PyAV reads).
    sample_rate : resample to this rate (Hz); ``None`` keeps the file's rate.
    mono : down-mix to ``shape=(samples,)``; otherwise ``shape=(channels, samples)``.
    max_seconds : refuse (AudioError) audio longer than this, counted while decoding.

    Returns
    -------
    (waveform, sample_rate) with float32 samples in [-1, 1] for integer formats.
    """
    path = Path(path)
    rate, blocks = 0, []
    for block_rate, block in _capped(path, _source(path), max_seconds):
        rate = block_rate
        blocks.append(to_mono(block) if mono else block)
    if not blocks:
        raise undecodable(path)
    waveform = np.ascontiguousarray(np.concatenate(blocks, axis=-1), dtype=np.float32)
    if sample_rate is not None and sample_rate != rate:
        frames = waveform.shape[-1]
        waveform, rate = resample(waveform, rate, sample_rate), sample_rate
        if waveform.shape[-1] == 0:
            raise AudioError(f"{path}: audio has zero length at {sample_rate} Hz ({frames} frame(s) before resampling)")
    return waveform, rate


def stream(
    path: str | os.PathLike,
    *,
    sample_rate: int,
    block_seconds: float = 30.0,
    max_seconds: float | None = None,
) -> Iterator[np.ndarray]:
    """Yield mono float32 blocks of the file resampled to ``sample_rate``.

    Memory stays bounded by ``block_seconds`` whatever the file's length and decoder: blocks are
    decoded one at a time (libsndfile or PyAV) and resampled with a streaming soxr resampler, so
    the concatenated blocks equal (to resampler precision) :func:`load` of the whole file.
    ``max_seconds`` stops decoding with an AudioError once more audio than that has been counted.
    """
    path = Path(path)
    resampler, produced, frames = None, 0, 0
    for rate, block in _capped(path, _source(path, block_seconds), max_seconds):
        frames += block.shape[1]
        mono = to_mono(block)
        if rate != sample_rate:
            resampler = resampler or soxr.ResampleStream(rate, sample_rate, 1, dtype="float32")
            mono = resampler.resample_chunk(np.ascontiguousarray(mono))
        if mono.size:
            produced += mono.size
            yield mono.astype(np.float32, copy=False)
    tail = resampler.resample_chunk(np.zeros(0, np.float32), last=True) if resampler else np.zeros(0, np.float32)
    if tail.size:
        produced += tail.size
        yield tail
    if not frames:  # no decoder turned the bytes into audio
        raise undecodable(path)
    if not produced:  # too few frames to resample
        raise AudioError(f"{path}: audio has zero length at {sample_rate} Hz ({frames} frame(s) decoded)")


def write(
    path: str | os.PathLike,
    waveform: np.ndarray,
    sample_rate: int,
    *,
    subtype: str = "PCM_16",
) -> Path:
    """Write a WAV/FLAC/OGG atomically (to a temporary file, then renamed into place).

    ``waveform`` is ``(samples,)`` or ``(channels, samples)``; the format follows the suffix.
    """
    path = Path(path)
    data = np.asarray(waveform, dtype=np.float32)
    data = data.T if data.ndim == 2 else data
    with atomic_path(path, suffix=path.suffix or ".wav") as tmp:
        sf.write(tmp, data, sample_rate, subtype=subtype, format=(path.suffix.lstrip(".") or "wav").upper())
    return path
