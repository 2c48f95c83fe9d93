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


class WaveformTransform(nn.Module):
    """Base of the waveform transforms: owns ``p`` and the train-only switch.

    Subclasses write ``apply(waveform, targets)``; it runs only in training mode with
    ``p > 0`` and draws, through :meth:`chosen`, which examples of the batch it changes.
    """

    def __init__(self, p: float) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p must be between 0 and 1, got {p}")
        self.p = p

    def chosen(self, waveform: torch.Tensor) -> torch.Tensor:
        """``(batch, 1)`` float mask: 1 for the examples this call changes (probability ``p``)."""
        return (torch.rand(waveform.shape[0], 1, device=waveform.device) < self.p).float()

    def apply(self, waveform: torch.Tensor, targets: torch.Tensor):
        raise NotImplementedError

    def forward(self, waveform, targets):
        if not self.training or self.p <= 0:
            return waveform, targets
        return self.apply(waveform, targets)


def _filter(waveform: torch.Tensor, gain: torch.Tensor) -> torch.Tensor:
    """Multiply the spectrum of every example by ``gain`` ``(batch, n_bins)`` (zero-phase)."""
    spectrum = torch.fft.rfft(waveform, dim=1)
    return torch.fft.irfft(spectrum * gain, n=waveform.shape[1], dim=1)


def _bins(waveform: torch.Tensor, top: float = 1.0) -> torch.Tensor:
    """``(1, n_bins)`` bin positions of the rfft of ``waveform`` from 0 to ``top``."""
    return torch.linspace(0, top, waveform.shape[1] // 2 + 1, device=waveform.device)[None, :]


class RandomGain(WaveformTransform):
    """Scale each chosen example by a gain drawn in ``[min_gain_db, max_gain_db]``."""

    def __init__(self, min_gain_db: float = -24.0, max_gain_db: float = 6.0, p: float = 0.8) -> None:
        super().__init__(p)
        self.min_gain_db, self.max_gain_db = min_gain_db, max_gain_db

    def apply(self, waveform, targets):
        gain_db = _uniform(self.min_gain_db, self.max_gain_db, waveform.shape[0], waveform.device)[:, None]
        return waveform * 10 ** (self.chosen(waveform) * gain_db / 20), targets


class MixClips(WaveformTransform):
    """Sum-N mixing: add up to ``max_extra`` other examples of the batch, labels united.

    Each added clip is scaled to ``[min_rel_db, max_rel_db]`` relative to the RMS of the
    example it joins, so the original stays predominant or comparable. Adding an all-negative
    clip (speech, noise, drums) puts a real background under a positive.
    """

    def __init__(self, p: float = 0.5, max_extra: int = 2, min_rel_db: float = -12.0, max_rel_db: float = 0.0) -> None:
        super().__init__(p)
        self.max_extra, self.min_rel_db, self.max_rel_db = max_extra, min_rel_db, max_rel_db

    def apply(self, waveform, targets):
        batch, device = waveform.shape[0], waveform.device
        if batch < 2:
            return waveform, targets
        out, labels = waveform.clone(), targets.clone()
        rms = waveform.square().mean(dim=1).sqrt().clamp_min(1e-5)
        for _ in range(self.max_extra):
            apply = self.chosen(waveform)
            partner = (torch.arange(batch, device=device) + torch.randint(1, batch, (batch,), device=device)) % batch
            rel_db = _uniform(self.min_rel_db, self.max_rel_db, batch, device)
            scale = (rms * 10 ** (rel_db / 20) / rms[partner])[:, None]
            out = out + apply * scale * waveform[partner]
            labels = torch.maximum(labels, apply * targets[partner])
        peak = out.abs().amax(dim=1, keepdim=True).clamp_min(1.0)
        return out / peak, labels


class AddNoise(WaveformTransform):
    """Add white, pink or brown noise at an SNR drawn in ``[min_snr_db, max_snr_db]``."""

    def __init__(self, p: float = 0.5, min_snr_db: float = 10.0, max_snr_db: float = 40.0) -> None:
        super().__init__(p)
        self.min_snr_db, self.max_snr_db = min_snr_db, max_snr_db

    def apply(self, waveform, targets):
        batch, device = waveform.shape[0], waveform.device
        white = torch.randn_like(waveform)
        exponent = torch.randint(0, 3, (batch, 1), device=device).float()  # 0 white, 1 pink, 2 brown
        index = (_bins(waveform) * (waveform.shape[1] // 2)).clamp_min(1)
        noise = _filter(white, index.pow(-exponent / 2))
        noise = noise / noise.square().mean(dim=1, keepdim=True).sqrt().clamp_min(1e-8)
        signal_rms = waveform.square().mean(dim=1, keepdim=True).sqrt()
        snr_db = _uniform(self.min_snr_db, self.max_snr_db, batch, device)[:, None]
        return waveform + self.chosen(waveform) * noise * signal_rms * 10 ** (-snr_db / 20), targets


class RandomEQ(WaveformTransform):
    """Random spectral tilt and band boost/cut in the FFT domain (microphone/room colouring)."""

    def __init__(self, p: float = 0.5, max_tilt_db: float = 12.0, max_band_db: float = 9.0) -> None:
        super().__init__(p)
        self.max_tilt_db, self.max_band_db = max_tilt_db, max_band_db

    def apply(self, waveform, targets):
        batch, device = waveform.shape[0], waveform.device
        position = _bins(waveform)
        tilt = _uniform(-self.max_tilt_db, self.max_tilt_db, batch, device)[:, None] * (position - 0.5)
        centre = torch.rand(batch, 1, device=device) ** 2
        width = _uniform(0.02, 0.2, batch, device)[:, None]
        band = _uniform(-self.max_band_db, self.max_band_db, batch, device)[:, None]
        band = band * torch.exp(-0.5 * ((position - centre) / width) ** 2)
        return _filter(waveform, 10 ** (self.chosen(waveform) * (tilt + band) / 20)), targets


class RandomLowPass(WaveformTransform):
    """Smooth low-pass at a cutoff drawn in ``[min_cutoff_hz, max_cutoff_hz]``.

    Real recordings arrive band-limited (8/11/16 kHz files, MP3s, phone and radio sound);
    rendered clips never are, so without this the model leans on the top octave.
    """

    def __init__(self, sample_rate: int, p: float = 0.25, min_cutoff_hz: float = 2_500.0,
                 max_cutoff_hz: float = 7_000.0) -> None:
        super().__init__(p)
        self.sample_rate = sample_rate
        self.min_cutoff_hz, self.max_cutoff_hz = min_cutoff_hz, max_cutoff_hz

    def apply(self, waveform, targets):
        freqs = _bins(waveform, self.sample_rate / 2)
        cutoff = _uniform(self.min_cutoff_hz, self.max_cutoff_hz, waveform.shape[0], waveform.device)[:, None]
        response = torch.sigmoid((cutoff - freqs) / (0.05 * cutoff))  # ~ -40 dB a fifth above the cutoff
        apply = self.chosen(waveform)
        return _filter(waveform, apply * response + (1 - apply)), targets


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
        if not self.training or features.dim() != 4:  # spectrograms only, not raw waveforms
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
