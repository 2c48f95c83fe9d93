"""Musical context shared by all parts of a clip: key, mode, tempo, swing, chord progression.

Times are in seconds; ``Song.time(beat)`` maps a beat position to seconds with swing applied,
so every part of an ensemble lines up on the same grid.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from instrumentid.labels import GENRES

SCALES: dict[str, tuple[int, ...]] = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "harmonic": (0, 2, 3, 5, 7, 8, 11),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
    "blues": (0, 3, 5, 6, 7, 10),
}
CHORDS: dict[str, tuple[int, ...]] = {
    "maj": (0, 4, 7),
    "min": (0, 3, 7),
    "7": (0, 4, 7, 10),
    "maj7": (0, 4, 7, 11),
    "min7": (0, 3, 7, 10),
    "dim": (0, 3, 6),
    "sus4": (0, 5, 7),
    "5": (0, 7),
}
# Progressions as (semitones above tonic, quality) per bar.
_MAJOR = {
    "pop": [
        [(0, "maj"), (7, "maj"), (9, "min"), (5, "maj")],
        [(9, "min"), (5, "maj"), (0, "maj"), (7, "maj")],
        [(0, "maj"), (5, "maj"), (7, "maj"), (5, "maj")],
        [(0, "maj"), (9, "min"), (5, "maj"), (7, "sus4")],
    ],
    "classical": [
        [(0, "maj"), (5, "maj"), (7, "7"), (0, "maj")],
        [(0, "maj"), (9, "min"), (2, "min"), (7, "7")],
        [(0, "maj"), (7, "maj"), (9, "min"), (4, "min"), (5, "maj"), (0, "maj"), (5, "maj"), (7, "7")],
    ],
    "jazz": [[(2, "min7"), (7, "7"), (0, "maj7"), (9, "7")], [(0, "maj7"), (9, "min7"), (2, "min7"), (7, "7")]],
    "blues": [[(0, "7")] * 4 + [(5, "7")] * 2 + [(0, "7")] * 2 + [(7, "7"), (5, "7"), (0, "7"), (7, "7")]],
    "country": [[(0, "maj"), (0, "maj"), (5, "maj"), (0, "maj"), (7, "maj"), (7, "maj"), (0, "maj"), (7, "maj")]],
}
_MINOR = {
    "classical": [[(0, "min"), (5, "min"), (7, "7"), (0, "min")], [(0, "min"), (8, "maj"), (5, "min"), (7, "7")]],
    "latin": [
        [(0, "min"), (5, "min"), (7, "7"), (0, "min")],
        [(0, "min7"), (5, "7"), (0, "min7"), (7, "7")],
        [(2, "min7"), (7, "7"), (0, "min7"), (0, "min7")],
    ],
    "pop": [[(0, "min"), (8, "maj"), (3, "maj"), (10, "maj")], [(0, "min"), (10, "maj"), (8, "maj"), (7, "maj")]],
}
#: genre tag -> (tempo range bpm, swing range, progression families with weights)
GENRE_STYLE: dict[str, dict] = {
    "cla": {
        "tempo": (56, 132),
        "swing": (0.5, 0.5),
        "families": [("major", "classical", 0.6), ("minor", "classical", 0.4)],
    },
    "jaz_blu": {
        "tempo": (70, 190),
        "swing": (0.58, 0.68),
        "families": [("major", "jazz", 0.6), ("major", "blues", 0.4)],
    },
    "pop_roc": {"tempo": (80, 160), "swing": (0.5, 0.53), "families": [("major", "pop", 0.7), ("minor", "pop", 0.3)]},
    "cou_fol": {
        "tempo": (80, 170),
        "swing": (0.5, 0.56),
        "families": [("major", "country", 0.5), ("major", "pop", 0.5)],
    },
    "lat_sou": {
        "tempo": (85, 130),
        "swing": (0.5, 0.55),
        "families": [("minor", "latin", 0.6), ("major", "jazz", 0.4)],
    },
}
assert set(GENRE_STYLE) == set(GENRES)


@dataclass
class Song:
    """Shared grid of one clip (or one 'song' whose excerpts share it)."""

    genre: str
    tonic: int  # pitch class 0-11
    mode: str  # key of SCALES
    tempo_bpm: float
    swing: float  # 0.5 = straight eighths, 0.67 = triplet swing
    beats_per_bar: int
    chords: list[tuple[int, str]] = field(default_factory=list)  # per bar: (root pitch class, quality)
    start_bar: float = 0.0  # grid offset so excerpts of one song start at different places

    @property
    def beat_s(self) -> float:
        return 60.0 / self.tempo_bpm

    @property
    def bar_s(self) -> float:
        return self.beat_s * self.beats_per_bar

    def time(self, beat: float) -> float:
        """Seconds of a beat position (0 = clip start), swing applied to off-beat eighths."""
        whole = math.floor(beat)
        frac = beat - whole
        if self.swing != 0.5:
            frac = frac / 0.5 * self.swing if frac < 0.5 else self.swing + (frac - 0.5) / 0.5 * (1 - self.swing)
        return (whole + frac) * self.beat_s

    def chord_at(self, beat: float) -> tuple[int, str]:
        bar = int((beat // self.beats_per_bar) + self.start_bar)
        return self.chords[bar % len(self.chords)]

    def chord_pcs(self, beat: float) -> tuple[int, ...]:
        root, quality = self.chord_at(beat)
        return tuple((root + i) % 12 for i in CHORDS[quality])

    def scale_pcs(self) -> tuple[int, ...]:
        return tuple((self.tonic + i) % 12 for i in SCALES[self.mode])

    def n_beats(self, duration_s: float) -> int:
        return int(math.ceil(duration_s / self.beat_s)) + 1


def make_song(genre: str, rng: np.random.Generator) -> Song:
    """Random key, mode, tempo, swing, metre and progression plausible for ``genre``."""
    style = GENRE_STYLE[genre]
    families = style["families"]
    weights = np.array([w for *_, w in families])
    mode_kind, family, _ = families[rng.choice(len(families), p=weights / weights.sum())]
    table = _MAJOR if mode_kind == "major" else _MINOR
    progression = table[family][rng.integers(len(table[family]))]
    tonic = int(rng.integers(12))
    chords = [((tonic + root) % 12, quality) for root, quality in progression]
    if mode_kind == "major":
        mode = (
            "blues"
            if family == "blues" and rng.random() < 0.5
            else ("mixolydian" if family in ("blues", "country") and rng.random() < 0.3 else "major")
        )
    else:
        mode = str(rng.choice(["minor", "harmonic", "dorian"]))
    beats_per_bar = 3 if genre in ("cla", "cou_fol") and rng.random() < 0.25 else 4
    swing = float(rng.uniform(*style["swing"]))
    return Song(
        genre,
        tonic,
        mode,
        float(rng.uniform(*style["tempo"])),
        swing,
        beats_per_bar,
        chords,
        start_bar=float(rng.integers(len(chords))),
    )


def nearest_in(pitch: float, pcs: tuple[int, ...], lo: int, hi: int) -> int:
    """The MIDI note with a pitch class in ``pcs`` closest to ``pitch``, within [lo, hi]."""
    base = int(round(pitch))
    for offset in range(0, 12):
        for cand in (base + offset, base - offset):
            if lo <= cand <= hi and cand % 12 in pcs:
                return cand
    return int(np.clip(base, lo, hi))
