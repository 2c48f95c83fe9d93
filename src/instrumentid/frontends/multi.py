"""Several views of one window stacked as input channels ``(batch, len(channels), n_mels, frames)``.

Channels, in the order given (the original team filled a CNN's three input channels this way):

==========  ===================================================================================
mel         the log-mel dB spectrogram (:class:`instrumentid.frontends.core.LogMel`)
mfcc        its ``n_mfcc`` MFCCs, linearly upsampled along the coefficient axis to ``n_mels`` rows
harmonic    log-mel of the harmonic part of the STFT (sustained tones: bowed, blown, sung)
percussive  log-mel of the percussive part (onsets: plucks, hammers, drums)
==========  ===================================================================================

The harmonic/percussive split is librosa's ``decompose.hpss`` (Fitzgerald's median filtering)
applied to the mel magnitude ``M = sqrt(mel power)``: medians across ``harmonic_kernel`` frames
and across ``percussive_kernel`` mel bands, soft masks with power 2, mirrored (``reflect``)
edges; ``harmonic`` is ``power_to_db(H²)`` for ``H, P = hpss(M, kernel_size=(harmonic_kernel,
percussive_kernel))`` (``tests/test_frontends.py``). Splitting the 64 mel bands rather than
the 513 STFT bins is about 8x cheaper (the exact medians dominate the cost) and keeps the
split on the scale the model sees. Channels have different scales, so the bundle stores one
mean/std per channel.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from instrumentid.errors import ConfigError
from instrumentid.frontends.core import FeatureExtractor, LogMel, LogMelConfig, register_frontend
from instrumentid.frontends.mfcc import dct_matrix, mel_config_of

CHANNELS = ("mel", "mfcc", "harmonic", "percussive")


@dataclass(frozen=True)
class MultiConfig(LogMelConfig):
    """The log-mel's parameters (inherited), the channels to stack, ``n_mfcc``, and the median
    filter lengths of the harmonic/percussive split (frames, mel bands)."""

    channels: tuple[str, ...] = CHANNELS
    n_mfcc: int = 20
    harmonic_kernel: int = 31
    percussive_kernel: int = 9

    def __post_init__(self) -> None:
        object.__setattr__(self, "channels", tuple(self.channels))
        unknown = [c for c in self.channels if c not in CHANNELS]
        if not self.channels or unknown or len(set(self.channels)) != len(self.channels):
            raise ConfigError(
                f"multi channels must be distinct names from {', '.join(CHANNELS)}, got {list(self.channels)}"
            )
        if not 1 <= self.n_mfcc <= self.n_mels:
            raise ConfigError(f"n_mfcc must be between 1 and n_mels={self.n_mels}, got {self.n_mfcc}")
        for name in ("harmonic_kernel", "percussive_kernel"):
            if getattr(self, name) < 1 or getattr(self, name) % 2 == 0:
                raise ConfigError(f"{name} must be an odd positive number, got {getattr(self, name)}")

    def to_dict(self) -> dict:
        return {"name": "multi", **asdict(self), "channels": list(self.channels)}


def median_filter(x: torch.Tensor, kernel: int, dim: int) -> torch.Tensor:
    """Running median of ``kernel`` values along ``dim``, edges mirrored (scipy's ``reflect``)."""
    half = kernel // 2
    if half == 0:
        return x
    x = x.transpose(dim, -1)
    if x.shape[-1] < half:
        raise ConfigError(f"a median filter of {kernel} is too wide for {x.shape[-1]} frames or bands")
    n = x.shape[-1]
    padded = torch.cat([x[..., :half].flip(-1), x, x[..., -half:].flip(-1)], dim=-1)
    windows = torch.stack([padded[..., i : i + n] for i in range(kernel)], dim=-1)  # exports, unlike unfold
    if torch.onnx.is_in_onnx_export():  # ONNX has no median: the middle of the sorted window
        return windows.sort(dim=-1).values[..., half].transpose(dim, -1)
    return windows.median(dim=-1).values.transpose(dim, -1)


def hpss_masks(
    magnitude: torch.Tensor, harmonic_kernel: int, percussive_kernel: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Soft harmonic and percussive masks (power 2) of ``(batch, bins, frames)`` magnitudes."""
    harmonic = median_filter(magnitude, harmonic_kernel, dim=-1).square()
    percussive = median_filter(magnitude, percussive_kernel, dim=-2).square()
    total = harmonic + percussive
    silent = total <= torch.finfo(total.dtype).tiny  # both medians zero: split evenly, as librosa does
    safe = torch.where(silent, torch.ones_like(total), total)
    mask = torch.where(silent, torch.full_like(total, 0.5), harmonic / safe)
    return mask, torch.where(silent, mask, 1.0 - mask)


class MultiChannel(FeatureExtractor):
    """Waveforms ``(batch, samples)`` → ``(batch, len(channels), n_mels, frames)``."""

    def __init__(self, config: MultiConfig | None = None, **params) -> None:
        super().__init__()
        self.config = c = config or MultiConfig(**params)
        self.logmel = LogMel(mel_config_of(c))
        self.register_buffer("dct", torch.from_numpy(dct_matrix(c.n_mfcc, c.n_mels)), persistent=False)

    def _mfcc_upsampled(self, mel_db: torch.Tensor) -> torch.Tensor:
        coefficients = torch.matmul(self.dct, mel_db)  # (batch, n_mfcc, frames)
        stretched = F.interpolate(
            coefficients.transpose(1, 2), size=self.config.n_mels, mode="linear", align_corners=True
        )
        return stretched.transpose(1, 2)

    def extract(self, waveform: torch.Tensor) -> torch.Tensor:
        c = self.config
        mel_power = self.logmel.power_mel(waveform)
        views: dict[str, torch.Tensor] = {}
        if {"mel", "mfcc"} & set(c.channels):
            views["mel"] = self.logmel.to_db(mel_power)
            views["mfcc"] = self._mfcc_upsampled(views["mel"])
        if {"harmonic", "percussive"} & set(c.channels):
            harmonic, percussive = hpss_masks(mel_power.sqrt(), c.harmonic_kernel, c.percussive_kernel)
            views["harmonic"] = self.logmel.to_db(mel_power * harmonic.square())
            views["percussive"] = self.logmel.to_db(mel_power * percussive.square())
        return torch.stack([views[name] for name in self.config.channels], dim=1)


register_frontend("multi", MultiChannel, MultiConfig)
