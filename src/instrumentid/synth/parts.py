"""Turn (role, song) into a :class:`Part`: GM program, idiom, articulation, vibrato, expression."""

from __future__ import annotations

from collections.abc import Collection

import numpy as np

from instrumentid.labels import EXTENDED
from instrumentid.synth import phrases
from instrumentid.synth.extended import IDIOMS, program_for
from instrumentid.synth.music import Song
from instrumentid.synth.phrases import RANGES, SAX_RANGES, VIBRATO, Part
from instrumentid.synth.soundfonts import (
    BASS_PROGRAMS,
    DRUM_KITS,
    OTHER_PROGRAMS,
    OUTSIDE_PROGRAMS,
    PIZZICATO_PROGRAM,
    PROGRAMS,
    code_of_program,
)

_WINDS = ("cla", "flu", "sax", "tru", "obo", "bsn", "tbn", "hrn", "tba", "hmc")
_STRINGS = ("cel", "vio")


def accompaniment_programs(role: str, genre: str, exclude: Collection[str] = ()) -> tuple[int, ...]:
    """GM programs an unlabelled ``bass`` or ``other`` part may use, leaving out those whose
    vocabulary code is in ``exclude``; instruments of no code stand in for excluded ``other`` ones."""
    if role == "bass":
        base = BASS_PROGRAMS[:2] if genre in ("jaz_blu", "cla") else BASS_PROGRAMS
        kept = tuple(p for p in base if code_of_program(p) not in exclude)
        return kept or tuple(p for p in BASS_PROGRAMS if code_of_program(p) not in exclude)
    kept = tuple(p for p in OTHER_PROGRAMS if code_of_program(p) not in exclude)
    return OTHER_PROGRAMS if kept == OTHER_PROGRAMS else kept + tuple(p for p in OUTSIDE_PROGRAMS if p not in kept)


def accompaniment_available(role: str, exclude: Collection[str]) -> bool:
    """True when an accompaniment ``role`` can sound without playing a code of ``exclude``."""
    if role == "drums":
        return "dru" not in exclude
    return bool(accompaniment_programs(role, "pop_roc", exclude))


def choose_program(role: str, rng: np.random.Generator, genre: str, exclude: Collection[str] = ()) -> int:
    """A GM program for ``role``; electric guitar leans clean in jazz, distorted in rock.

    ``exclude``: codes an accompaniment ``bass``/``other``/``drums`` must not play (a negative's).
    """
    if role in ("bass", "other"):
        return int(rng.choice(accompaniment_programs(role, genre, exclude)))
    if role == "drums":
        return int(rng.choice(DRUM_KITS))
    if role == "voi":
        return -1  # not a GM instrument: rendered by voice.py
    if role in EXTENDED or role in IDIOMS:
        return program_for(role, rng, genre)
    programs = PROGRAMS[role]
    if role == "gel":
        weights = {"jaz_blu": [4, 3, 1, 1, 0.5], "pop_roc": [1, 2, 1, 3, 3]}.get(genre, [2, 3, 1, 1, 1])
        return int(rng.choice(programs, p=np.array(weights) / sum(weights)))
    if role == "flu":
        return int(rng.choice(programs, p=[0.85, 0.15]))
    if role == "org":
        weights = [3, 2, 3, 2 if genre == "cla" else 0.5, 1]
        return int(rng.choice(programs, p=np.array(weights) / sum(weights)))
    if role == "pia":
        return int(rng.choice(programs, p=[0.6, 0.3, 0.1]))
    if role == "sax":
        return int(rng.choice(programs, p=[0.15, 0.4, 0.35, 0.1]))
    return int(rng.choice(programs))


def make_part(
    role: str,
    song: Song,
    rng: np.random.Generator,
    duration_s: float,
    *,
    program: int | None = None,
    accompaniment: bool = False,
    sampler: bool = False,
) -> Part:
    """An idiomatic part for ``role`` over ``song``; ``accompaniment`` makes it sparser and softer.

    ``sampler=True`` avoids articulations the real-note sampler cannot play (pizzicato).
    """
    program = choose_program(role, rng, song.genre) if program is None else program
    lo, hi = SAX_RANGES.get(program, RANGES[role]) if role == "sax" else RANGES.get(role, (40, 84))
    part = Part(role, [], program=program, volume=float(rng.uniform(0.7, 0.95)))
    if role == "drums":
        part.notes = phrases.drums(song, rng, duration_s)
    elif role == "bass":
        part.notes = phrases.bass_line(song, rng, duration_s)
    elif role in IDIOMS:
        IDIOMS[role](part, song, rng, duration_s, lo, hi)
    elif role in ("gac", "gel"):
        _guitar(part, song, rng, duration_s, lo, hi, accompaniment)
    elif role in ("pia", "org"):
        part.notes, pedal = phrases.keyboard(song, rng, duration_s, role=role, lo=lo, hi=hi)
        part.pedal = pedal
        part.articulation = "keys"
    else:  # sustained melodic: winds, brass, strings, voice, other
        _melodic(part, song, rng, duration_s, lo, hi, accompaniment, sampler)
    if accompaniment:
        for note in part.notes:
            note.velocity = max(15, int(note.velocity * 0.8))
    part.notes = [n for n in part.notes if n.start_s < duration_s]
    return part


def _guitar(
    part: Part, song: Song, rng: np.random.Generator, duration_s: float, lo: int, hi: int, accompaniment: bool
) -> None:
    """Strums, picking, power chords, funk chops or a single-note lead (electric: string bends)."""
    role, program = part.role, part.program
    if role == "gel" and program in (29, 30):
        style = str(rng.choice(["power", "power", "lead"]))
    elif role == "gel" and program == 28:
        style = "chop"
    else:
        style = str(rng.choice(["strum", "pick", "lead"], p=[0.45, 0.35, 0.2] if role == "gac" else [0.3, 0.35, 0.35]))
    if accompaniment and style == "lead":
        style = "strum"
    if style == "lead":
        part.notes = phrases.line(song, rng, role, duration_s, lo=max(lo, 52), hi=hi)
        part.articulation = "lead"
        if role == "gel":  # string bends and finger vibrato
            for note in rng.choice(part.notes, size=min(len(part.notes), 3), replace=False) if part.notes else []:
                t = note.start_s + 0.05
                part.bends += [
                    (t, 0.0),
                    (t + 0.12, float(rng.choice([1.0, 2.0]))),
                    (note.start_s + note.duration_s, 0.0),
                ]
    else:
        part.notes = phrases.guitar(song, rng, duration_s, style=style, lo=lo, hi=hi)
        part.articulation = style


def _melodic(
    part: Part,
    song: Song,
    rng: np.random.Generator,
    duration_s: float,
    lo: int,
    hi: int,
    accompaniment: bool,
    sampler: bool,
) -> None:
    """Phrases of held notes and runs: articulation, pizzicato, delayed vibrato, breath expression."""
    role = part.role
    choices, weights = ["legato", "normal", "staccato"], [0.6, 0.25, 0.15]
    if role in _STRINGS and not sampler:
        choices, weights = choices + ["pizzicato"], [0.5, 0.2, 0.15, 0.15]
    articulation = str(rng.choice(choices, p=weights)) if role not in ("voi", "other") else "legato"
    if role == "other":
        articulation = "normal"
    part.articulation = articulation
    part.notes = phrases.line(
        song,
        rng,
        role,
        duration_s,
        lo=lo,
        hi=hi,
        articulation=articulation,
        density=0.6 if accompaniment else 1.0,
        vocal=role == "voi",
    )
    if articulation == "pizzicato":
        part.program = PIZZICATO_PROGRAM
    if role in VIBRATO and articulation in ("legato", "normal"):
        (rate_lo, rate_hi), (depth_lo, depth_hi) = VIBRATO[role]
        part.vibrato_hz = float(rng.uniform(rate_lo, rate_hi))
        part.vibrato_cents = float(rng.uniform(depth_lo, depth_hi))
        part.vibrato_delay_s = float(rng.uniform(0.1, 0.4))
    if role in _WINDS + _STRINGS + ("voi",):
        part.expression = phrases.breath_expression(part.notes, rng, duration_s, depth=0.45 if role in _WINDS else 0.3)
