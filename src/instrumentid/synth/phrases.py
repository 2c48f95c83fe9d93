"""Musical content: idiomatic phrases for the IRMAS classes and the accompaniment roles.

A :class:`Part` is renderer-independent (seconds, MIDI pitches, velocities, continuous
expression/vibrato/bend curves), so the same phrase can be played by FluidSynth, by the
real-note sampler or by the voice synthesiser.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from instrumentid.synth.music import CHORDS, Song, nearest_in

#: Playable (comfortable) MIDI range of each role.
RANGES: dict[str, tuple[int, int]] = {
    "cel": (36, 72),
    "cla": (52, 86),
    "flu": (60, 93),
    "gac": (40, 76),
    "gel": (40, 84),
    "org": (36, 84),
    "pia": (28, 96),
    "sax": (49, 81),
    "tru": (54, 82),
    "vio": (55, 93),
    "voi": (48, 79),
    "bass": (28, 52),
    "other": (48, 84),
    # extended codes
    "bas": (28, 55),
    "dbl": (28, 55),
    "mal": (53, 96),
    "syn": (36, 96),
    "epi": (28, 91),
    "hpd": (29, 89),
    "hrp": (24, 96),
    "bjo": (48, 81),
    "sit": (50, 81),
    "acc": (41, 89),
    "hmc": (60, 91),
    "tbn": (40, 72),
    "hrn": (41, 77),
    "tba": (28, 58),
    "obo": (58, 91),
    "bsn": (34, 72),
    "bgp": (67, 81),
    "stp": (55, 88),
}
SAX_RANGES = {64: (56, 87), 65: (49, 81), 66: (44, 76), 67: (36, 69)}
#: vibrato (rate range Hz, depth range cents) for sustained classes.
VIBRATO = {
    "cel": ((4.5, 6.5), (12, 35)),
    "vio": ((5.0, 7.0), (12, 35)),
    "flu": ((4.5, 6.0), (8, 25)),
    "cla": ((4.5, 5.5), (0, 6)),
    "sax": ((4.5, 6.0), (15, 40)),
    "tru": ((4.5, 6.0), (6, 20)),
    "voi": ((5.0, 6.2), (30, 80)),
    "org": ((6.0, 7.0), (0, 0)),
    "obo": ((4.5, 6.0), (10, 25)),
    "bsn": ((4.5, 5.5), (8, 20)),
    "tbn": ((4.5, 5.5), (5, 15)),
    "hrn": ((4.5, 5.5), (3, 10)),
    "tba": ((4.0, 5.0), (3, 10)),
    "hmc": ((5.0, 7.0), (10, 40)),
}
_CELLS = [
    [1, 1, 1, 1],
    [2, 1, 1],
    [1.5, 0.5, 1, 1],
    [0.5] * 8,
    [3, 1],
    [4],
    [1, 0.5, 0.5, 2],
    [0.5, 0.5, 1, 2],
    [1, 1, 2],
    [0.75, 0.25, 1, 2],
    [2, 2],
    [0.5, 0.5, 0.5, 0.5, 2],
]
_CELLS3 = [[1, 1, 1], [2, 1], [3], [1.5, 0.5, 1], [0.5] * 6, [1, 0.5, 0.5, 1]]


@dataclass
class Note:
    start_s: float
    duration_s: float
    pitch: int
    velocity: int


@dataclass
class Part:
    """One instrument's line. ``role`` is a vocabulary code or 'bass', 'drums', 'other'."""

    role: str
    notes: list[Note]
    program: int = 0
    articulation: str = "normal"
    vibrato_hz: float = 0.0
    vibrato_cents: float = 0.0
    vibrato_delay_s: float = 0.3
    expression: list[tuple[float, float]] = field(default_factory=list)  # (time_s, 0..1) CC11
    bends: list[tuple[float, float]] = field(default_factory=list)  # (time_s, semitones)
    pedal: list[tuple[float, bool]] = field(default_factory=list)  # sustain pedal CC64
    volume: float = 0.8  # CC7

    @property
    def drums(self) -> bool:
        """Played on the GM drum channel: the accompaniment kit or the labelled ``dru``."""
        return self.role in ("drums", "dru")


def _vel(rng: np.random.Generator, base: float, spread: float = 8.0) -> int:
    return int(np.clip(round(base + rng.normal(0, spread)), 12, 127))


def _jitter(rng: np.random.Generator, t: float, amount_s: float = 0.008) -> float:
    return max(0.0, t + float(rng.normal(0, amount_s)))


def line(
    song: Song,
    rng: np.random.Generator,
    role: str,
    duration_s: float,
    *,
    lo: int,
    hi: int,
    articulation: str = "normal",
    density: float = 1.0,
    vocal: bool = False,
) -> list[Note]:
    """A melodic line: rhythm cells, stepwise motion with leaps, chord tones on strong beats,
    phrase arcs in velocity and breathing rests every 2-4 bars."""
    cells = _CELLS3 if song.beats_per_bar == 3 else _CELLS
    scale = song.scale_pcs()
    pitch = float(rng.uniform(lo + (hi - lo) * 0.3, lo + (hi - lo) * 0.7))
    notes: list[Note] = []
    beat = float(rng.choice([0.0, 0.5, 1.0])) if rng.random() < 0.4 else 0.0
    end_beat = duration_s / song.beat_s + 1
    phrase_len = int(rng.integers(2, 5)) * song.beats_per_bar
    phrase_start = 0.0
    base_vel = rng.uniform(60, 100)
    while beat < end_beat:
        bar_start = beat
        cell = cells[rng.integers(len(cells))]
        if density < 1.0 and rng.random() > density:
            cell = [float(song.beats_per_bar)]
        for length in cell:
            if beat >= end_beat:
                break
            length = float(length) * (2 if vocal and length < 0.5 else 1)
            if beat - phrase_start >= phrase_len:  # breathe: rest, new phrase
                rest = float(rng.choice([0.5, 1.0, 1.5, 2.0]))
                beat += rest
                phrase_start = beat
                phrase_len = int(rng.integers(2, 5)) * song.beats_per_bar
                base_vel = rng.uniform(55, 105)
                break
            step = rng.choice([-2, -1, -1, 0, 1, 1, 2, -3, 3, -4, 4, 5, -5], p=None)
            pitch = pitch + step * 1.7 + (0.15 * ((lo + hi) / 2 - pitch) / 6)
            strong = (beat % 1.0 == 0.0) and (beat % 2.0 == 0.0 or length >= 1)
            pcs = song.chord_pcs(beat) if strong else scale
            midi = nearest_in(pitch, pcs, lo, hi)
            pitch = float(midi)
            position = (beat - phrase_start) / max(phrase_len, 1)
            arc = 14 * np.sin(np.pi * min(position, 1.0))
            accent = 8 if beat % song.beats_per_bar == 0 else 0
            start = song.time(beat)
            ioi = song.time(beat + length) - start
            dur = {
                "legato": ioi * rng.uniform(1.02, 1.12),
                "staccato": ioi * rng.uniform(0.25, 0.45),
                "pizzicato": min(ioi, 0.4),
            }.get(articulation, ioi * rng.uniform(0.8, 0.95))
            notes.append(Note(_jitter(rng, start), dur, midi, _vel(rng, base_vel + arc + accent, 6)))
            beat += length
        else:
            continue
        if beat <= bar_start:
            beat = bar_start + 1
    return notes


def breath_expression(
    notes: list[Note], rng: np.random.Generator, duration_s: float, *, depth: float = 0.35
) -> list[tuple[float, float]]:
    """CC11 curve: swells within notes and a slow phrase-level breath (sampled at 25 Hz)."""
    times = np.arange(0.0, duration_s + 0.5, 0.04)
    slow = 0.75 + 0.2 * np.sin(2 * np.pi * rng.uniform(0.08, 0.25) * times + rng.uniform(0, 6.3))
    values = slow.copy()
    for note in notes:
        inside = (times >= note.start_s) & (times < note.start_s + note.duration_s)
        if inside.any():
            x = (times[inside] - note.start_s) / max(note.duration_s, 1e-3)
            shape = rng.choice(["swell", "decay", "flat"])
            bump = {"swell": np.sin(np.pi * x), "decay": 1 - x, "flat": np.zeros_like(x)}[shape]
            values[inside] *= (1 - depth) + depth * (0.6 + 0.4 * bump)
    return [(float(t), float(np.clip(v, 0.05, 1.0))) for t, v in zip(times, values, strict=True)]


def _voicing(root_pc: int, quality: str, rng: np.random.Generator, lo: int, hi: int, n: int) -> list[int]:
    """A chord voicing: root in the bass, chord tones stacked with 3-7 semitone gaps."""
    pcs = [(root_pc + i) % 12 for i in CHORDS[quality]]
    bass = nearest_in(lo + rng.uniform(0, 8), (root_pc,), lo, hi)
    notes = [bass]
    while len(notes) < n:
        nxt = notes[-1] + 3
        while nxt % 12 not in pcs:
            nxt += 1
        if rng.random() < 0.3:
            nxt += 12 if nxt + 12 <= hi and len(notes) == 1 else 0
        if nxt > hi:
            break
        notes.append(nxt)
    return notes


_STRUMS = ["D.D.DUDU", "D.DU.UDU", "D..D..D.", "DUDUDUDU", "D...D...", "D.DUDUDU", "D..U.UDU"]


def guitar(song: Song, rng: np.random.Generator, duration_s: float, *, style: str, lo: int, hi: int) -> list[Note]:
    """Strummed chords (staggered string onsets, up/down), finger-picked patterns or power chords."""
    notes: list[Note] = []
    n_beats = song.n_beats(duration_s)
    pattern = _STRUMS[rng.integers(len(_STRUMS))]
    stroke_ms = rng.uniform(8, 25)
    for beat8 in range(n_beats * 2):
        beat = beat8 / 2
        root, quality = song.chord_at(beat)
        start = song.time(beat)
        if style == "strum":
            char = pattern[beat8 % len(pattern)]
            if char == ".":
                continue
            voicing = _voicing(root, quality, rng, lo, min(hi, lo + 30), int(rng.integers(4, 7)))
            order = voicing if char == "D" else voicing[::-1][: max(3, len(voicing) - 2)]
            vel = rng.uniform(75, 110) if char == "D" else rng.uniform(50, 80)
            hold = song.time(beat + 1.0) - start
            for k, pitch in enumerate(order):
                notes.append(Note(_jitter(rng, start, 0.004) + k * stroke_ms / 1000, hold, pitch, _vel(rng, vel, 6)))
        elif style == "pick":
            voicing = _voicing(root, quality, rng, lo, min(hi, lo + 28), 5)
            idx = [0, 2, 1, 3, 2, 4, 1, 3][beat8 % 8] if len(voicing) >= 5 else beat8 % len(voicing)
            ring = song.time(beat + rng.uniform(1.0, 2.0)) - start
            notes.append(Note(_jitter(rng, start), ring, voicing[min(idx, len(voicing) - 1)], _vel(rng, 72, 10)))
        elif style == "power":
            bass = nearest_in(lo + 4, (root,), lo, lo + 14)
            mute = rng.random() < 0.6
            dur = (song.time(beat + 0.5) - start) * (0.45 if mute else 1.0)
            for pitch in (bass, bass + 7, bass + 12):
                notes.append(Note(_jitter(rng, start, 0.003), dur, pitch, _vel(rng, 100 if beat8 % 2 == 0 else 85, 6)))
        elif style == "chop":  # funk muted chops on off-beats / sixteenth feel
            if beat8 % 2 == 1 or rng.random() < 0.3:
                voicing = _voicing(root, quality, rng, lo + 12, hi, 3)
                for k, pitch in enumerate(voicing):
                    notes.append(Note(_jitter(rng, start, 0.004) + k * 0.006, 0.08, pitch, _vel(rng, 90, 8)))
    return notes


def keyboard(
    song: Song, rng: np.random.Generator, duration_s: float, *, role: str, lo: int, hi: int
) -> tuple[list[Note], list[tuple[float, bool]]]:
    """Two-hand textures: LH bass/octaves, broken chords or Alberti; RH melody over chord tones,
    block chords or jazz comping; organ holds chords. Returns notes and sustain-pedal events."""
    notes: list[Note] = []
    pedal: list[tuple[float, bool]] = []
    n_bars = int(np.ceil(duration_s / song.bar_s)) + 1
    bpb = song.beats_per_bar
    lh = str(rng.choice(["octaves", "broken", "alberti", "block"] if role == "pia" else ["hold", "hold", "block"]))
    rh = str(
        rng.choice(
            ["melody", "chords", "comp"] if song.genre in ("jaz_blu", "lat_sou") else ["melody", "chords", "melody"]
        )
    )
    for bar in range(n_bars):
        beat0 = bar * bpb
        root, quality = song.chord_at(beat0)
        t0 = song.time(beat0)
        bar_len = song.time(beat0 + bpb) - t0
        if role == "pia":
            pedal += [(max(0.0, t0 - 0.01), False), (t0 + 0.03, True)]
        chord = _voicing(root, quality, rng, max(lo, 43), min(hi, 72), 4)
        bass = nearest_in(max(lo, 36) + 6, (root,), lo, 55)
        if lh == "octaves":
            for b in range(0, bpb, 2):
                for p in (bass - 12, bass) if bass - 12 >= lo else (bass,):
                    notes.append(Note(_jitter(rng, song.time(beat0 + b)), song.beat_s * 1.9, p, _vel(rng, 70)))
        elif lh in ("broken", "alberti"):
            seq = (
                [chord[0], chord[2 % len(chord)], chord[1 % len(chord)], chord[2 % len(chord)]]
                if lh == "alberti"
                else chord
            )
            for k in range(bpb * 2):
                notes.append(
                    Note(_jitter(rng, song.time(beat0 + k / 2)), song.beat_s * 0.9, seq[k % len(seq)], _vel(rng, 58))
                )
        else:  # block / hold
            hits = [0.0] if lh == "hold" else [0.0, bpb / 2]
            for h in hits:
                for p in [bass] + chord[1:]:
                    notes.append(
                        Note(_jitter(rng, song.time(beat0 + h), 0.004), bar_len / len(hits) * 0.98, p, _vel(rng, 65))
                    )
        if rh == "chords":
            top = _voicing(root, quality, rng, 60, min(hi, 84), 4)[1:]
            for h in range(0, bpb, 1 if rng.random() < 0.5 else 2):
                for p in top:
                    notes.append(Note(_jitter(rng, song.time(beat0 + h), 0.004), song.beat_s * 0.95, p, _vel(rng, 72)))
        elif rh == "comp":
            for h in sorted(rng.choice([0.5, 1.5, 2.0, 2.5, 3.5][: bpb + 1], size=2, replace=False)):
                for p in _voicing(root, quality, rng, 55, 76, 4)[1:]:
                    notes.append(Note(_jitter(rng, song.time(beat0 + h), 0.004), song.beat_s * 0.6, p, _vel(rng, 70)))
    if rh == "melody":
        notes += line(song, rng, role, duration_s, lo=60, hi=min(hi, 88), articulation="normal")
    return notes, pedal


def bass_line(song: Song, rng: np.random.Generator, duration_s: float) -> list[Note]:
    """Root/fifth patterns, or a walking bass in jazz."""
    lo, hi = RANGES["bass"]
    notes = []
    walking = song.genre == "jaz_blu" and rng.random() < 0.7
    for beat in range(song.n_beats(duration_s)):
        root, quality = song.chord_at(beat)
        pos = beat % song.beats_per_bar
        if walking:
            pcs = song.chord_pcs(beat) if pos != song.beats_per_bar - 1 else song.scale_pcs()
            pitch = nearest_in(lo + 8 + rng.uniform(-4, 8), (root,) if pos == 0 else pcs, lo, hi)
            notes.append(Note(_jitter(rng, song.time(beat)), song.beat_s * 0.9, pitch, _vel(rng, 85)))
        elif pos in (0, 2) or rng.random() < 0.25:
            fifth = (root + 7) % 12
            pitch = nearest_in(lo + 8, (root,) if pos == 0 or rng.random() < 0.6 else (fifth,), lo, hi)
            length = 2 if pos == 0 and rng.random() < 0.4 else 1
            notes.append(Note(_jitter(rng, song.time(beat)), song.beat_s * length * 0.85, pitch, _vel(rng, 90)))
    return notes


#: GM percussion keys
KICK, SNARE, RIM, HAT, OPEN_HAT, RIDE, CRASH, TAMB, CONGA_HI, CONGA_LO, CLAVE, SHAKER = (
    36,
    38,
    37,
    42,
    46,
    51,
    49,
    54,
    62,
    64,
    75,
    70,
)


def drums(song: Song, rng: np.random.Generator, duration_s: float) -> list[Note]:
    """Genre grooves on a sixteenth grid (rock, swing ride, train beat, latin), crash on bar 1."""
    notes = []
    style = {"jaz_blu": "swing", "cou_fol": "train", "lat_sou": "latin"}.get(song.genre, "rock")
    for bar in range(int(np.ceil(duration_s / song.bar_s)) + 1):
        for step in range(song.beats_per_bar * 4):
            beat = bar * song.beats_per_bar + step / 4
            hits: list[tuple[int, float]] = []
            on_beat, eighth = step % 4 == 0, step % 2 == 0
            b = step // 4
            if style == "rock":
                if eighth:
                    hits.append((HAT, 70 if on_beat else 55))
                if step in (0, 8) or (step == 10 and rng.random() < 0.4):
                    hits.append((KICK, 100))
                if b % 2 == 1 and on_beat:
                    hits.append((SNARE, 100))
            elif style == "swing":
                if on_beat or step % 4 == 3 and b % 2 == 1:
                    hits.append((RIDE, 70))
                if b % 2 == 1 and on_beat:
                    hits.append((HAT, 55))
                if rng.random() < 0.05:
                    hits.append((SNARE, 45))
            elif style == "train":
                if eighth:
                    hits.append((SNARE, 60 if not on_beat else 75))
                if on_beat and b % 2 == 0:
                    hits.append((KICK, 90))
            else:
                if step in (0, 6, 10, 12):
                    hits.append((CLAVE, 80))
                if eighth:
                    hits.append((SHAKER, 50))
                if step in (4, 7, 12, 14):
                    hits.append((CONGA_HI if step < 12 else CONGA_LO, 85))
                if step in (0, 8):
                    hits.append((KICK, 85))
            if step == 0 and bar == 0 and rng.random() < 0.5:
                hits.append((CRASH, 90))
            for key, vel in hits:
                notes.append(Note(_jitter(rng, song.time(beat), 0.005), 0.2, key, _vel(rng, vel, 7)))
    return notes
