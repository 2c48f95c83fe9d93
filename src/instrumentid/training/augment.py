"""Batch augmentations that run on the batch's device (waveforms and spectrograms).

Each transform is an ``nn.Module`` that acts only in training mode, in two steps (as
audiomentations' transforms do): ``randomize_parameters`` draws every random value of the call
and keeps them in the transform's ``drawn`` dict; ``apply`` changes the batch using only those,
so what a call did can be logged, and applying again replays it exactly. Calling a transform
does both. Draws come from the ``torch.Generator`` given (on the batch's device), else from
torch's global generator, which Lightning's ``seed_everything`` and the trainer's per-batch
reseeding seed. Waveform transforms take ``(waveform (batch, samples), targets (batch,
n_labels))`` and return both, so mixing can update labels; :class:`SpecAugment` works on
features ``(batch, 1, n_mels, frames)``.
"""

from __future__ import annotations

import torch
from torch import nn

Drawn = dict[str, torch.Tensor]


def _uniform(low: float, high: float, size: int, device, generator: torch.Generator | None) -> torch.Tensor:
    return torch.rand(size, device=device, generator=generator) * (high - low) + low


class WaveformTransform(nn.Module):
    """Base of the waveform transforms: owns ``p``, the train-only switch and the drawn values.

    Subclasses write ``draw(waveform, generator)``, returning every random value of one call,
    and ``apply(waveform, targets)``, which reads them from ``self.drawn`` and draws nothing.
    Their draws run in the order the transforms always drew in, so a seed gives the same
    augmentation as before the split into draw and apply.
    """

    def __init__(self, p: float) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p must be between 0 and 1, got {p}")
        self.p = p
        #: the random values of the last call, by name (not ``parameters``: nn.Module's weights)
        self.drawn: Drawn = {}

    def chosen(self, waveform: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """``(batch, 1)`` float mask: 1 for the examples this call changes (probability ``p``)."""
        return (torch.rand(waveform.shape[0], 1, device=waveform.device, generator=generator) < self.p).float()

    def randomize_parameters(self, waveform: torch.Tensor, generator: torch.Generator | None = None) -> Drawn:
        """Draw this call's random values for ``waveform``'s batch and keep them in ``drawn``."""
        self.drawn = self.draw(waveform, generator)
        return self.drawn

    def draw(self, waveform: torch.Tensor, generator: torch.Generator | None) -> Drawn:
        raise NotImplementedError

    def apply(self, waveform: torch.Tensor, targets: torch.Tensor):
        raise NotImplementedError

    def forward(self, waveform, targets, generator: torch.Generator | None = None):
        if not self.training or self.p <= 0:
            return waveform, targets
        self.randomize_parameters(waveform, generator)
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

    def draw(self, waveform, generator):
        gain_db = _uniform(self.min_gain_db, self.max_gain_db, waveform.shape[0], waveform.device, generator)
        return {"gain_db": gain_db[:, None], "apply": self.chosen(waveform, generator)}

    def apply(self, waveform, targets):
        return waveform * 10 ** (self.drawn["apply"] * self.drawn["gain_db"] / 20), targets


class MixClips(WaveformTransform):
    """Sum-N mixing: add up to ``max_extra`` other examples of the batch, labels united.

    Each added clip is scaled to ``[min_rel_db, max_rel_db]`` relative to the RMS of the
    example it joins, so the original stays predominant or comparable. Adding an all-negative
    clip (speech, noise, drums) puts a real background under a positive.
    """

    def __init__(self, p: float = 0.5, max_extra: int = 2, min_rel_db: float = -12.0, max_rel_db: float = 0.0) -> None:
        super().__init__(p)
        self.max_extra, self.min_rel_db, self.max_rel_db = max_extra, min_rel_db, max_rel_db

    def draw(self, waveform, generator):
        """Per mixing round (first axis): which examples get a partner, which one, how loud."""
        batch, device = waveform.shape[0], waveform.device
        if batch < 2 or self.max_extra < 1:  # nothing to mix in
            return {}
        rounds = []
        for _ in range(self.max_extra):
            apply = self.chosen(waveform, generator)
            offset = torch.randint(1, batch, (batch,), device=device, generator=generator)
            partner = (torch.arange(batch, device=device) + offset) % batch
            rel_db = _uniform(self.min_rel_db, self.max_rel_db, batch, device, generator)
            rounds.append((apply, partner, rel_db))
        apply, partner, rel_db = (torch.stack(values) for values in zip(*rounds, strict=True))
        return {"apply": apply, "partner": partner, "rel_db": rel_db}

    def apply(self, waveform, targets):
        if not self.drawn:
            return waveform, targets
        out, labels = waveform.clone(), targets.clone()
        rms = waveform.square().mean(dim=1).sqrt().clamp_min(1e-5)
        for apply, partner, rel_db in zip(
            self.drawn["apply"], self.drawn["partner"], self.drawn["rel_db"], strict=True
        ):
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

    def draw(self, waveform, generator):
        """The white noise itself is drawn too: coloured and scaled in ``apply``, it replays exactly."""
        batch, device = waveform.shape[0], waveform.device
        white = torch.randn(waveform.shape, dtype=waveform.dtype, device=device, generator=generator)
        exponent = torch.randint(0, 3, (batch, 1), device=device, generator=generator).float()  # white, pink, brown
        snr_db = _uniform(self.min_snr_db, self.max_snr_db, batch, device, generator)[:, None]
        return {"white": white, "exponent": exponent, "snr_db": snr_db, "apply": self.chosen(waveform, generator)}

    def apply(self, waveform, targets):
        drawn = self.drawn
        index = (_bins(waveform) * (waveform.shape[1] // 2)).clamp_min(1)
        noise = _filter(drawn["white"], index.pow(-drawn["exponent"] / 2))
        noise = noise / noise.square().mean(dim=1, keepdim=True).sqrt().clamp_min(1e-8)
        signal_rms = waveform.square().mean(dim=1, keepdim=True).sqrt()
        return waveform + drawn["apply"] * noise * signal_rms * 10 ** (-drawn["snr_db"] / 20), targets


class RandomEQ(WaveformTransform):
    """Random spectral tilt and band boost/cut in the FFT domain (microphone/room colouring)."""

    def __init__(self, p: float = 0.5, max_tilt_db: float = 12.0, max_band_db: float = 9.0) -> None:
        super().__init__(p)
        self.max_tilt_db, self.max_band_db = max_tilt_db, max_band_db

    def draw(self, waveform, generator):
        """Tilt (dB from bottom to top), band centre and width (0-1 of the spectrum), band gain (dB)."""
        batch, device = waveform.shape[0], waveform.device
        tilt_db = _uniform(-self.max_tilt_db, self.max_tilt_db, batch, device, generator)[:, None]
        centre = torch.rand(batch, 1, device=device, generator=generator) ** 2
        width = _uniform(0.02, 0.2, batch, device, generator)[:, None]
        band_db = _uniform(-self.max_band_db, self.max_band_db, batch, device, generator)[:, None]
        return {
            "tilt_db": tilt_db,
            "centre": centre,
            "width": width,
            "band_db": band_db,
            "apply": self.chosen(waveform, generator),
        }

    def apply(self, waveform, targets):
        drawn, position = self.drawn, _bins(waveform)
        tilt = drawn["tilt_db"] * (position - 0.5)
        band = drawn["band_db"] * torch.exp(-0.5 * ((position - drawn["centre"]) / drawn["width"]) ** 2)
        return _filter(waveform, 10 ** (drawn["apply"] * (tilt + band) / 20)), targets


class RandomLowPass(WaveformTransform):
    """Smooth low-pass at a cutoff drawn in ``[min_cutoff_hz, max_cutoff_hz]``.

    Real recordings arrive band-limited (8/11/16 kHz files, MP3s, phone and radio sound);
    rendered clips never are, so without this the model leans on the top octave.
    """

    def __init__(
        self, sample_rate: int, p: float = 0.25, min_cutoff_hz: float = 2_500.0, max_cutoff_hz: float = 7_000.0
    ) -> None:
        super().__init__(p)
        self.sample_rate = sample_rate
        self.min_cutoff_hz, self.max_cutoff_hz = min_cutoff_hz, max_cutoff_hz

    def draw(self, waveform, generator):
        cutoff_hz = _uniform(self.min_cutoff_hz, self.max_cutoff_hz, waveform.shape[0], waveform.device, generator)
        return {"cutoff_hz": cutoff_hz[:, None], "apply": self.chosen(waveform, generator)}

    def apply(self, waveform, targets):
        freqs, cutoff, apply = _bins(waveform, self.sample_rate / 2), self.drawn["cutoff_hz"], self.drawn["apply"]
        response = torch.sigmoid((cutoff - freqs) / (0.05 * cutoff))  # ~ -40 dB a fifth above the cutoff
        return _filter(waveform, apply * response + (1 - apply)), targets


class SpecAugment(nn.Module):
    """Frequency and time masking on ``(batch, 1, n_mels, frames)`` features (mask value 0 = mean).

    Like the waveform transforms it draws first (``randomize_parameters``, kept in ``drawn``:
    start and width of every mask, ``(masks, batch, 1)`` per axis) and then ``apply``-s.
    """

    def __init__(
        self, freq_masks: int = 2, max_freq_width: int = 8, time_masks: int = 2, max_time_width: int = 20
    ) -> None:
        super().__init__()
        self.freq_masks, self.max_freq_width = freq_masks, max_freq_width
        self.time_masks, self.max_time_width = time_masks, max_time_width
        #: the mask positions of the last call (see the class docstring)
        self.drawn: Drawn = {}

    @staticmethod
    def _draw_masks(features, axis: int, count: int, max_width: int, generator) -> tuple[torch.Tensor, torch.Tensor]:
        batch, size, device = features.shape[0], features.shape[axis], features.device
        starts, widths = [], []
        for _ in range(count):
            width = torch.randint(0, max_width + 1, (batch, 1), device=device, generator=generator)
            starts.append(
                (torch.rand(batch, 1, device=device, generator=generator) * (size - width).clamp_min(1)).long()
            )
            widths.append(width)
        empty = torch.zeros(0, batch, 1, dtype=torch.long, device=device)
        return (torch.stack(starts), torch.stack(widths)) if count else (empty, empty)

    def randomize_parameters(self, features: torch.Tensor, generator: torch.Generator | None = None) -> Drawn:
        """Draw every mask of this call (frequency masks first) and keep them in ``drawn``."""
        freq_start, freq_width = self._draw_masks(features, 2, self.freq_masks, self.max_freq_width, generator)
        time_start, time_width = self._draw_masks(features, 3, self.time_masks, self.max_time_width, generator)
        self.drawn = {
            "freq_start": freq_start,
            "freq_width": freq_width,
            "time_start": time_start,
            "time_width": time_width,
        }
        return self.drawn

    @staticmethod
    def _mask(x, axis: int, starts: torch.Tensor, widths: torch.Tensor):
        size = x.shape[axis]
        index = torch.arange(size, device=x.device)[None, :]
        shape = [x.shape[0], 1, 1, 1]
        shape[axis] = size
        for start, width in zip(starts, widths, strict=True):
            x = x.masked_fill(((index >= start) & (index < start + width)).view(shape), 0.0)
        return x

    def apply(self, features: torch.Tensor) -> torch.Tensor:
        features = self._mask(features, 2, self.drawn["freq_start"], self.drawn["freq_width"])
        return self._mask(features, 3, self.drawn["time_start"], self.drawn["time_width"])

    def forward(self, features, generator: torch.Generator | None = None):
        if not self.training or features.dim() != 4:  # spectrograms only, not raw waveforms
            return features
        self.randomize_parameters(features, generator)
        return self.apply(features)


class WaveformAugment(nn.Sequential):
    """A chain of waveform transforms, each taking and returning ``(waveform, targets)``;
    after a call, each transform's ``drawn`` holds what it did."""

    def forward(self, waveform, targets, generator: torch.Generator | None = None):
        for transform in self:
            waveform, targets = transform(waveform, targets, generator)
        return waveform, targets


def build_waveform_augment(
    *,
    mix_p: float,
    noise_p: float,
    eq_p: float,
    gain_p: float,
    lowpass_p: float = 0.0,
    sample_rate: int = 16_000,
    min_snr_db: float = 10.0,
    max_snr_db: float = 40.0,
) -> WaveformAugment:
    """The training chain: gain → EQ → mixing → low-pass → noise."""
    return WaveformAugment(
        RandomGain(p=gain_p),
        RandomEQ(p=eq_p),
        MixClips(p=mix_p),
        RandomLowPass(sample_rate, p=lowpass_p),
        AddNoise(p=noise_p, min_snr_db=min_snr_db, max_snr_db=max_snr_db),
    )
