"""Effect units on synthetic signals with hand-checkable expectations."""

from __future__ import annotations

import numpy as np
import pytest

from instrumentid.synth import effects as fx
from instrumentid.synth import guitarfx

SR = 44100


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def _sine(freq, seconds=1.0, amp=0.5):
    t = np.arange(int(SR * seconds)) / SR
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _level_at(x, freq):
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    bins = np.fft.rfftfreq(x.size, 1 / SR)
    k = int(np.argmin(np.abs(bins - freq)))
    return spectrum[max(k - 2, 0) : k + 3].max()


@pytest.mark.parametrize("rt60", [0.4, 1.2])
def test_reverb_tail_decays_60db_at_rt60(rng, rt60):
    ir = fx.reverb_ir(SR, rng, rt60_s=rt60, predelay_s=0.0, n_early=0, brightness=1.0)
    assert ir.shape[0] == 2 and np.isfinite(ir).all()
    energy = np.cumsum((ir[0] ** 2)[::-1])[::-1]  # Schroeder backward integration
    edc = 10 * np.log10(energy / energy[0])
    t20 = np.argmax(edc < -25) - np.argmax(edc < -5)  # T20 extrapolated to 60 dB
    measured = 3 * t20 / SR
    assert measured == pytest.approx(rt60, rel=0.2)


def test_reverb_rejects_bad_rt60(rng):
    with pytest.raises(ValueError, match="rt60_s"):
        fx.reverb_ir(SR, rng, rt60_s=0.0)


def test_convolve_with_impulse_is_identity():
    x = np.random.default_rng(1).standard_normal((2, 1000)).astype(np.float32)
    ir = np.zeros((2, 10), np.float32)
    ir[:, 0] = 1
    np.testing.assert_allclose(fx.convolve(x, ir), x, atol=1e-5)


def test_peaking_eq_gain_at_centre():
    x = _sine(1000, 0.5)
    y = fx.filt(x, fx.biquad("peaking", 1000, SR, q=1.0, gain_db=6.0))
    assert fx.rms(y[SR // 10 :]) / fx.rms(x[SR // 10 :]) == pytest.approx(10 ** (6 / 20), rel=0.02)


def test_lowpass_attenuates_above_cutoff():
    y = fx.filt(_sine(8000, 0.5), fx.biquad("lowpass", 1000, SR))
    assert fx.rms(y[SR // 10 :]) < 0.05 * 0.5


def test_distortion_adds_harmonics():
    x = _sine(220, 0.5)
    y = guitarfx.amp(x, SR, drive_db=30, tone_hz=6000)
    ratio_in = _level_at(x, 660) / _level_at(x, 220)
    ratio_out = _level_at(y, 660) / _level_at(y, 220)
    assert ratio_out > 100 * ratio_in and ratio_out > 0.05


def test_delay_echo_at_delay_time():
    x = np.zeros(SR, np.float32)
    x[0] = 1.0
    y = guitarfx.delay(x, SR, time_s=0.25, feedback=0.5, mix=1.0, taps=2)
    echo = y[int(0.25 * SR) - 50 : int(0.25 * SR) + 200]
    assert np.abs(echo).max() > 0.05 and np.abs(y[100 : int(0.25 * SR) - 100]).max() < 1e-3


def test_tremolo_depth():
    y = guitarfx.tremolo(np.ones(SR, np.float32), SR, rate_hz=4, depth=0.5)
    assert y.max() == pytest.approx(1.0, abs=1e-3) and y.min() == pytest.approx(0.5, abs=1e-3)


def test_chorus_keeps_shape_and_is_finite():
    x = np.stack([_sine(440), _sine(440)])
    y = guitarfx.chorus(x, SR)
    assert y.shape == x.shape and np.isfinite(y).all()


@pytest.mark.parametrize("color,slope_db", [("white", 0.0), ("pink", -3.0), ("brown", -6.0)])
def test_noise_colours_have_their_slope(rng, color, slope_db):
    noise = fx.colored_noise((1, 2**17), color, rng)[0]
    spectrum = np.abs(np.fft.rfft(noise)) ** 2
    f = np.fft.rfftfreq(noise.size, 1 / SR)
    band = lambda lo: spectrum[(f >= lo) & (f < 2 * lo)].mean()  # noqa: E731
    per_octave = 10 * np.log10(band(2000) / band(1000))
    assert per_octave == pytest.approx(slope_db, abs=1.0)
    assert fx.rms(noise) == pytest.approx(1.0, rel=1e-3)


def test_test_tones_are_what_they_say():
    """Every shape appears; peaks are 1; a steady sine's spectrum peaks at the frequency it names."""
    sr, n, shapes = 16_000, 16_000, set()
    for seed in range(40):
        tone, name = fx.test_tone(n, sr, np.random.default_rng(seed))
        shape = name.split()[0]
        shapes.add(shape)
        assert tone.shape == (n,) and np.isfinite(tone).all() and np.abs(tone).max() == pytest.approx(1.0, abs=1e-6)
        if shape == "sine":
            named = float(name.split()[1])
            found = np.argmax(np.abs(np.fft.rfft(tone))) * sr / n
            assert abs(found - named) <= 1.0, name
    assert shapes == set(fx.TONE_SHAPES)


def test_add_at_snr_is_exact(rng):
    x = _sine(440)
    noise = fx.colored_noise(x.shape, "white", rng)
    y = fx.add_at_snr(x, noise, 20.0)
    assert 20 * np.log10(fx.rms(x) / fx.rms(y - x)) == pytest.approx(20.0, abs=0.01)


def test_compressor_reduces_loud_more_than_quiet():
    loud, quiet = _sine(440, amp=0.9), _sine(440, amp=0.01)
    gl = fx.rms(fx.compress(loud, SR, threshold_db=-30, ratio=4)) / fx.rms(loud)
    gq = fx.rms(fx.compress(quiet, SR, threshold_db=-30, ratio=4)) / fx.rms(quiet)
    assert gl < 0.3 and gq == pytest.approx(1.0, abs=0.02)


def test_loudness_tracks_gain():
    x = _sine(1000, 2.0)
    assert fx.loudness_db(x * 0.1, SR) - fx.loudness_db(x, SR) == pytest.approx(-20.0, abs=0.05)
    assert fx.loudness_db(np.zeros(SR, np.float32), SR) == -120.0
