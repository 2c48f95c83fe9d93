"""Drum-kit grooves for the labelled drum kit (``dru``): kick/snare/hi-hat/ride patterns of real
styles on a sixteenth grid, ghost notes, open hats, tom fills at phrase ends and crashes after them.

The unlabelled accompaniment drums of IRMAS-style clips keep their own simpler grooves
(``phrases.drums``), so the default output does not change.
"""

from __future__ import annotations

import numpy as np

from instrumentid.synth.music import Song
from instrumentid.synth.phrases import Note, _jitter, _vel

#: GM percussion keys (channel 10).
KICK, SNARE, RIM, CLAP, HAT, PEDAL_HAT, OPEN_HAT, RIDE, RIDE_BELL, CRASH, CHINA = (
    36,
    38,
    37,
    39,
    42,
    44,
    46,
    51,
    53,
    49,
    52,
)
TOMS = (50, 48, 47, 45, 43, 41)  # high to low
#: One 4/4 bar per style: key -> 16 steps; ``X`` accent, ``x`` hit, ``o`` ghost note, ``.`` rest.
PATTERNS: dict[str, dict[int, str]] = {
    "rock": {HAT: "X.x.X.x.X.x.X.x.", KICK: "x.......x.x.....", SNARE: "....X.......X..."},
    "pop": {HAT: "XxxxXxxxXxxxXxxx", KICK: "x..x..x.x.......", SNARE: "....X.......X..."},
    "funk": {
        HAT: "xxxXxxx.xxxXxxx.",
        OPEN_HAT: ".......x.......x",
        KICK: "x..x..x...x..x..",
        SNARE: "..o.X..o.o..X..o",
    },
    "disco": {
        HAT: "x.x.x.x.x.x.x.x.",
        OPEN_HAT: "..X...X...X...X.",
        KICK: "X...X...X...X...",
        SNARE: "....X.......X...",
    },
    "hiphop": {HAT: "x.x.x.x.x.x.x.x.", KICK: "X......x..x.....", SNARE: "....X.......X..o", CLAP: "....x.......x..."},
    "halftime": {HAT: "x.x.x.x.x.x.x.x.", KICK: "X.........x.....", SNARE: "........X......."},
    "metal": {CHINA: "X...X...X...X...", KICK: "xxxxxxxxxxxxxxxx", SNARE: "....X.......X..."},
    "ballad": {RIDE: "x.x.x.x.x.x.x.x.", KICK: "X.......x.......", RIM: "....x.......x..."},
    "swing": {
        RIDE: "X...x..xX...x..x",
        PEDAL_HAT: "....x.......x...",
        KICK: "o...o...o...o...",
        SNARE: "......o.......o.",
    },
    "shuffle": {HAT: "x.x.x.x.x.x.x.x.", KICK: "X.....x.X.....x.", SNARE: "....X.......X..."},
    "train": {SNARE: "xXxXxXxXxXxXxXxX", KICK: "X.......X......."},
    "bossa": {HAT: "x.x.x.x.x.x.x.x.", KICK: "x..xx..xx..xx..x", RIM: "x..x..x...x..x.."},
    "reggae": {HAT: "x.x.x.x.x.x.x.x.", KICK: "........X.......", RIM: "........X......."},
    "waltz": {HAT: "x.x.x.x.x.x.", KICK: "X...........", SNARE: "....x...x..."},
}
#: genre -> styles a drummer of that genre plays (4/4; 3/4 bars use ``waltz``).
GENRE_STYLES: dict[str, tuple[str, ...]] = {
    "pop_roc": ("rock", "rock", "pop", "pop", "funk", "disco", "hiphop", "halftime", "metal"),
    "jaz_blu": ("swing", "swing", "shuffle", "ballad"),
    "cou_fol": ("train", "rock", "halftime", "shuffle"),
    "lat_sou": ("bossa", "funk", "reggae", "disco"),
    "cla": ("ballad", "halftime"),
}
_LEVEL = {"X": 105, "x": 82, "o": 40}


def groove(song: Song, rng: np.random.Generator, duration_s: float, *, style: str | None = None) -> list[Note]:
    """A drum-kit part: the style's bar repeated, humanised, with a fill closing every 2-4 bars
    and a crash on the bar after it (and maybe on the first bar)."""
    style = "waltz" if song.beats_per_bar == 3 else style or str(rng.choice(GENRE_STYLES[song.genre]))
    pattern, steps = PATTERNS[style], len(next(iter(PATTERNS[style].values())))
    phrase = int(rng.choice([2, 4]))
    n_bars = int(np.ceil(duration_s / song.bar_s)) + 1
    start_bar = int(rng.integers(phrase))
    notes: list[Note] = []
    if rng.random() < 0.5:
        notes.append(_hit(song, rng, 0.0, CRASH, 100))
    for bar in range(n_bars):
        position = (bar + start_bar) % phrase
        fill_from = steps - int(rng.choice([4, 8])) if position == phrase - 1 and rng.random() < 0.7 else steps
        for step in range(steps):
            beat = bar * song.beats_per_bar + step / 4
            if step >= fill_from:
                notes += _fill_step(song, rng, beat, step - fill_from)
                continue
            for key, row in pattern.items():
                if row[step] != ".":
                    notes.append(_hit(song, rng, beat, key, _LEVEL[row[step]]))
        if position == phrase - 1 and fill_from < steps:
            notes.append(_hit(song, rng, (bar + 1) * song.beats_per_bar, CRASH, 110))
            notes.append(_hit(song, rng, (bar + 1) * song.beats_per_bar, KICK, 105))
    return [n for n in notes if n.start_s < duration_s]


def _hit(song: Song, rng: np.random.Generator, beat: float, key: int, velocity: float) -> Note:
    return Note(_jitter(rng, song.time(beat), 0.004), 0.25, key, _vel(rng, velocity, 6))


def _fill_step(song: Song, rng: np.random.Generator, beat: float, k: int) -> list[Note]:
    """One sixteenth of a fill: snare then toms descending, with a kick under the quarter notes."""
    drum = SNARE if k < 2 else TOMS[min(len(TOMS) - 1, (k - 2) // 2 + int(rng.integers(0, 2)))]
    hits = [_hit(song, rng, beat, drum, 85 + 3 * k)]
    if k % 4 == 0:
        hits.append(_hit(song, rng, beat, KICK, 90))
    return hits
