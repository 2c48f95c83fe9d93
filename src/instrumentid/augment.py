"""Batch augmentations that run on the batch's device (waveforms and spectrograms).

Each transform is an ``nn.Module`` that acts only in training mode and draws its random
values with ``torch`` (seeded by Lightning's ``seed_everything``). Waveform transforms take
``(waveform (batch, samples), targets (batch, n_labels))`` and return both, so mixing can
update labels; :class:`SpecAugment` works on features ``(batch, 1, n_mels, frames)``.
"""

from __future__ import annotations

import torch
from torch import nn


def _uniform(low: float, high: float, size: int, device) -> torch.Tensor:
    return torch.rand(size, device=device) * (high - low) + low


class RandomGain(nn.Module):
    """Scale each example by a gain drawn in ``[min_gain_db, max_gain_db]``."""

    def __init__(self, min_gain_db: float = -12.0, max_gain_db: float = 6.0, p: float = 0.8) -> None:
        super().__init__()
        self.min_gain_db, self.max_gain_db, self.p = min_gain_db, max_gain_db, p

    def forward(self, waveform, targets):
        if not self.training or self.p <= 0:
            return waveform, targets
        batch = waveform.shape[0]
        gain_db = _uniform(self.min_gain_db, self.max_gain_db, batch, waveform.device)
        apply = torch.rand(batch, device=waveform.device) < self.p
        gain = torch.where(apply, 10 ** (gain_db / 20), torch.ones_like(gain_db))
        return waveform * gain[:, None], targets


class MixClips(nn.Module):
    """Sum-N mixing: add up to ``max_extra`` other examples of the batch, labels united.

    Each added clip is scaled to ``[min_rel_db, max_rel_db]`` relative to the RMS of the
    example it joins, so the original stays predominant or comparable. Adding an all-negative
    clip (speech, noise, drums) puts a real background under a positive.
    """

    def __init__(self, p: float = 0.5, max_extra: int = 2, min_rel_db: float = -12.0, max_rel_db: float = 0.0) -> None:
        super().__init__()
        self.p, self.max_extra, self.min_rel_db, self.max_rel_db = p, max_extra, min_rel_db, max_rel_db

    def forward(self, waveform, targets):
        if not self.training or self.p <= 0 or waveform.shape[0] < 2:
            return waveform, targets
        batch, device = waveform.shape[0], waveform.device
        out, labels = waveform.clone(), targets.clone()
        rms = waveform.square().mean(dim=1).sqrt().clamp_min(1e-5)
        for _ in range(self.max_extra):
            apply = torch.rand(batch, device=device) < self.p
            if not apply.any():
                break
            partner = torch.randint(1, batch, (batch,), device=device)
            partner = (torch.arange(batch, device=device) + partner) % batch
            rel_db = _uniform(self.min_rel_db, self.max_rel_db, batch, device)
            scale = rms * 10 ** (rel_db / 20) / rms[partner]
            out = out + torch.where(apply, scale, torch.zeros_like(scale))[:, None] * waveform[partner]
            labels = torch.where(apply[:, None], torch.maximum(labels, targets[partner]), labels)
        peak = out.abs().amax(dim=1, keepdim=True).clamp_min(1.0)
        return out / peak, labels


class AddNoise(nn.Module):
    """Add white, pink or brown noise at an SNR drawn in ``[min_snr_db, max_snr_db]``."""

    def __init__(self, p: float = 0.5, min_snr_db: float = 10.0, max_snr_db: float = 40.0) -> None:
        super().__init__()
        self.p, self.min_snr_db, self.max_snr_db = p, min_snr_db, max_snr_db

    def forward(self, waveform, targets):
        if not self.training or self.p <= 0:
            return waveform, targets
        batch, samples = waveform.shape
        device = waveform.device
        spectrum = torch.fft.rfft(torch.randn(batch, samples, device=device), dim=1)
        freqs = torch.arange(spectrum.shape[1], device=device).clamp_min(1).float()
        exponent = torch.randint(0, 3, (batch, 1), device=device).float()  # 0 white, 1 pink, 2 brown
        noise = torch.fft.irfft(spectrum / freqs.pow(exponent / 2), n=samples, dim=1)
        noise = noise / noise.square().mean(dim=1, keepdim=True).sqrt().clamp_min(1e-8)
        signal_rms = waveform.square().mean(dim=1, keepdim=True).sqrt()
        snr_db = _uniform(self.min_snr_db, self.max_snr_db, batch, device)[:, None]
        apply = (torch.rand(batch, 1, device=device) < self.p).float()
        return waveform + apply * noise * signal_rms * 10 ** (-snr_db / 20), targets


class RandomEQ(nn.Module):
    """Random spectral tilt and band boost/cut in the FFT domain (microphone/room colouring)."""

    def __init__(self, p: float = 0.5, max_tilt_db: float = 12.0, max_band_db: float = 9.0) -> None:
        super().__init__()
        self.p, self.max_tilt_db, self.max_band_db = p, max_tilt_db, max_band_db

    def forward(self, waveform, targets):
        if not self.training or self.p <= 0:
            return waveform, targets
        batch, samples = waveform.shape
        device = waveform.device
        spectrum = torch.fft.rfft(waveform, dim=1)
        position = torch.linspace(0, 1, spectrum.shape[1], device=device)[None, :]
        tilt = _uniform(-self.max_tilt_db, self.max_tilt_db, batch, device)[:, None] * (position - 0.5)
        centre = torch.rand(batch, 1, device=device) ** 2
        width = _uniform(0.02, 0.2, batch, device)[:, None]
        band = _uniform(-self.max_band_db, self.max_band_db, batch, device)[:, None]
        band = band * torch.exp(-0.5 * ((position - centre) / width) ** 2)
        apply = (torch.rand(batch, 1, device=device) < self.p).float()
        gain = 10 ** (apply * (tilt + band) / 20)
        return torch.fft.irfft(spectrum * gain, n=samples, dim=1), targets


class RandomLowPass(nn.Module):
    """Smooth low-pass at a cutoff drawn in ``[min_cutoff_hz, max_cutoff_hz]``.

    Real recordings arrive band-limited (8/11/16 kHz files, MP3s, phone and radio sound);
    rendered clips never are, so without this the model leans on the top octave.
    """

    def __init__(self, sample_rate: int, p: float = 0.25, min_cutoff_hz: float = 2_500.0,
                 max_cutoff_hz: float = 7_000.0) -> None:
        super().__init__()
        self.sample_rate, self.p = sample_rate, p
        self.min_cutoff_hz, self.max_cutoff_hz = min_cutoff_hz, max_cutoff_hz

    def forward(self, waveform, targets):
        if not self.training or self.p <= 0:
            return waveform, targets
        batch, samples = waveform.shape
        device = waveform.device
        spectrum = torch.fft.rfft(waveform, dim=1)
        freqs = torch.linspace(0, self.sample_rate / 2, spectrum.shape[1], device=device)[None, :]
        cutoff = _uniform(self.min_cutoff_hz, self.max_cutoff_hz, batch, device)[:, None]
        response = torch.sigmoid((cutoff - freqs) / (0.05 * cutoff))  # ~ -40 dB a fifth above the cutoff
        apply = (torch.rand(batch, 1, device=device) < self.p).float()
        gain = apply * response + (1 - apply)
        return torch.fft.irfft(spectrum * gain, n=samples, dim=1), targets


class SpecAugment(nn.Module):
    """Frequency and time masking on ``(batch, 1, n_mels, frames)`` features (mask value 0 = mean)."""

    def __init__(self, freq_masks: int = 2, max_freq_width: int = 8, time_masks: int = 2, max_time_width: int = 20) -> None:
        super().__init__()
        self.freq_masks, self.max_freq_width = freq_masks, max_freq_width
        self.time_masks, self.max_time_width = time_masks, max_time_width

    def _mask(self, x, axis: int, count: int, max_width: int):
        size = x.shape[axis]
        for _ in range(count):
            width = torch.randint(0, max_width + 1, (x.shape[0], 1), device=x.device)
            start = (torch.rand(x.shape[0], 1, device=x.device) * (size - width).clamp_min(1)).long()
            index = torch.arange(size, device=x.device)[None, :]
            mask = (index >= start) & (index < start + width)
            shape = [x.shape[0], 1, 1, 1]
            shape[axis] = size
            x = x.masked_fill(mask.view(shape), 0.0)
        return x

    def forward(self, features):
        if not self.training:
            return features
        features = self._mask(features, 2, self.freq_masks, self.max_freq_width)
        return self._mask(features, 3, self.time_masks, self.max_time_width)


class WaveformAugment(nn.Sequential):
    """A chain of waveform transforms, each taking and returning ``(waveform, targets)``."""

    def forward(self, waveform, targets):
        for transform in self:
            waveform, targets = transform(waveform, targets)
        return waveform, targets


def build_waveform_augment(*, mix_p: float, noise_p: float, eq_p: float, gain_p: float, lowpass_p: float = 0.0,
                           sample_rate: int = 16_000, min_snr_db: float = 10.0,
                           max_snr_db: float = 40.0) -> WaveformAugment:
    """The training chain: gain → EQ → mixing → low-pass → noise."""
    return WaveformAugment(
        RandomGain(p=gain_p),
        RandomEQ(p=eq_p),
        MixClips(p=mix_p),
        RandomLowPass(sample_rate, p=lowpass_p),
        AddNoise(p=noise_p, min_snr_db=min_snr_db, max_snr_db=max_snr_db),
    )
