"""Spectrogram front-ends as torch modules, and the normalisation statistics.

:class:`LogMel` turns a batch of mono waveforms ``(batch, samples)`` into log-mel
spectrograms ``(batch, 1, n_mels, frames)``. It matches ``librosa.feature.melspectrogram``
(``center=True``, ``pad_mode="constant"``, Hann window, Slaney mel scale and norm) followed by
``librosa.power_to_db(S, ref=1.0, amin=1e-10, top_db=top_db)`` to within 1e-3 dB on float32
input (``tests/test_features.py`` proves it), so models trained elsewhere on librosa features
read ours.

The feature config is a plain dict (``{"name": "logmel", "n_fft": ..., ...}``) stored in
every bundle; :func:`build_frontend` rebuilds the module from it, so it lives in one place.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from instrumentid.errors import ConfigError


@dataclass(frozen=True)
class LogMelConfig:
    """Parameters of the log-mel front-end (librosa names)."""

    sample_rate: int = 16_000
    n_fft: int = 1024
    hop_length: int = 320
    n_mels: int = 64
    fmin: float = 30.0
    fmax: float = 8000.0
    top_db: float | None = 80.0

    def to_dict(self) -> dict:
        return {"name": "logmel", **asdict(self)}

    def frames(self, n_samples: int) -> int:
        """Number of frames for ``n_samples`` input samples (``center=True``)."""
        return 1 + n_samples // self.hop_length


def _hz_to_mel(freq: np.ndarray) -> np.ndarray:
    """Slaney mel scale (librosa's default ``htk=False``)."""
    freq = np.asarray(freq, dtype=np.float64)
    f_sp = 200.0 / 3
    mels = freq / f_sp
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = math.log(6.4) / 27.0
    return np.where(freq >= min_log_hz, min_log_mel + np.log(np.maximum(freq, 1e-10) / min_log_hz) / logstep, mels)


def _mel_to_hz(mels: np.ndarray) -> np.ndarray:
    mels = np.asarray(mels, dtype=np.float64)
    f_sp = 200.0 / 3
    freqs = f_sp * mels
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = math.log(6.4) / 27.0
    return np.where(mels >= min_log_mel, min_log_hz * np.exp(logstep * (mels - min_log_mel)), freqs)


def _hz_to_mel_htk(freq: np.ndarray) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + np.asarray(freq, dtype=np.float64) / 700.0)


def _mel_to_hz_htk(mels: np.ndarray) -> np.ndarray:
    return 700.0 * (10.0 ** (np.asarray(mels, dtype=np.float64) / 2595.0) - 1.0)


def mel_filterbank(*, sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float,
                   htk: bool = False, norm: bool = True) -> np.ndarray:
    """Triangular mel filters, ``shape=(n_mels, 1 + n_fft // 2)``.

    ``htk=False, norm=True`` is librosa's default (Slaney scale, area-normalised);
    ``htk=True, norm=False`` is YAMNet's (``librosa.filters.mel(htk=True, norm=None)``).
    """
    to_mel, to_hz = (_hz_to_mel_htk, _mel_to_hz_htk) if htk else (_hz_to_mel, _mel_to_hz)
    fft_freqs = np.linspace(0, sample_rate / 2, 1 + n_fft // 2)
    mel_points = to_hz(np.linspace(to_mel(fmin), to_mel(fmax), n_mels + 2))
    fdiff = np.diff(mel_points)
    ramps = mel_points[:, None] - fft_freqs[None, :]
    weights = np.zeros((n_mels, len(fft_freqs)))
    for i in range(n_mels):
        lower = -ramps[i] / fdiff[i]
        upper = ramps[i + 2] / fdiff[i + 1]
        weights[i] = np.maximum(0, np.minimum(lower, upper))
    if norm:
        weights *= (2.0 / (mel_points[2 : n_mels + 2] - mel_points[:n_mels]))[:, None]
    return weights.astype(np.float32)


def stft_power(waveform: torch.Tensor, n_fft: int, hop_length: int, window: torch.Tensor) -> torch.Tensor:
    """|STFT|² ``(batch, 1 + n_fft // 2, frames)`` of frames at 0, hop, 2·hop, … (no centring).

    While exporting to ONNX (no complex tensors there) it takes the real-valued form that maps
    onto ONNX's ``STFT`` operator (opset 17); the numbers are the same.
    """
    if torch.onnx.is_in_onnx_export():
        spec = torch.stft(waveform, n_fft, hop_length, window=window, center=False, return_complex=False)
        return spec.square().sum(-1)
    spec = torch.stft(waveform, n_fft, hop_length, window=window, center=False, return_complex=True)
    return spec.real.square() + spec.imag.square()


class _MelModule(nn.Module):
    """Holds a config, its analysis window and its mel filterbank as (non-persistent) buffers."""

    def __init__(self, config, window_length: int, *, htk: bool = False, norm: bool = True) -> None:
        super().__init__()
        self.config = c = config
        if c.fmax > c.sample_rate / 2:
            raise ConfigError(f"fmax={c.fmax} Hz is above the Nyquist frequency {c.sample_rate / 2} Hz")
        self.register_buffer("window", torch.hann_window(window_length, periodic=True), persistent=False)
        fb = mel_filterbank(sample_rate=c.sample_rate, n_fft=c.n_fft, n_mels=c.n_mels, fmin=c.fmin, fmax=c.fmax,
                            htk=htk, norm=norm)
        self.register_buffer("mel_basis", torch.from_numpy(fb), persistent=False)


class LogMel(_MelModule):
    """Waveforms ``(batch, samples)`` → log-mel dB ``(batch, 1, n_mels, frames)``.

    ``top_db`` clips each example to ``max - top_db`` like ``librosa.power_to_db``.
    """

    def __init__(self, config: LogMelConfig | None = None, **params) -> None:
        config = config or LogMelConfig(**params)
        super().__init__(config, config.n_fft)

    def power_mel(self, waveform: torch.Tensor) -> torch.Tensor:
        """Mel power spectrogram ``(batch, n_mels, frames)``."""
        c = self.config
        # center=True with pad_mode="constant", spelled out so the ONNX export frames alike
        padded = torch.nn.functional.pad(waveform, (c.n_fft // 2, c.n_fft // 2))
        return torch.matmul(self.mel_basis, stft_power(padded, c.n_fft, c.hop_length, self.window))

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        if waveform.dim() == 1:
            waveform = waveform.unsqueeze(0)
        db = 10.0 * torch.log10(torch.clamp(self.power_mel(waveform), min=1e-10))
        if self.config.top_db is not None:
            peak = db.amax(dim=(-2, -1), keepdim=True)
            db = torch.maximum(db, peak - self.config.top_db)
        return db.unsqueeze(1)


@dataclass(frozen=True)
class YamnetMelConfig:
    """YAMNet's front-end (AudioSet-trained weights expect exactly this input).

    16 kHz mono; frames of ``win_length`` samples every ``hop_length`` (no centring, no
    padding), periodic Hann window, |FFT| of ``n_fft`` points (magnitude, not power),
    ``n_mels`` HTK-scale triangles from ``fmin`` to ``fmax`` without area normalisation,
    ``log(mel + log_offset)``.
    """

    sample_rate: int = 16_000
    n_fft: int = 512
    win_length: int = 400
    hop_length: int = 160
    n_mels: int = 64
    fmin: float = 125.0
    fmax: float = 7500.0
    log_offset: float = 0.001

    def to_dict(self) -> dict:
        return {"name": "yamnet", **asdict(self)}

    def frames(self, n_samples: int) -> int:
        """Number of frames for ``n_samples`` input samples (at least one: short input is padded)."""
        return max(1, 1 + (n_samples - self.win_length) // self.hop_length)


class YamnetLogMel(_MelModule):
    """Waveforms ``(batch, samples)`` → YAMNet log-mel ``(batch, 1, n_mels, frames)``.

    Frames start at 0, 160, 320, … and span 400 samples, as ``tf.signal.stft`` frames them
    for YAMNet; input shorter than one frame is zero-padded to one frame.
    """

    def __init__(self, config: YamnetMelConfig | None = None, **params) -> None:
        config = config or YamnetMelConfig(**params)
        super().__init__(config, config.win_length, htk=True, norm=False)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        c = self.config
        if waveform.dim() == 1:
            waveform = waveform.unsqueeze(0)
        if waveform.shape[-1] < c.win_length:
            waveform = torch.nn.functional.pad(waveform, (0, c.win_length - waveform.shape[-1]))
        if torch.onnx.is_in_onnx_export():
            # the same frames as one STFT: the window zero-padded to n_fft, the signal padded so the
            # last frame that fits win_length is kept
            window = torch.nn.functional.pad(self.window, (0, c.n_fft - c.win_length))
            padded = torch.nn.functional.pad(waveform, (0, c.n_fft - c.win_length))
            magnitude = stft_power(padded, c.n_fft, c.hop_length, window).sqrt()  # (batch, bins, frames)
            return torch.log(torch.matmul(self.mel_basis, magnitude) + c.log_offset).unsqueeze(1)
        frames = waveform.unfold(-1, c.win_length, c.hop_length) * self.window  # (batch, frames, win)
        magnitude = torch.fft.rfft(frames, n=c.n_fft).abs()  # (batch, frames, 1 + n_fft // 2)
        mel = torch.matmul(magnitude, self.mel_basis.T)  # (batch, frames, n_mels)
        return torch.log(mel + c.log_offset).transpose(1, 2).unsqueeze(1)


@dataclass(frozen=True)
class WaveformConfig:
    """The raw-waveform "front-end" of models that learn their own filters (Wav2Vec2)."""

    sample_rate: int = 16_000

    def to_dict(self) -> dict:
        return {"name": "waveform", **asdict(self)}


class Waveform(nn.Module):
    """Waveforms ``(batch, samples)`` → ``(batch, 1, samples)``."""

    def __init__(self, config: WaveformConfig | None = None, **params) -> None:
        super().__init__()
        self.config = config or WaveformConfig(**params)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        return (waveform if waveform.dim() == 2 else waveform.unsqueeze(0)).unsqueeze(1)


class Normalize(nn.Module):
    """``(x - mean) / std`` with statistics stored as buffers (and in the bundle)."""

    def __init__(self, mean: float = 0.0, std: float = 1.0) -> None:
        super().__init__()
        if not std > 0:
            raise ConfigError(f"normalisation std must be positive, got {std}")
        self.register_buffer("mean", torch.tensor(float(mean)), persistent=False)
        self.register_buffer("std", torch.tensor(float(std)), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class Frontend(nn.Sequential):
    """Feature extractor + normalisation: what turns window waveforms into model input."""

    def __init__(self, features: nn.Module, normalize: Normalize) -> None:
        super().__init__(features, normalize)

    @property
    def features(self) -> nn.Module:
        return self[0]


FEATURES = {
    "logmel": (LogMel, LogMelConfig),
    "yamnet": (YamnetLogMel, YamnetMelConfig),
    "waveform": (Waveform, WaveformConfig),
}


def feature_config(name: str = "logmel", **params) -> dict:
    """A validated feature config dict (defaults filled in)."""
    if name not in FEATURES:
        raise ConfigError(f"unknown feature front-end {name!r}; available: {', '.join(FEATURES)}")
    _, config_cls = FEATURES[name]
    known = set(config_cls.__dataclass_fields__)
    unknown = set(params) - known
    if unknown:
        raise ConfigError(f"unknown {name} parameter(s): {', '.join(sorted(unknown))}")
    return config_cls(**params).to_dict()


def build_frontend(features: Mapping, normalization: Mapping | None = None) -> Frontend:
    """Rebuild the front-end from a feature config dict and ``{"mean", "std"}``."""
    params = dict(features)
    name = params.pop("name", "logmel")
    module_cls, config_cls = FEATURES[name] if name in FEATURES else (None, None)
    if module_cls is None:
        raise ConfigError(f"unknown feature front-end {name!r}; available: {', '.join(FEATURES)}")
    normalization = normalization or {"mean": 0.0, "std": 1.0}
    return Frontend(module_cls(config_cls(**params)), Normalize(normalization["mean"], normalization["std"]))


@torch.inference_mode()
def compute_normalization(features: nn.Module, batches: Iterable[torch.Tensor]) -> dict[str, float]:
    """Global mean/std of the features over waveform batches (streaming, float64 sums)."""
    total, total_sq, count = 0.0, 0.0, 0
    for waveform in batches:
        x = features(waveform).double()
        total += float(x.sum())
        total_sq += float(x.square().sum())
        count += x.numel()
    if count == 0:
        raise ConfigError("cannot compute normalisation statistics from an empty dataset")
    mean = total / count
    std = math.sqrt(max(total_sq / count - mean * mean, 1e-12))
    return {"mean": mean, "std": std}
