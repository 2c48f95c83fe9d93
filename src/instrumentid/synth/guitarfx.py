"""Guitar and modulation effects: amp/distortion, delay, tremolo, chorus."""

from __future__ import annotations

import numpy as np

from instrumentid.synth.effects import biquad, filt


def amp(
    waveform: np.ndarray, sample_rate: int, *, drive_db: float = 20.0, tone_hz: float = 3000.0, asymmetry: float = 0.1
) -> np.ndarray:
    """Amp/distortion: pre-emphasis high-pass, gain, asymmetric tanh waveshaper, cabinet-like
    low-pass at ``tone_hz`` and a mid scoop. Output peak roughly matches input."""
    peak = float(np.max(np.abs(waveform))) + 1e-9
    x = filt(waveform, biquad("highpass", 120.0, sample_rate)) / peak
    gain = 10 ** (drive_db / 20)
    y = np.tanh(gain * x + asymmetry) - np.tanh(asymmetry)
    y = filt(y, biquad("lowpass", tone_hz, sample_rate, q=0.9))
    y = filt(y, biquad("lowpass", tone_hz * 1.6, sample_rate, q=0.6))
    y = filt(y, biquad("peaking", 700.0, sample_rate, q=0.8, gain_db=-4.0))
    return (y / (np.max(np.abs(y)) + 1e-9) * peak).astype(np.float32)


def delay(
    waveform: np.ndarray,
    sample_rate: int,
    *,
    time_s: float = 0.35,
    feedback: float = 0.4,
    mix: float = 0.3,
    taps: int = 4,
) -> np.ndarray:
    """Feedback echo unrolled to ``taps`` repeats (each ``feedback`` times quieter), darkened."""
    d = int(time_s * sample_rate)
    out = waveform.astype(np.float32).copy()
    wet = np.zeros_like(out)
    for k in range(1, taps + 1):
        if k * d >= out.shape[-1]:
            break
        wet[..., k * d :] += waveform[..., : out.shape[-1] - k * d] * feedback ** (k - 1)
    wet = filt(wet, biquad("lowpass", 3500.0, sample_rate))
    return (out + mix * wet).astype(np.float32)


def tremolo(waveform: np.ndarray, sample_rate: int, *, rate_hz: float = 5.0, depth: float = 0.5) -> np.ndarray:
    """Amplitude modulation by a sine LFO (``depth`` 0..1)."""
    t = np.arange(waveform.shape[-1]) / sample_rate
    lfo = 1 - depth * 0.5 * (1 + np.sin(2 * np.pi * rate_hz * t))
    return (waveform * lfo).astype(np.float32)


def chorus(
    waveform: np.ndarray,
    sample_rate: int,
    *,
    rate_hz: float = 0.8,
    depth_s: float = 0.003,
    base_delay_s: float = 0.015,
    mix: float = 0.5,
) -> np.ndarray:
    """Modulated short delay (fractional read by linear interpolation); stereo gets opposite LFO phases."""
    x = np.atleast_2d(waveform)
    n = x.shape[-1]
    t = np.arange(n)
    out = np.empty_like(x, dtype=np.float32)
    for c in range(x.shape[0]):
        phase = np.pi * c
        read = t - (base_delay_s + depth_s * np.sin(2 * np.pi * rate_hz * t / sample_rate + phase)) * sample_rate
        delayed = np.interp(read, t, x[c], left=0.0, right=0.0)
        out[c] = (1 - mix * 0.5) * x[c] + mix * delayed
    return out.reshape(waveform.shape)


def random_guitar_chain(
    waveform: np.ndarray, sample_rate: int, rng: np.random.Generator, *, distorted: bool
) -> tuple[np.ndarray, str]:
    """Electric-guitar pedalboard: amp (always; crunch..high gain when ``distorted``), then
    optional chorus, tremolo, delay. Returns audio and a description."""
    desc = []
    drive = float(rng.uniform(18, 36) if distorted else rng.uniform(0, 12))
    tone = float(rng.uniform(2200, 5000))
    waveform = amp(waveform, sample_rate, drive_db=drive, tone_hz=tone, asymmetry=float(rng.uniform(0, 0.3)))
    desc.append(f"amp{drive:.0f}dB")
    if rng.random() < 0.3:
        waveform = chorus(waveform, sample_rate, rate_hz=float(rng.uniform(0.3, 1.5)), mix=float(rng.uniform(0.3, 0.6)))
        desc.append("chorus")
    if rng.random() < 0.15:
        waveform = tremolo(waveform, sample_rate, rate_hz=float(rng.uniform(3, 8)), depth=float(rng.uniform(0.3, 0.8)))
        desc.append("trem")
    if rng.random() < 0.35:
        t = float(rng.uniform(0.12, 0.5))
        waveform = delay(
            waveform, sample_rate, time_s=t, feedback=float(rng.uniform(0.2, 0.5)), mix=float(rng.uniform(0.15, 0.4))
        )
        desc.append(f"delay{t * 1000:.0f}ms")
    return waveform, "gtr(" + ",".join(desc) + ")"
