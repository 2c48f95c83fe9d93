"""A sampler over real recorded single notes (``shared/data/real-notes``).

Each note of a :class:`~instrumentid.synth.phrases.Part` is played by the nearest recorded
note of the instrument, re-pitched by resampling (with the part's vibrato and bends as a
time-varying playback rate), shaped by an attack/release envelope and the part's expression
curve; legato notes overlap and cross-fade. This gives phrases real timbres.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from instrumentid import audio
from instrumentid.synth.phrases import Part

#: IRMAS code -> folders (relative to ``real-notes``) holding ``<Note><octave>.mp3`` files.
FOLDERS: dict[str, tuple[str, ...]] = {
    "cel": ("tonejs-instruments/cello", "frunky/cello"),
    "cla": ("tonejs-instruments/clarinet",),
    "flu": ("tonejs-instruments/flute",),
    "sax": ("tonejs-instruments/saxophone",),
    "tru": ("tonejs-instruments/trumpet",),
    "vio": ("tonejs-instruments/violin", "frunky/violin"),
    "gel": ("tonejs-instruments/guitar-electric", "tonejs-instruments/guitar-dirty", "tonejs-instruments/guitar-rock"),
}
_NOTE = re.compile(r"^([A-Ga-g])(s|#|b)?(-?\d)$")
_PC = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_MAX_SECONDS = 4.0


def note_to_midi(name: str) -> int | None:
    """``'As3'`` / ``'A#3'`` -> 58, ``'Eb4'`` -> 63; ``None`` when not a note name."""
    match = _NOTE.match(name)
    if not match:
        return None
    letter, accidental, octave = match.groups()
    shift = {"s": 1, "#": 1, "b": -1}.get(accidental or "", 0)
    return 12 * (int(octave) + 1) + _PC[letter.upper()] + shift


class Sampler:
    """Loads each class's notes on first use (once per process) at ``sample_rate``."""

    def __init__(self, notes_dir: str | Path | None, sample_rate: int = 44100) -> None:
        self.root = Path(notes_dir) if notes_dir else None
        self.sample_rate = sample_rate
        self._banks: dict[str, list[tuple[int, str, np.ndarray]]] = {}

    def classes(self) -> list[str]:
        """Codes with at least one recorded note available."""
        if self.root is None or not self.root.is_dir():
            return []
        return [code for code, folders in FOLDERS.items() if any(any((self.root / f).glob("*.mp3")) for f in folders)]

    def bank(self, code: str) -> list[tuple[int, str, np.ndarray]]:
        """``[(midi, variant, mono waveform)]`` sorted by pitch; variant = source folder name."""
        if code not in self._banks:
            entries = []
            for folder in FOLDERS.get(code, ()):
                for path in sorted((self.root / folder).glob("*.mp3")) if self.root else []:
                    midi = note_to_midi(path.stem)
                    if midi is None:
                        continue
                    wave, _ = audio.load(path, sample_rate=self.sample_rate, mono=True)
                    entries.append((midi, Path(folder).name, _prepare(wave, self.sample_rate)))
            entries.sort(key=lambda e: (e[0], e[1]))
            self._banks[code] = entries
        return self._banks[code]

    def variants(self, code: str) -> list[str]:
        return sorted({variant for _, variant, _ in self.bank(code)})

    def render(
        self, part: Part, code: str, n_samples: int, rng: np.random.Generator, *, variant: str | None = None
    ) -> np.ndarray:
        """Mono float32 ``(n_samples,)`` rendering of ``part`` with recorded notes of ``code``."""
        sr = self.sample_rate
        bank = [e for e in self.bank(code) if variant is None or e[1] == variant] or self.bank(code)
        pitches = np.array([e[0] for e in bank])
        out = np.zeros(n_samples + sr, dtype=np.float32)
        t_curve = np.arange(0, n_samples + sr, 64) / sr
        bend = np.zeros_like(t_curve)
        if part.bends:
            bt, bv = zip(*sorted(part.bends), strict=True)
            bend += np.interp(t_curve, bt, bv, left=0.0, right=0.0)
        expression = np.ones_like(t_curve)
        if part.expression:
            et, ev = zip(*part.expression, strict=True)
            expression = np.interp(t_curve, et, ev)
        legato = part.articulation == "legato"
        plucked = code == "gel"
        for note in part.notes:
            start = int(note.start_s * sr)
            if start >= n_samples:
                continue
            candidates = np.flatnonzero(np.abs(pitches - note.pitch) == np.abs(pitches - note.pitch).min())
            midi, _, wave = bank[int(rng.choice(candidates))]
            release_s = 0.25 if plucked else (0.12 if legato else 0.07)
            length = min(int((note.duration_s + release_s) * sr), n_samples + sr - start)
            if plucked:
                length = min(max(length, int(0.3 * sr)), n_samples + sr - start)
            tt = (start + np.arange(length)) / sr
            semis = note.pitch - midi + np.interp(tt, t_curve, bend)
            if part.vibrato_cents > 0:
                since = np.clip(tt - note.start_s - part.vibrato_delay_s, 0, None)
                semis = semis + part.vibrato_cents / 100 * np.clip(since / 0.3, 0, 1) * np.sin(
                    2 * np.pi * part.vibrato_hz * tt
                )
            rate = 2.0 ** (semis / 12.0)
            position = np.concatenate([[0.0], np.cumsum(rate[:-1])])
            usable = position < wave.size - 1
            segment = np.interp(position[usable], np.arange(wave.size), wave).astype(np.float32)
            env = np.ones(segment.size, dtype=np.float32)
            attack = int((0.03 if legato and not plucked else 0.003) * sr)
            env[: min(attack, env.size)] = np.linspace(0, 1, min(attack, env.size), dtype=np.float32)
            hold = int(note.duration_s * sr)
            if hold < env.size:
                tail = env.size - hold
                env[hold:] *= np.exp(-np.arange(tail) / (release_s * sr / 4)).astype(np.float32)
            gain = (note.velocity / 127.0) ** 1.6
            segment *= env * gain * np.interp(tt[: segment.size], t_curve, expression).astype(np.float32)
            out[start : start + segment.size] += segment
        return out[:n_samples]


def _prepare(wave: np.ndarray, sample_rate: int) -> np.ndarray:
    """Trim leading silence (to ~5 ms before the onset), cap the length, normalise RMS."""
    peak = float(np.max(np.abs(wave))) if wave.size else 0.0
    if peak <= 0:
        return wave[:1].astype(np.float32)
    onset = int(np.argmax(np.abs(wave) > peak * 0.02))
    wave = wave[max(0, onset - int(0.005 * sample_rate)) :][: int(_MAX_SECONDS * sample_rate)]
    fade = min(int(0.2 * sample_rate), wave.size // 4)
    if fade:
        wave = wave.copy()
        wave[-fade:] *= np.linspace(1, 0, fade, dtype=np.float32)
    level = float(np.sqrt(np.mean(wave[: int(0.5 * sample_rate)] ** 2))) + 1e-9
    return (wave * (0.1 / level)).astype(np.float32)
