import pytest
import torch

from instrumentid.labels import LABELS
from instrumentid.training import augment


def _tones(freqs, sample_rate=16_000, seconds=1.0):
    t = torch.arange(int(sample_rate * seconds)) / sample_rate
    return torch.stack([0.5 * torch.sin(2 * torch.pi * f * t) for f in freqs])


def _rms(x):
    return x.square().mean(dim=-1).sqrt()


@pytest.mark.parametrize(
    "transform",
    [
        augment.RandomGain(p=1),
        augment.MixClips(p=1),
        augment.AddNoise(p=1),
        augment.RandomEQ(p=1),
        augment.RandomLowPass(16_000, p=1),
    ],
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


@pytest.mark.parametrize(
    "make",
    [
        lambda: augment.RandomGain(p=0.5),
        lambda: augment.MixClips(p=0.5),
        lambda: augment.AddNoise(p=0.5),
        lambda: augment.RandomEQ(p=0.5),
        lambda: augment.RandomLowPass(16_000, p=0.5),
    ],
    ids=["RandomGain", "MixClips", "AddNoise", "RandomEQ", "RandomLowPass"],
)
def test_drawn_values_are_kept_and_applying_them_again_replays_the_call(make):
    x, y = _tones([220, 330, 440, 550]), torch.eye(4, len(LABELS))
    transform = make().train()
    out, labels = transform(x, y, torch.Generator().manual_seed(1))
    drawn = {name: value.clone() for name, value in transform.drawn.items()}
    assert drawn and all(4 in value.shape for value in drawn.values())  # one value per clip (per round)
    state = torch.get_rng_state()
    again, again_labels = transform.apply(x, y)  # from the kept values alone: draws nothing
    assert torch.equal(again, out) and torch.equal(again_labels, labels)
    assert torch.equal(torch.get_rng_state(), state)
    redrawn = make().randomize_parameters(x, torch.Generator().manual_seed(1))  # same generator state, same draw
    assert redrawn.keys() == drawn.keys() and all(torch.equal(redrawn[k], drawn[k]) for k in drawn)
    other = make().randomize_parameters(x, torch.Generator().manual_seed(2))
    assert any(not torch.equal(other[k], drawn[k]) for k in drawn)


def test_a_chain_call_can_be_read_back_from_its_transforms():
    chain = augment.build_waveform_augment(mix_p=1.0, noise_p=1.0, eq_p=1.0, gain_p=1.0, lowpass_p=1.0).train()
    x, y = _tones([220, 330, 440]), torch.eye(3, len(LABELS))
    out, labels = chain(x, y, torch.Generator().manual_seed(0))
    replayed, replayed_labels = x, y
    for transform in chain:
        replayed, replayed_labels = transform.apply(replayed, replayed_labels)
    assert torch.equal(replayed, out) and torch.equal(replayed_labels, labels)
    assert chain[0].drawn["apply"].flatten().tolist() == [1.0, 1.0, 1.0]  # p=1: every clip changed


def test_specaugment_keeps_its_masks_and_replays_them():
    features = torch.randn(3, 1, 32, 50)
    spec = augment.SpecAugment(freq_masks=2, max_freq_width=6, time_masks=1, max_time_width=10).train()
    out = spec(features, torch.Generator().manual_seed(4))
    assert spec.drawn["freq_start"].shape == (2, 3, 1) and spec.drawn["time_width"].shape == (1, 3, 1)
    assert torch.equal(spec.apply(features), out)
    start, width = spec.drawn["time_start"][0, 0, 0], spec.drawn["time_width"][0, 0, 0]
    assert (out[0, :, :, start : start + width] == 0).all()
    assert torch.equal(augment.SpecAugment(freq_masks=0, time_masks=0).train()(features), features)
