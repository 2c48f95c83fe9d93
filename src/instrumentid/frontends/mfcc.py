"""MFCCs of the log-mel spectrogram, with optional delta and delta-delta channels.

Matches ``librosa.feature.mfcc(y=y, sr=sr, n_mfcc=..., n_fft=..., hop_length=..., n_mels=...,
fmin=..., fmax=...)`` (DCT-II, ``norm="ortho"``, of ``power_to_db`` of the mel power with
``top_db=80``), and ``librosa.feature.delta(mfcc, width=delta_width, order=1 | 2)``
(Savitzky-Golay derivative, ``mode="interp"`` at the edges); ``tests/test_frontends.py``
proves both. Deltas are stacked as channels: ``(batch, 1 + deltas, n_mfcc, frames)``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F

from instrumentid.errors import ConfigError
from instrumentid.frontends.core import FeatureExtractor, LogMel, LogMelConfig, register_frontend


@dataclass(frozen=True)
class MfccConfig(LogMelConfig):
    """The log-mel's parameters (inherited) plus ``n_mfcc`` coefficients and ``deltas`` (0, 1 or 2)."""

    n_mfcc: int = 20
    deltas: int = 0
    delta_width: int = 9

    def __post_init__(self) -> None:
        if not 1 <= self.n_mfcc <= self.n_mels:
            raise ConfigError(f"n_mfcc must be between 1 and n_mels={self.n_mels}, got {self.n_mfcc}")
        if self.deltas not in (0, 1, 2):
            raise ConfigError(f"deltas must be 0, 1 or 2, got {self.deltas}")
        if self.delta_width < 3 or self.delta_width % 2 == 0:
            raise ConfigError(f"delta_width must be an odd number >= 3, got {self.delta_width}")

    def to_dict(self) -> dict:
        return {"name": "mfcc", **asdict(self)}


def mel_config_of(config) -> LogMelConfig:
    """The :class:`LogMelConfig` part of a front-end config that builds on the log-mel."""
    return LogMelConfig(**{name: getattr(config, name) for name in LogMelConfig.__dataclass_fields__})


def dct_matrix(n_out: int, n_in: int) -> np.ndarray:
    """Orthonormal DCT-II basis ``(n_out, n_in)`` (``scipy.fft.dct(type=2, norm="ortho")`` rows)."""
    k = np.arange(n_out)[:, None]
    n = np.arange(n_in)[None, :]
    basis = np.cos(np.pi * k * (2 * n + 1) / (2 * n_in)) * math.sqrt(2.0 / n_in)
    basis[0] /= math.sqrt(2.0)
    return basis.astype(np.float32)


def savgol_derivative(width: int, order: int) -> np.ndarray:
    """Savitzky-Golay weights of the ``order``-th derivative at a window's centre, fitting a
    polynomial of degree ``order`` (what ``librosa.feature.delta`` asks ``savgol_filter`` for)."""
    half = width // 2
    k = np.arange(-half, half + 1, dtype=np.float64)
    vandermonde = k[:, None] ** np.arange(order + 1)[None, :]
    return (math.factorial(order) * np.linalg.pinv(vandermonde)[order]).astype(np.float32)


def deltas(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Derivative along the last axis of ``x`` with Savitzky-Golay ``kernel`` ``(width,)``.

    At the edges the polynomial fitted to the first (last) ``width`` frames has a constant
    derivative of this order, so ``mode="interp"`` equals repeating the first (last) full value.
    """
    width = kernel.numel()
    if x.shape[-1] < width:
        raise ConfigError(f"deltas need at least delta_width={width} frames; this window gives {x.shape[-1]}")
    flat = x.reshape(-1, 1, x.shape[-1])
    valid = F.conv1d(flat, kernel.view(1, 1, -1))
    return F.pad(valid, (width // 2, width // 2), mode="replicate").reshape(x.shape)


class Mfcc(FeatureExtractor):
    """Waveforms ``(batch, samples)`` → MFCCs ``(batch, 1 + deltas, n_mfcc, frames)``."""

    def __init__(self, config: MfccConfig | None = None, **params) -> None:
        super().__init__()
        self.config = c = config or MfccConfig(**params)
        self.logmel = LogMel(mel_config_of(c))
        self.register_buffer("dct", torch.from_numpy(dct_matrix(c.n_mfcc, c.n_mels)), persistent=False)
        kernels = (
            np.stack([savgol_derivative(c.delta_width, order) for order in range(1, c.deltas + 1)])
            if c.deltas
            else np.zeros((0, c.delta_width), dtype=np.float32)
        )
        self.register_buffer("delta_kernels", torch.from_numpy(kernels), persistent=False)

    def cepstra(self, log_mel: torch.Tensor) -> torch.Tensor:
        """``(batch, n_mels, frames)`` log-mel dB → ``(batch, n_mfcc, frames)`` coefficients."""
        return torch.matmul(self.dct, log_mel)

    def extract(self, waveform: torch.Tensor) -> torch.Tensor:
        coefficients = self.cepstra(self.logmel.to_db(self.logmel.power_mel(waveform)))
        channels = [coefficients] + [deltas(coefficients, kernel) for kernel in self.delta_kernels]
        return torch.stack(channels, dim=1)


register_frontend("mfcc", Mfcc, MfccConfig)
