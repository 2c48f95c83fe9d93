"""Singing voice (``voi``) by source-filter additive synthesis — General MIDI has no sung voice.

Source: a band-limited glottal harmonic series with a spectral tilt set by vocal effort,
jitter (f0 perturbation), shimmer (amplitude perturbation) and breath noise. Pitch: the
part's notes joined by portamento, delayed 5-6 Hz vibrato with rate wobble, scoops into
phrase onsets. Filter: five vowel formants (F1-F5, per voice type) moving between the vowels
of successive syllables. Consonant-like noise bursts (fricatives, plosives) mark syllable
onsets. The measurement of how close this gets to real singing is in docs/synth.md.
"""

from __future__ import annotations

import numpy as np
from scipy import signal

from instrumentid.synth.effects import biquad
from instrumentid.synth.phrases import Part

# (F1..F5 Hz, amplitude dB, bandwidth Hz) per vowel, after the classic sung-vowel tables.
FORMANTS: dict[str, dict[str, tuple[tuple[float, ...], tuple[float, ...], tuple[float, ...]]]] = {
    "tenor": {
        "a": ((650, 1080, 2650, 2900, 3250), (0, -6, -7, -8, -22), (80, 90, 120, 130, 140)),
        "e": ((400, 1700, 2600, 3200, 3580), (0, -14, -12, -14, -20), (70, 80, 100, 120, 120)),
        "i": ((290, 1870, 2800, 3250, 3540), (0, -15, -18, -20, -30), (40, 90, 100, 120, 120)),
        "o": ((400, 800, 2600, 2800, 3000), (0, -10, -12, -12, -26), (40, 80, 100, 120, 120)),
        "u": ((350, 600, 2700, 2900, 3300), (0, -20, -17, -14, -26), (40, 60, 100, 120, 120)),
    },
    "alto": {
        "a": ((800, 1150, 2800, 3500, 4950), (0, -4, -20, -36, -60), (80, 90, 120, 130, 140)),
        "e": ((400, 1600, 2700, 3300, 4950), (0, -24, -30, -35, -60), (60, 80, 120, 150, 200)),
        "i": ((350, 1700, 2700, 3700, 4950), (0, -20, -30, -36, -60), (50, 100, 120, 150, 200)),
        "o": ((450, 800, 2830, 3500, 4950), (0, -9, -16, -28, -55), (70, 80, 100, 130, 135)),
        "u": ((325, 700, 2530, 3500, 4950), (0, -12, -30, -40, -64), (50, 60, 170, 180, 200)),
    },
    "soprano": {
        "a": ((800, 1150, 2900, 3900, 4950), (0, -6, -32, -20, -50), (80, 90, 120, 130, 140)),
        "e": ((350, 2000, 2800, 3600, 4950), (0, -20, -15, -40, -56), (60, 100, 120, 150, 200)),
        "i": ((270, 2140, 2950, 3900, 4950), (0, -12, -26, -26, -44), (60, 90, 100, 120, 120)),
        "o": ((450, 800, 2830, 3800, 4950), (0, -11, -22, -22, -50), (70, 80, 100, 130, 135)),
        "u": ((325, 700, 2700, 3800, 4950), (0, -16, -35, -40, -60), (50, 60, 170, 180, 200)),
    },
}
#: MIDI range per voice type (the part's notes are transposed into it by octaves).
VOICE_RANGES = {"tenor": (48, 69), "alto": (55, 74), "soprano": (60, 81)}
_HOP = 128
_MAX_HARMONICS = 48
_MAX_FREQ_HZ = 8000.0


def _midi_hz(midi: np.ndarray) -> np.ndarray:
    return 440.0 * 2.0 ** ((midi - 69.0) / 12.0)


def _smooth_noise(rng: np.random.Generator, n: int, cutoff_hz: float, rate: float) -> np.ndarray:
    b, a = signal.butter(1, min(cutoff_hz / (rate / 2), 0.99))
    x = signal.lfilter(b, a, rng.standard_normal(n))
    return x / (np.std(x) + 1e-12)


_VOWELS = "aeiou"
#: consonant-like bursts at syllable onsets: duration (s) and the noise band (filter, Hz)
_CONSONANT_SECONDS = {"s": 0.09, "sh": 0.1, "t": 0.015, "k": 0.025, "h": 0.06}
_CONSONANT_BANDS = {
    "s": ("highpass", 4500),
    "sh": ("bandpass", 2800),
    "t": ("highpass", 2500),
    "k": ("bandpass", 1800),
    "h": ("bandpass", 1200),
}


def sing(
    part: Part, n_samples: int, sample_rate: int, rng: np.random.Generator, *, voice_type: str | None = None
) -> tuple[np.ndarray, str]:
    """Mono float32 ``(n_samples,)`` singing of ``part``'s notes; returns audio and a description."""
    voice_type = voice_type or str(rng.choice(list(FORMANTS)))
    notes = sorted(part.notes, key=lambda n: n.start_s)
    n_ctrl = n_samples // _HOP + 2
    ctrl_rate = sample_rate / _HOP
    if not notes:
        return np.zeros(n_samples, np.float32), f"voice({voice_type},silent)"
    target, loud, vowel_idx, syllables = _note_targets(notes, VOICE_RANGES[voice_type], n_ctrl, ctrl_rate, rng)
    f0_ctrl = _pitch_contour(target, notes, ctrl_rate, rng)
    harm_amp, tilt = _harmonic_amplitudes(f0_ctrl, loud, vowel_idx, FORMANTS[voice_type], sample_rate, rng)
    voiced = _additive_synthesis(f0_ctrl, harm_amp, n_samples, sample_rate)
    out = voiced + _breath_noise(voiced, loud, sample_rate, rng)
    _add_consonants(out, syllables, float(np.abs(voiced).max()) + 1e-9, sample_rate, rng)
    return out.astype(np.float32), f"voice({voice_type},tilt{tilt:.1f})"


def _note_targets(
    notes: list, voice_range: tuple[int, int], n_ctrl: int, ctrl_rate: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[tuple[float, bool]]]:
    """Per control frame: target pitch (MIDI, NaN between notes), loudness, vowel index; and the
    syllables ``(onset_s, starts_a_phrase)``. Notes are moved by octaves into ``voice_range``."""
    lo, hi = voice_range
    shift = 12 * round((((lo + hi) / 2) - np.median([n.pitch for n in notes])) / 12)
    target = np.full(n_ctrl, np.nan)
    loud = np.zeros(n_ctrl)
    vowel_idx = np.zeros(n_ctrl, dtype=int)
    syllables = []
    for k, note in enumerate(notes):
        pitch = float(np.clip(note.pitch + shift, lo - 2, hi + 2))
        s, e = int(note.start_s * ctrl_rate), int((note.start_s + note.duration_s) * ctrl_rate)
        target[s : e + 1] = pitch
        gap_next = notes[k + 1].start_s - (note.start_s + note.duration_s) if k + 1 < len(notes) else 1.0
        attack, release = int(rng.uniform(0.03, 0.07) * ctrl_rate), int(rng.uniform(0.05, 0.12) * ctrl_rate)
        env = np.ones(max(e - s, 1) + (release if gap_next > 0.05 else 0))
        env[:attack] = np.linspace(0.2 if k and gap_next < 0.05 else 0.0, 1.0, attack)[: env.size]
        if gap_next > 0.05:
            env[-release:] = np.linspace(1.0, 0.0, release)
        level = (note.velocity / 127.0) ** 1.2
        seg = slice(s, min(s + env.size, n_ctrl))
        loud[seg] = np.maximum(loud[seg], level * env[: seg.stop - seg.start])
        vowel_idx[s:] = int(rng.integers(5)) if rng.random() < 0.8 else vowel_idx[max(s - 1, 0)]
        syllables.append((note.start_s, k == 0 or gap_next > 0.2))
    return target, loud, vowel_idx, syllables


def _pitch_contour(target: np.ndarray, notes: list, ctrl_rate: float, rng: np.random.Generator) -> np.ndarray:
    """f0 (Hz) per control frame: pitch held through gaps, glides between notes (portamento),
    vibrato that sets in after each onset, and jitter."""
    n_ctrl = target.size
    valid = ~np.isnan(target)
    target = np.interp(np.arange(n_ctrl), np.flatnonzero(valid), target[valid])
    glide = np.exp(-1.0 / (rng.uniform(0.03, 0.08) * ctrl_rate))
    pitch = signal.lfilter([1 - glide], [1, -glide], target, zi=[target[0] * glide])[0]
    vib_rate = rng.uniform(5.0, 6.2) * (1 + 0.05 * _smooth_noise(rng, n_ctrl, 1.0, ctrl_rate))
    vib_phase = 2 * np.pi * np.cumsum(vib_rate) / ctrl_rate
    onset_age = np.zeros(n_ctrl)
    for note in notes:
        s = int(note.start_s * ctrl_rate)
        onset_age[s:] = np.arange(n_ctrl - s) / ctrl_rate
    vib_depth = rng.uniform(0.3, 0.8) * np.clip((onset_age - 0.25) / 0.4, 0, 1)
    jitter = rng.uniform(0.05, 0.15) * _smooth_noise(rng, n_ctrl, 30.0, ctrl_rate)  # semitones
    pitch = pitch + vib_depth * np.sin(vib_phase) + jitter
    return _midi_hz(pitch)


def _harmonic_amplitudes(
    f0_ctrl: np.ndarray,
    loud: np.ndarray,
    vowel_idx: np.ndarray,
    table: dict,
    sample_rate: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, float]:
    """Amplitude of each harmonic per control frame ``(n_harmonics, n_ctrl)`` through the moving
    vowel formants, with a spectral tilt (returned too) and shimmer."""
    ctrl_rate = sample_rate / _HOP
    n_ctrl = f0_ctrl.size
    freqs = np.array([table[v][0] for v in _VOWELS])[vowel_idx]  # (n_ctrl, 5)
    amps = 10 ** (np.array([table[v][1] for v in _VOWELS])[vowel_idx] / 20)
    bws = np.array([table[v][2] for v in _VOWELS])[vowel_idx]
    move = np.exp(-1.0 / (rng.uniform(0.04, 0.09) * ctrl_rate))  # vowel transitions
    freqs = signal.lfilter([1 - move], [1, -move], freqs, axis=0, zi=freqs[:1] * move)[0]
    n_harm = int(min(_MAX_HARMONICS, _MAX_FREQ_HZ // f0_ctrl.min()))
    k = np.arange(1, n_harm + 1)[:, None]
    fk = k * f0_ctrl[None, :]  # (K, n_ctrl)
    env = np.zeros_like(fk)
    for j in range(5):
        env += amps[None, :, j] / (1 + ((fk - freqs[None, :, j]) / (bws[None, :, j] / 2)) ** 2)
    tilt = rng.uniform(0.7, 1.3)  # vocal effort: steeper = softer voice
    harm_amp = (env + 0.003) * k ** (-tilt) * (fk < min(_MAX_FREQ_HZ, 0.45 * sample_rate))
    shimmer = 1 + rng.uniform(0.03, 0.08) * _smooth_noise(rng, n_ctrl, 40.0, ctrl_rate)
    harm_amp *= (loud * shimmer)[None, :]
    return harm_amp, tilt


def _control_positions(n_samples: int, n_ctrl: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each audio sample: its position in control frames, the frame before it, the fraction past it."""
    pos = np.arange(n_samples) / _HOP
    i0 = np.minimum(pos.astype(int), n_ctrl - 2)
    return pos, i0, (pos - i0).astype(np.float32)


def _additive_synthesis(f0_ctrl: np.ndarray, harm_amp: np.ndarray, n_samples: int, sample_rate: int) -> np.ndarray:
    """Sum of harmonics at audio rate, controls interpolated linearly: z^k recursion instead of K sin() calls."""
    _, i0, frac = _control_positions(n_samples, f0_ctrl.size)
    f0 = f0_ctrl[i0] * (1 - frac) + f0_ctrl[i0 + 1] * frac
    z = np.exp(1j * 2 * np.pi * np.cumsum(f0) / sample_rate).astype(np.complex64)
    zk = z.copy()
    voiced = np.zeros(n_samples, dtype=np.float32)
    ha = harm_amp.astype(np.float32)
    for h in range(harm_amp.shape[0]):
        a = ha[h, i0] * (1 - frac) + ha[h, i0 + 1] * frac
        voiced += a * zk.imag
        zk *= z
    return voiced


def _breath_noise(voiced: np.ndarray, loud: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """Band-passed breath noise that follows the loudness, a little stronger on loud voiced peaks."""
    pos, _, _ = _control_positions(voiced.size, loud.size)
    loud_audio = np.interp(pos, np.arange(loud.size), loud).astype(np.float32)
    band = biquad("bandpass", rng.uniform(1800, 3500), sample_rate, q=0.7)
    breath = signal.lfilter(*band, rng.standard_normal(voiced.size)).astype(np.float32)
    peak_boost = 1 + 0.5 * np.abs(voiced) / (np.abs(voiced).max() + 1e-9)
    return rng.uniform(0.01, 0.04) * breath * loud_audio * peak_boost


def _add_consonants(
    out: np.ndarray, syllables: list[tuple[float, bool]], scale: float, sample_rate: int, rng: np.random.Generator
) -> None:
    """Add (in place) a fricative or plosive noise burst at about half the syllable onsets;
    fricatives lead into the onset, plosives start at it. ``scale`` is the voiced peak."""
    for start_s, phrase_start in syllables:
        if rng.random() > 0.55:
            continue
        kind = str(rng.choice(["s", "sh", "t", "k", "h"] if not phrase_start else ["s", "h", "t"]))
        n = int(_CONSONANT_SECONDS[kind] * rng.uniform(0.7, 1.3) * sample_rate)
        s = int(start_s * sample_rate) - (n if kind in ("s", "sh", "h") else 0)
        if s < 0 or s + n > out.size:
            continue
        band = _CONSONANT_BANDS[kind]
        burst = signal.lfilter(*biquad(band[0], band[1], sample_rate, q=0.8), rng.standard_normal(n))
        shape = np.hanning(n) if kind in ("s", "sh", "h") else np.exp(-np.arange(n) / (n / 4))
        out[s : s + n] += (burst * shape * scale * rng.uniform(0.08, 0.25)).astype(np.float32)
