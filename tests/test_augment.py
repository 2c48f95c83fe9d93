import pytest
import torch

from instrumentid import augment
from instrumentid.labels import LABELS


def _tones(freqs, sample_rate=16_000, seconds=1.0):
    t = torch.arange(int(sample_rate * seconds)) / sample_rate
    return torch.stack([0.5 * torch.sin(2 * torch.pi * f * t) for f in freqs])


def _rms(x):
    return x.square().mean(dim=-1).sqrt()


@pytest.mark.parametrize(
    "transform",
    [augment.RandomGain(p=1), augment.MixClips(p=1), augment.AddNoise(p=1), augment.RandomEQ(p=1),
     augment.RandomLowPass(16_000, p=1)],
    ids=lambda t: type(t).__name__,
)
def test_eval_mode_is_identity_and_shapes_hold(transform):
    x, y = _tones([220, 330, 440, 550]), torch.eye(4, len(LABELS))
    transform.train()
    out, labels = transform(x, y)
    assert out.shape == x.shape and labels.shape == y.shape and torch.isfinite(out).all()
    transform.eval()
    same, same_labels = transform(x, y)
    assert torch.equal(same, x) and torch.equal(same_labels, y)


def test_gain_range():
    torch.manual_seed(0)
    gain = augment.RandomGain(min_gain_db=-6.0, max_gain_db=-6.0, p=1.0).train()
    out, _ = gain(_tones([440]), torch.zeros(1, 11))
    assert torch.allclose(_rms(out) / _rms(_tones([440])), torch.tensor(0.5012), atol=1e-4)


def test_mixing_unites_labels_and_keeps_level_relation():
    torch.manual_seed(0)
    x = _tones([220, 880])
    y = torch.zeros(2, 11)
    y[0, 0] = y[1, 5] = 1
    mix = augment.MixClips(p=1.0, max_extra=1, min_rel_db=-6.0, max_rel_db=-6.0).train()
    out, labels = mix(x, y)
    assert labels[0, 0] == labels[0, 5] == labels[1, 0] == labels[1, 5] == 1
    spectrum = torch.fft.rfft(out[0]).abs()
    assert spectrum[880] / spectrum[220] == pytest.approx(0.501, rel=0.02)  # partner 6 dB below


def test_noise_snr():
    torch.manual_seed(0)
    x = _tones([440] * 8)
    noisy, _ = augment.AddNoise(p=1.0, min_snr_db=20.0, max_snr_db=20.0).train()(x, torch.zeros(8, 11))
    snr = 20 * torch.log10(_rms(x) / _rms(noisy - x))
    assert torch.allclose(snr, torch.full_like(snr, 20.0), atol=0.01)


def test_lowpass_removes_highs_keeps_lows():
    x = _tones([200, 7_500])
    lp = augment.RandomLowPass(16_000, p=1.0, min_cutoff_hz=3_000, max_cutoff_hz=3_000).train()
    out, _ = lp(x, torch.zeros(2, 11))
    assert _rms(out[0]) / _rms(x[0]) > 0.99 and _rms(out[1]) / _rms(x[1]) < 0.01


def test_specaugment_masks_bands_to_zero():
    torch.manual_seed(0)
    features = torch.ones(4, 1, 64, 100)
    out = augment.SpecAugment(freq_masks=1, max_freq_width=8, time_masks=1, max_time_width=10).train()(features)
    assert (out == 0).any() and (out == 1).float().mean() > 0.7
    assert torch.equal(augment.SpecAugment().eval()(features), features)
