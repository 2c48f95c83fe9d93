"""A constant-Q wavelet filterbank: librosa's pseudo-CQT in torch, dB- or log-scaled.

Each of ``n_bins`` wavelets is a Hann-windowed complex exponential at ``fmin · 2^(k /
bins_per_octave)`` whose length is ``Q · sample_rate / f`` (``Q = filter_scale / α``, α the
relative bandwidth of one bin): a constant-Q (continuous-wavelet-style) analysis, long
windows for low notes and short ones for high notes. As in ``librosa.pseudo_cqt`` the
wavelets' magnitude responses are applied to one STFT whose size fits the longest wavelet,
so the time resolution is that of the STFT hop. Matches ``librosa.pseudo_cqt(y, sr=...,
hop_length=..., fmin=..., n_bins=..., bins_per_octave=..., filter_scale=..., tuning=0.0,
sparsity=0.0)`` followed by ``amplitude_to_db(C, ref=1.0, amin=1e-5, top_db=top_db)``
(``scale="db"``), or ``log(C + log_offset)`` (``scale="log"``); ``tests/test_frontends.py``
checks the dB form against librosa.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch

from instrumentid.errors import ConfigError
from instrumentid.frontends.core import FeatureExtractor, register_frontend
from instrumentid.frontends.dsp import power_to_db, stft_power

#: Equivalent noise bandwidth of the Hann window, in FFT bins (librosa's ``WINDOW_BANDWIDTHS``).
HANN_BANDWIDTH = 1.50018310546875
SCALES = ("db", "log")


#: Longest wavelet a config may ask for: its FFT and every bin's response are that long, so a
#: crafted bundle's fmin of 0.001 Hz would allocate gigabytes (the default's is about 5,000).
MAX_WAVELET_SAMPLES = 1 << 18


@dataclass(frozen=True)
class WaveletConfig:
    """Constant-Q filterbank parameters (librosa names); ``scale`` is ``db`` or ``log``."""

    sample_rate: int = 16_000
    hop_length: int = 320
    fmin: float = 55.0
    n_bins: int = 84
    bins_per_octave: int = 12
    filter_scale: float = 1.0
    scale: str = "db"
    top_db: float | None = 80.0
    log_offset: float = 1e-3

    def __post_init__(self) -> None:
        if self.scale not in SCALES:
            raise ConfigError(f"wavelet scale must be one of {', '.join(SCALES)}, got {self.scale!r}")
        if self.n_bins < 2 or self.bins_per_octave < 1 or not self.fmin > 0 or not self.filter_scale > 0:
            raise ConfigError("wavelet needs n_bins >= 2, bins_per_octave >= 1, fmin > 0 and filter_scale > 0")
        freqs, q = self.frequencies(), self.quality()
        longest = q * self.sample_rate / self.fmin  # the lowest bin's wavelet, in samples
        if longest > MAX_WAVELET_SAMPLES:
            raise ConfigError(
                f"the lowest wavelet would span {longest:,.0f} samples (at most {MAX_WAVELET_SAMPLES:,}): "
                "raise fmin or lower filter_scale"
            )
        cutoff = float(np.max(freqs * (1 + 0.5 * HANN_BANDWIDTH / q)))
        if cutoff > self.sample_rate / 2:
            raise ConfigError(
                f"wavelet bins reach {cutoff:.0f} Hz, above the Nyquist frequency "
                f"{self.sample_rate / 2:g} Hz: lower fmin or n_bins"
            )

    def to_dict(self) -> dict:
        return {"name": "wavelet", **asdict(self)}

    def frequencies(self) -> np.ndarray:
        """Centre frequency of every bin (Hz), ``(n_bins,)``."""
        return self.fmin * 2.0 ** (np.arange(self.n_bins) / self.bins_per_octave)

    def quality(self) -> float:
        """The constant Q: centre frequency over bandwidth, times ``filter_scale``."""
        step = 2.0 ** (2.0 / self.bins_per_octave)
        return self.filter_scale / ((step - 1) / (step + 1))


def wavelet_basis(config: WaveletConfig) -> tuple[np.ndarray, int]:
    """Magnitude responses of the wavelets on an ``n_fft``-point STFT: ``((n_bins, 1 + n_fft // 2), n_fft)``."""
    freqs = config.frequencies()
    lengths = config.quality() * config.sample_rate / freqs
    max_len = int(2.0 ** np.ceil(np.log2(lengths.max())))
    n_fft = max(max_len, int(2.0 ** (1 + np.ceil(np.log2(config.hop_length)))))
    basis = np.zeros((len(freqs), max_len), dtype=np.complex128)
    for k, (length, freq) in enumerate(zip(lengths, freqs, strict=True)):
        n = np.arange(-length // 2, length // 2, dtype=np.float64)
        window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(len(n)) / len(n))  # periodic Hann
        wavelet = np.exp(2j * np.pi * freq / config.sample_rate * n) * window
        wavelet /= np.abs(wavelet).sum()
        start = (max_len - len(n)) // 2
        basis[k, start : start + len(n)] = wavelet * length / n_fft
    response = np.abs(np.fft.fft(basis, n=n_fft, axis=1)[:, : n_fft // 2 + 1])
    return response.astype(np.float32), n_fft


class Wavelet(FeatureExtractor):
    """Waveforms ``(batch, samples)`` → constant-Q spectrogram ``(batch, 1, n_bins, frames)``."""

    def __init__(self, config: WaveletConfig | None = None, **params) -> None:
        super().__init__()
        self.config = config or WaveletConfig(**params)
        basis, self.n_fft = wavelet_basis(self.config)
        self.register_buffer("basis", torch.from_numpy(basis), persistent=False)
        self.register_buffer("window", torch.hann_window(self.n_fft, periodic=True), persistent=False)

    def magnitude(self, waveform: torch.Tensor) -> torch.Tensor:
        """Constant-Q magnitude ``(batch, n_bins, frames)`` (librosa's ``scale=True`` normalisation)."""
        padded = torch.nn.functional.pad(waveform, (self.n_fft // 2, self.n_fft // 2))  # center=True, zeros
        power = stft_power(padded, self.n_fft, self.config.hop_length, self.window)
        return torch.matmul(self.basis, power.sqrt()) / math.sqrt(self.n_fft)

    def extract(self, waveform: torch.Tensor) -> torch.Tensor:
        c = self.magnitude(waveform)
        if self.config.scale == "db":  # amplitude_to_db(C, amin=1e-5) == power_to_db(C², amin=1e-10)
            scaled = power_to_db(c.square(), top_db=self.config.top_db, amin=1e-10)
        else:
            scaled = torch.log(c + self.config.log_offset)
        return scaled.unsqueeze(1)


register_frontend("wavelet", Wavelet, WaveletConfig)
