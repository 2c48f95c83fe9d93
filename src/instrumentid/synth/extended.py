"""Idioms of the extended codes that are not plain melodic lines: drum kit, basses, synths,
mallets and steelpan, electric piano and harpsichord, accordion, harp, banjo, sitar and bagpipes.

Brass, oboe, bassoon and harmonica play phrases with held notes like the IRMAS winds
(``parts.make_part``). Programs come from :data:`soundfonts.PROGRAMS` (the vocabulary).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from instrumentid.synth import grooves, phrases
from instrumentid.synth.music import Song, nearest_in
from instrumentid.synth.phrases import Note, Part, _jitter, _vel, _voicing
from instrumentid.synth.soundfonts import PROGRAMS

#: GM programs of ``syn`` (the vocabulary's) by kind: synth basses, leads (square, saw, ...), pads.
SYNTH_BASS = tuple(p for p in PROGRAMS["syn"] if p < 80)
SYNTH_LEAD = tuple(p for p in PROGRAMS["syn"] if 80 <= p < 88)
SYNTH_PAD = tuple(p for p in PROGRAMS["syn"] if p >= 88)
#: The tanpura-like drone of Indian ensembles: GM has no tanpura; the sitar is its nearest relative.
DRONE_PROGRAM = 104
_KITS = {"jaz_blu": (32, 40, 0), "cla": (40, 8), "pop_roc": (0, 8, 16, 24, 25), "lat_sou": (0, 8, 24, 25)}


def program_for(code: str, rng: np.random.Generator, genre: str) -> int:
    """A GM program of ``code`` that suits ``genre`` (jazz kits in jazz, bowed contrabass in classical)."""
    if code == "drone":
        return DRONE_PROGRAM
    programs = PROGRAMS[code]
    if code == "dru":
        return int(rng.choice(_KITS.get(genre, (0, 8, 16))))
    if code == "dbl":
        return 43 if genre == "cla" else 32
    if code == "syn":
        kind = rng.choice(3, p=[0.25, 0.45, 0.3])
        return int(rng.choice([SYNTH_BASS, SYNTH_LEAD, SYNTH_PAD][kind]))
    return int(rng.choice(programs))


def _drums(part: Part, song: Song, rng: np.random.Generator, duration_s: float, lo: int, hi: int) -> None:
    part.notes = grooves.groove(song, rng, duration_s)
    part.articulation = "groove"


def _bass(part: Part, song: Song, rng: np.random.Generator, duration_s: float, lo: int, hi: int) -> None:
    """Walking or two-feel (jazz, acoustic), eighth-note roots, octaves or syncopated funk; bowed
    contrabass plays a legato line."""
    if part.program == 43:
        part.notes = phrases.line(song, rng, part.role, duration_s, lo=lo, hi=hi, articulation="legato", density=0.5)
        part.articulation = "bowed"
        return
    style = (
        "walk"
        if song.genre == "jaz_blu" or part.role == "dbl"
        else str(rng.choice(["eighths", "octaves", "funk", "walk"], p=[0.4, 0.2, 0.25, 0.15]))
    )
    part.articulation = style
    if style == "walk":
        part.notes = phrases.bass_line(song, rng, duration_s)
        return
    grid = {"eighths": "xxxxxxxx", "octaves": "x" * 8, "funk": "x..x.x.xx.x..x.x"}[style]
    per_beat = len(grid) // 4
    for step in range(song.n_beats(duration_s) * per_beat):
        if grid[step % len(grid)] == ".":
            continue
        beat = step / per_beat
        root = nearest_in(lo + 7, (song.chord_at(beat)[0],), lo, hi)
        pitch = root + 12 if style == "octaves" and step % 2 else root
        length = song.time(beat + 1 / per_beat) - song.time(beat)
        part.notes.append(Note(_jitter(rng, song.time(beat), 0.005), length * 0.85, pitch, _vel(rng, 92, 8)))


def _synth(part: Part, song: Song, rng: np.random.Generator, duration_s: float, lo: int, hi: int) -> None:
    """Synth bass lines, held pad chords with a slow swell, or a lead: gliding line or arpeggio."""
    if part.program in SYNTH_BASS:
        _bass(part, song, rng, duration_s, 28, 55)
    elif part.program in SYNTH_PAD:
        part.notes = _held_chords(song, rng, duration_s, 48, 79)
        part.expression = phrases.breath_expression(part.notes, rng, duration_s, depth=0.5)
        part.articulation = "pad"
    elif rng.random() < 0.4:
        part.notes = arpeggio(song, rng, duration_s, lo=55, hi=88, per_beat=4)
        part.articulation = "arp"
    else:
        part.notes = phrases.line(song, rng, "syn", duration_s, lo=55, hi=88, articulation="legato")
        part.articulation = "lead"
        part.vibrato_hz, part.vibrato_cents = float(rng.uniform(5.0, 6.5)), float(rng.uniform(10, 30))


def _mallets(part: Part, song: Song, rng: np.random.Generator, duration_s: float, lo: int, hi: int) -> None:
    """Vibraphone/glockenspiel melodies, marimba/xylophone/steelpan runs with rolled long notes."""
    if rng.random() < 0.35:
        part.notes = arpeggio(song, rng, duration_s, lo=lo, hi=hi, per_beat=2)
        part.articulation = "arp"
        return
    notes = phrases.line(song, rng, part.role, duration_s, lo=lo, hi=hi, articulation="normal")
    part.notes = roll_long_notes(notes, song) if part.program in (12, 13, 114) else notes
    part.articulation = "melody"


def _keys(part: Part, song: Song, rng: np.random.Generator, duration_s: float, lo: int, hi: int) -> None:
    """Two-hand keyboard textures; the harpsichord has no sustain pedal."""
    part.notes, pedal = phrases.keyboard(song, rng, duration_s, role="pia", lo=lo, hi=hi)
    part.pedal = pedal if part.role == "epi" else []
    part.articulation = "keys"


def _accordion(part: Part, song: Song, rng: np.random.Generator, duration_s: float, lo: int, hi: int) -> None:
    """Left-hand oom-pah (bass on the strong beats, chord on the others) under a legato melody."""
    for beat in range(song.n_beats(duration_s)):
        root, quality = song.chord_at(beat)
        start, length = song.time(beat), song.beat_s * 0.6
        pitches = [nearest_in(43, (root,), 36, 52)] if beat % 2 == 0 else _voicing(root, quality, rng, 53, 67, 3)
        part.notes += [Note(_jitter(rng, start), length, p, _vel(rng, 62)) for p in pitches]
    part.notes += phrases.line(song, rng, "acc", duration_s, lo=60, hi=hi, articulation="legato")
    part.expression = phrases.breath_expression(part.notes, rng, duration_s, depth=0.3)
    part.articulation = "oompah"


def _harp(part: Part, song: Song, rng: np.random.Generator, duration_s: float, lo: int, hi: int) -> None:
    part.notes = arpeggio(song, rng, duration_s, lo=lo, hi=min(hi, lo + 36), per_beat=int(rng.choice([2, 4])), ring=2.0)
    if rng.random() < 0.5:
        part.notes += phrases.line(song, rng, "hrp", duration_s, lo=60, hi=hi, articulation="normal", density=0.7)
    part.articulation = "arp"


def _banjo(part: Part, song: Song, rng: np.random.Generator, duration_s: float, lo: int, hi: int) -> None:
    """Three-finger rolls: sixteenths through a chord voicing (forward, backward or alternating)."""
    order = [[0, 1, 2, 0, 1, 2, 0, 2], [2, 1, 0, 2, 1, 0, 2, 0], [0, 1, 0, 2, 0, 1, 0, 2]][int(rng.integers(3))]
    for step in range(song.n_beats(duration_s) * 4):
        beat = step / 4
        root, quality = song.chord_at(beat)
        voicing = _voicing(root, quality, rng, lo, hi, 3)
        pitch = voicing[order[step % 8] % len(voicing)]
        part.notes.append(Note(_jitter(rng, song.time(beat), 0.004), song.beat_s * 0.6, pitch, _vel(rng, 80, 10)))
    part.articulation = "roll"


def _sitar(part: Part, song: Song, rng: np.random.Generator, duration_s: float, lo: int, hi: int) -> None:
    """A melody with meend (slides into notes) and chikari strokes on the high drone strings."""
    part.notes = phrases.line(song, rng, "sit", duration_s, lo=lo, hi=hi, articulation="legato")
    for note in part.notes[:: max(1, len(part.notes) // 4)]:
        slide = float(rng.choice([-2.0, -1.0, 1.0]))
        part.bends += [(note.start_s, slide), (note.start_s + 0.15, 0.0)]
    tonic = nearest_in(hi - 5, (song.tonic,), lo, hi)
    for beat in np.arange(0.5, song.n_beats(duration_s), 1.0):
        part.notes += [
            Note(_jitter(rng, song.time(beat)) + 0.01 * k, 0.3, p, _vel(rng, 50))
            for k, p in enumerate((tonic, tonic + 12))
            if p <= 127
        ]
    part.articulation = "meend"


def _bagpipes(part: Part, song: Song, rng: np.random.Generator, duration_s: float, lo: int, hi: int) -> None:
    """A chanter melody over the held bass and tenor drones (the tonic, two and one octaves down)."""
    part.notes = phrases.line(song, rng, "bgp", duration_s, lo=lo, hi=hi, articulation="legato")
    drone = nearest_in(lo - 22, (song.tonic,), 40, 52)
    part.notes += [Note(0.0, duration_s + 1.0, p, 70) for p in (drone, drone + 12)]
    part.articulation = "drone"


def _drone(part: Part, song: Song, rng: np.random.Generator, duration_s: float, lo: int, hi: int) -> None:
    """Tanpura cycle: fifth, upper tonic twice, low tonic, one pluck a beat, each ringing long."""
    tonic = nearest_in(48, (song.tonic,), 43, 55)
    cycle = (tonic + 7, tonic + 12, tonic + 12, tonic)
    for beat in range(song.n_beats(duration_s)):
        start = song.time(beat)
        part.notes.append(Note(_jitter(rng, start, 0.01), song.beat_s * 3.5, cycle[beat % 4], _vel(rng, 70, 6)))
    part.articulation = "drone"


#: code -> idiom filling a part (the others are melodic lines, see ``parts.make_part``).
IDIOMS: dict[str, Callable[..., None]] = {
    "dru": _drums,
    "bas": _bass,
    "dbl": _bass,
    "syn": _synth,
    "mal": _mallets,
    "stp": _mallets,
    "epi": _keys,
    "hpd": _keys,
    "acc": _accordion,
    "hrp": _harp,
    "bjo": _banjo,
    "sit": _sitar,
    "bgp": _bagpipes,
    "drone": _drone,
}


def arpeggio(
    song: Song, rng: np.random.Generator, duration_s: float, *, lo: int, hi: int, per_beat: int, ring: float = 1.0
) -> list[Note]:
    """Chord tones up and down over two octaves, ``per_beat`` notes a beat, each ringing ``ring`` steps."""
    notes = []
    for step in range(song.n_beats(duration_s) * per_beat):
        beat = step / per_beat
        root, quality = song.chord_at(beat)
        voicing = _voicing(root, quality, rng, lo, hi, 6)
        cycle = voicing + voicing[-2:0:-1]
        length = song.time(beat + ring / per_beat) - song.time(beat)
        notes.append(Note(_jitter(rng, song.time(beat), 0.004), length, cycle[step % len(cycle)], _vel(rng, 75, 8)))
    return notes


def roll_long_notes(notes: list[Note], song: Song, *, min_s: float = 0.35) -> list[Note]:
    """Long notes played as tremolo rolls (sixteenth-note repeats), as on marimba or steelpan."""
    out = []
    step = song.beat_s / 4
    for note in notes:
        if note.duration_s < min_s:
            out.append(note)
            continue
        count = int(note.duration_s / step)
        out += [
            Note(note.start_s + k * step, step * 0.9, note.pitch, max(20, note.velocity - 12 * (k % 2)))
            for k in range(count)
        ]
    return out


def _held_chords(song: Song, rng: np.random.Generator, duration_s: float, lo: int, hi: int) -> list[Note]:
    """One sustained voicing a bar (pads), slightly overlapping the next."""
    notes = []
    for bar in range(int(np.ceil(duration_s / song.bar_s)) + 1):
        beat = bar * song.beats_per_bar
        root, quality = song.chord_at(beat)
        start = song.time(beat)
        notes += [Note(start, song.bar_s * 1.05, p, _vel(rng, 70, 5)) for p in _voicing(root, quality, rng, lo, hi, 4)]
    return notes
