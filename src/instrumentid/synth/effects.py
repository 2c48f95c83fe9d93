"""Recording-chain effects on numpy arrays: filters/EQ, convolution reverb, compression, noise.

Conventions: ``waveform`` is float32 ``(channels, samples)`` (mono ``(samples,)`` also accepted
where noted); ``sample_rate`` in Hz; every random choice comes from the caller's ``rng``.
"""

from __future__ import annotations

import numpy as np
from scipy import signal

# ---------------------------------------------------------------- biquads (RBJ cookbook)


def biquad(
    kind: str, freq_hz: float, sample_rate: int, *, q: float = 0.707, gain_db: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """``(b, a)`` of an RBJ biquad: lowpass, highpass, bandpass, peaking, lowshelf, highshelf."""
    freq_hz = float(np.clip(freq_hz, 10.0, 0.49 * sample_rate))
    w0 = 2 * np.pi * freq_hz / sample_rate
    cos_w, alpha = np.cos(w0), np.sin(w0) / (2 * q)
    amp = 10 ** (gain_db / 40)
    if kind == "lowpass":
        b = [(1 - cos_w) / 2, 1 - cos_w, (1 - cos_w) / 2]
        a = [1 + alpha, -2 * cos_w, 1 - alpha]
    elif kind == "highpass":
        b = [(1 + cos_w) / 2, -(1 + cos_w), (1 + cos_w) / 2]
        a = [1 + alpha, -2 * cos_w, 1 - alpha]
    elif kind == "bandpass":
        b = [alpha, 0.0, -alpha]
        a = [1 + alpha, -2 * cos_w, 1 - alpha]
    elif kind == "peaking":
        b = [1 + alpha * amp, -2 * cos_w, 1 - alpha * amp]
        a = [1 + alpha / amp, -2 * cos_w, 1 - alpha / amp]
    elif kind in ("lowshelf", "highshelf"):
        sq = 2 * np.sqrt(amp) * alpha
        sign = 1 if kind == "lowshelf" else -1
        b = [
            amp * ((amp + 1) - sign * (amp - 1) * cos_w + sq),
            sign * 2 * amp * ((amp - 1) - sign * (amp + 1) * cos_w),
            amp * ((amp + 1) - sign * (amp - 1) * cos_w - sq),
        ]
        a = [
            (amp + 1) + sign * (amp - 1) * cos_w + sq,
            -sign * 2 * ((amp - 1) + sign * (amp + 1) * cos_w),
            (amp + 1) + sign * (amp - 1) * cos_w - sq,
        ]
    else:
        raise ValueError(f"kind must be a known biquad type, not {kind!r}")
    b, a = np.asarray(b, dtype=np.float64), np.asarray(a, dtype=np.float64)
    return b / a[0], a / a[0]


def filt(waveform: np.ndarray, ba: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Apply ``(b, a)`` along the last axis (float32 out)."""
    return signal.lfilter(ba[0], ba[1], waveform, axis=-1).astype(np.float32)


def random_eq(rng: np.random.Generator, sample_rate: int) -> tuple[list[tuple[np.ndarray, np.ndarray]], str]:
    """Microphone/room colouring: 1-3 peaks, optional shelves, low/high-pass. Returns filters and a description."""
    filters, parts = [], []
    for _ in range(int(rng.integers(1, 4))):
        f, g, q = (
            float(np.exp(rng.uniform(np.log(150), np.log(8000)))),
            float(rng.uniform(-8, 8)),
            float(rng.uniform(0.5, 2.5)),
        )
        filters.append(biquad("peaking", f, sample_rate, q=q, gain_db=g))
        parts.append(f"pk{f:.0f}/{g:+.0f}")
    if rng.random() < 0.5:
        g = float(rng.uniform(-6, 6))
        filters.append(biquad("lowshelf", float(rng.uniform(80, 300)), sample_rate, gain_db=g))
        parts.append(f"ls{g:+.0f}")
    if rng.random() < 0.5:
        g = float(rng.uniform(-9, 4))
        filters.append(biquad("highshelf", float(rng.uniform(3000, 9000)), sample_rate, gain_db=g))
        parts.append(f"hs{g:+.0f}")
    if rng.random() < 0.4:
        f = float(rng.uniform(40, 180))
        filters.append(biquad("highpass", f, sample_rate))
        parts.append(f"hp{f:.0f}")
    if rng.random() < 0.3:  # band-limited recordings (phones, old records, low-rate codecs)
        f = float(rng.uniform(3500, 11000))
        filters.append(biquad("lowpass", f, sample_rate))
        parts.append(f"lp{f:.0f}")
    return filters, "eq(" + ",".join(parts) + ")"


def apply_filters(waveform: np.ndarray, filters: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    if not filters:
        return waveform
    sos = np.array([np.concatenate([b, a]) for b, a in filters])
    return signal.sosfilt(sos, waveform, axis=-1).astype(np.float32)


# ---------------------------------------------------------------- reverb


def reverb_ir(
    sample_rate: int,
    rng: np.random.Generator,
    *,
    rt60_s: float,
    predelay_s: float = 0.01,
    n_early: int = 8,
    brightness: float = 0.5,
    n_channels: int = 2,
) -> np.ndarray:
    """Generated room impulse response ``(n_channels, samples)``.

    Late part: noise with an exponential envelope reaching -60 dB at ``rt60_s``; high
    frequencies decay faster (a second, darker tail decaying 1.6x slower is cross-faded in,
    with ``brightness`` in 0..1). Early part: ``n_early`` sparse reflections within 5-60 ms.
    The direct path is not included (the caller mixes dry and wet).
    """
    if rt60_s <= 0:
        raise ValueError(f"rt60_s must be > 0, got {rt60_s}")
    length = int(sample_rate * (predelay_s + min(rt60_s * 1.1, 4.0))) + 1
    t = np.arange(length) / sample_rate
    late_t = np.clip(t - predelay_s, 0.0, None)
    decay = np.exp(-6.9078 * late_t / rt60_s)  # ln(1000) = 60 dB
    decay_low = np.exp(-6.9078 * late_t / (rt60_s * 1.6))
    onset = np.clip((t - predelay_s) / 0.01, 0.0, 1.0)
    noise = rng.standard_normal((n_channels, length))
    lp = biquad("lowpass", 800 + 7000 * brightness, sample_rate)
    dark = signal.lfilter(*lp, noise, axis=-1)
    ir = (brightness * noise * decay + (1 - brightness) * dark * decay_low * 1.5) * onset
    for _ in range(n_early):
        delay = predelay_s * 0.5 + rng.uniform(0.005, 0.06)
        idx = int(delay * sample_rate)
        if idx < length:
            ir[:, idx] += (
                rng.uniform(0.2, 0.8)
                * np.sign(rng.standard_normal(n_channels))
                * np.sqrt(np.sum(ir[:, idx : idx + 2000] ** 2) / 2000 + 1e-3)
                * 8
            )
    ir /= np.sqrt(np.sum(ir**2, axis=-1, keepdims=True)) + 1e-12
    return ir.astype(np.float32)


def convolve(waveform: np.ndarray, ir: np.ndarray) -> np.ndarray:
    """Per-channel convolution (``waveform`` ``(C, N)`` with ``ir`` ``(C, M)``), trimmed to N."""
    n = waveform.shape[-1]
    out = (
        signal.oaconvolve(waveform, ir, axes=-1)
        if hasattr(signal, "oaconvolve")
        else signal.fftconvolve(waveform, ir, axes=-1)
    )
    return out[..., :n].astype(np.float32)


# ---------------------------------------------------------------- dynamics, gain, noise


def compress(
    waveform: np.ndarray,
    sample_rate: int,
    *,
    threshold_db: float = -20.0,
    ratio: float = 4.0,
    time_s: float = 0.03,
    makeup_db: float = 0.0,
) -> np.ndarray:
    """Feed-forward RMS compressor (linked channels): gain reduction above ``threshold_db``."""
    power = (
        np.mean(np.square(waveform, dtype=np.float64), axis=0)
        if waveform.ndim == 2
        else np.square(waveform, dtype=np.float64)
    )
    coef = np.exp(-1.0 / (time_s * sample_rate))
    envelope = signal.lfilter([1 - coef], [1, -coef], power)
    level_db = 10 * np.log10(envelope + 1e-12)
    over = np.maximum(level_db - threshold_db, 0.0)
    gain = 10 ** ((-over * (1 - 1 / ratio) + makeup_db) / 20)
    return (waveform * gain).astype(np.float32)


def db_to_gain(db: float) -> float:
    return float(10 ** (db / 20))


def rms(waveform: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(waveform, dtype=np.float64)))) if waveform.size else 0.0


def colored_noise(shape: tuple[int, ...], color: str, rng: np.random.Generator) -> np.ndarray:
    """Unit-RMS white, pink (1/f power) or brown (1/f^2) noise of ``shape`` (last axis = time)."""
    if color not in ("white", "pink", "brown"):
        raise ValueError(f"color must be white, pink or brown, not {color!r}")
    n = shape[-1]
    white = rng.standard_normal(shape)
    if color == "white":
        noise = white
    else:
        spectrum = np.fft.rfft(white, axis=-1)
        f = np.fft.rfftfreq(n)
        f[0] = f[1] if n > 1 else 1.0
        spectrum /= f ** (0.5 if color == "pink" else 1.0)
        noise = np.fft.irfft(spectrum, n=n, axis=-1)
    noise -= noise.mean(axis=-1, keepdims=True)
    return (noise / (np.sqrt(np.mean(noise**2)) + 1e-12)).astype(np.float32)


#: Test-signal shapes of :func:`test_tone`.
TONE_SHAPES = ("sine", "sweep", "dual", "beeps")


def test_tone(n: int, sample_rate: int, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """A unit-peak test signal of ``n`` samples and its description: a steady sine, a
    logarithmic sweep, two sines at once (a dial tone), or a sine switched on and off (beeps);
    frequencies log-uniform over 50 Hz-12 kHz (below Nyquist). No instrument sounds like these,
    and users try them first."""
    top = min(12_000.0, 0.45 * sample_rate)
    freq = lambda: float(np.exp(rng.uniform(np.log(50.0), np.log(top))))  # noqa: E731
    t = np.arange(n) / sample_rate
    shape = str(rng.choice(TONE_SHAPES))
    if shape == "sweep":
        f0, f1 = freq(), freq()
        rate = np.log(f1 / f0) / max(t[-1], 1e-9) if n > 1 else 0.0
        phase = 2 * np.pi * f0 * (np.expm1(rate * t) / rate if rate else t)
        signal, name = np.sin(phase), f"sweep {f0:.0f}-{f1:.0f} Hz"
    elif shape == "dual":
        f0, f1 = freq(), freq()
        signal, name = np.sin(2 * np.pi * f0 * t) + np.sin(2 * np.pi * f1 * t), f"dual {f0:.0f}+{f1:.0f} Hz"
    else:
        f0 = freq()
        signal, name = np.sin(2 * np.pi * f0 * t), f"{shape} {f0:.0f} Hz"
        if shape == "beeps":
            period = rng.uniform(0.15, 1.0)
            signal = signal * ((t % period) < period * rng.uniform(0.2, 0.7))
    peak = float(np.max(np.abs(signal))) if n else 0.0
    return (signal / peak if peak > 0 else signal).astype(np.float32), name


def add_at_snr(waveform: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """``waveform + noise`` scaled so that signal RMS / noise RMS = ``snr_db``."""
    scale = rms(waveform) / (rms(noise) + 1e-12) / db_to_gain(snr_db)
    return (waveform + noise * scale).astype(np.float32)


_K_FILTERS: dict[int, np.ndarray] = {}


def loudness_db(waveform: np.ndarray, sample_rate: int) -> float:
    """Gated loudness (BS.1770-like): K-ish weighting, 400 ms blocks, -70 dB absolute and -10 dB
    relative gates. Silent input gives -120."""
    if sample_rate not in _K_FILTERS:
        _K_FILTERS[sample_rate] = np.array(
            [
                np.concatenate(biquad("highshelf", 1500, sample_rate, gain_db=4.0)),
                np.concatenate(biquad("highpass", 60, sample_rate, q=0.5)),
            ]
        )
    mono = waveform.mean(axis=0) if waveform.ndim == 2 else waveform
    weighted = signal.sosfilt(_K_FILTERS[sample_rate], mono)
    block = int(0.4 * sample_rate)
    hop = block // 4
    if weighted.size < block:
        frames = np.array([np.mean(weighted**2)]) if weighted.size else np.array([0.0])
    else:
        csum = np.concatenate([[0.0], np.cumsum(weighted**2)])
        starts = np.arange(0, weighted.size - block + 1, hop)
        frames = (csum[starts + block] - csum[starts]) / block
    levels = 10 * np.log10(frames + 1e-12)
    gated = frames[levels > -70]
    if gated.size == 0:
        return -120.0
    relative = 10 * np.log10(gated.mean()) - 10
    gated = gated[10 * np.log10(gated) > relative]
    return float(10 * np.log10(gated.mean()))
