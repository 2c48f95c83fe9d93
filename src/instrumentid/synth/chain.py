"""Per-clip recording chain: stereo placement, stem colouring, shared room, master bus."""

from __future__ import annotations

import numpy as np

from instrumentid.synth import effects as fx
from instrumentid.synth import guitarfx


def place(stem: np.ndarray, rng: np.random.Generator, *, pan: float | None = None) -> np.ndarray:
    """Mono -> stereo with a constant-power pan; stereo stems get a balance. ``(2, N)`` out."""
    pan = float(rng.uniform(-0.6, 0.6)) if pan is None else pan
    left, right = np.cos((pan + 1) * np.pi / 4), np.sin((pan + 1) * np.pi / 4)
    if stem.ndim == 1:
        return np.stack([stem * left, stem * right]).astype(np.float32) * np.sqrt(2)
    return (stem * np.array([[left], [right]]) * np.sqrt(2)).astype(np.float32)


def colour_stem(
    stem: np.ndarray,
    role: str,
    sample_rate: int,
    rng: np.random.Generator,
    *,
    distorted: bool = False,
    amp: bool = True,
) -> tuple[np.ndarray, list[str]]:
    """Instrument-specific processing: guitar pedalboard for electric guitar, close-mic EQ for others.

    Returns the processed stem and the effects applied (descriptions, as in the manifest's ``effects``).
    """
    effects = []
    if role == "gel" and amp:
        stem, desc = guitarfx.random_guitar_chain(stem, sample_rate, rng, distorted=distorted)
        effects.append(desc)
    elif rng.random() < 0.5:
        filters, desc = fx.random_eq(rng, sample_rate)
        stem = fx.apply_filters(stem, filters)
        effects.append("mic" + desc)
    if role in ("gac", "pia", "org") and rng.random() < 0.1:
        stem = guitarfx.chorus(stem, sample_rate, rate_hz=float(rng.uniform(0.3, 1.2)), mix=0.3)
        effects.append("chorus")
    return stem, effects


def room(
    dry_stems: list[np.ndarray], sends: list[float], sample_rate: int, rng: np.random.Generator, *, genre: str
) -> tuple[np.ndarray, str]:
    """Sum stems and add one shared generated room (convolution reverb) fed by per-stem sends."""
    mix = np.sum(dry_stems, axis=0)
    if rng.random() < 0.12:
        return mix, "dry"
    rt60 = float(rng.uniform(0.8, 2.6) if genre == "cla" else rng.uniform(0.2, 1.6))
    predelay = float(rng.uniform(0.0, 0.035))
    ir = fx.reverb_ir(
        sample_rate,
        rng,
        rt60_s=rt60,
        predelay_s=predelay,
        n_early=int(rng.integers(3, 12)),
        brightness=float(rng.uniform(0.2, 0.8)),
    )
    send = np.sum([s * g for s, g in zip(dry_stems, sends, strict=True)], axis=0)
    wet = fx.convolve(send, ir)
    return (mix + wet).astype(np.float32), f"rev(rt60={rt60:.2f}s,pd={predelay * 1000:.0f}ms)"


def master(
    mix: np.ndarray, sample_rate: int, rng: np.random.Generator, *, background=None
) -> tuple[np.ndarray, list[str]]:
    """Master bus: EQ, compression, background noise/recording, final gain (never clipping).

    ``background`` is an optional callable ``(rng, n_samples) -> (mono, name)`` giving a real
    recording to mix underneath. Returns the mix and the effects applied (descriptions).
    """
    effects = []
    if rng.random() < 0.7:
        filters, desc = fx.random_eq(rng, sample_rate)
        mix = fx.apply_filters(mix, filters)
        effects.append(desc)
    if rng.random() < 0.5:
        ratio, thr = float(rng.uniform(2, 6)), float(rng.uniform(-30, -15))
        peak_db = 20 * np.log10(np.max(np.abs(mix)) + 1e-9)
        mix = fx.compress(
            mix, sample_rate, threshold_db=peak_db + thr + 10, ratio=ratio, time_s=float(rng.uniform(0.01, 0.08))
        )
        effects.append(f"comp({ratio:.1f}:1)")
    if rng.random() < 0.6:
        color = str(rng.choice(["white", "pink", "brown"]))
        snr = float(rng.uniform(18, 55))
        mix = fx.add_at_snr(mix, fx.colored_noise(mix.shape, color, rng), snr)
        effects.append(f"noise({color},{snr:.0f}dB)")
    if background is not None and rng.random() < 0.25:
        bg, name = background(rng, mix.shape[-1])
        if fx.rms(bg) > 1e-5:
            snr = float(rng.uniform(12, 30))
            mix = fx.add_at_snr(mix, place(bg, rng), snr)
            effects.append(f"bg({name},{snr:.0f}dB)")
    peak = float(np.max(np.abs(mix))) + 1e-9
    target = fx.db_to_gain(float(rng.uniform(-12, -1)))
    mix = mix * (target / peak)
    effects.append(f"peak{20 * np.log10(target):.0f}dB")
    return np.clip(mix, -0.999, 0.999).astype(np.float32), effects
