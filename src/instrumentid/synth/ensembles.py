"""Genre-plausible ensembles and the IRMAS labelling rule (label only what is clearly audible).

IRMAS-style excerpts draw 2-5 IRMAS classes from a genre pool (:data:`GENRE_POOLS`). When the
class set has extended codes, excerpts are produced-sounding ensembles instead (:data:`ENSEMBLES`:
a band, a jazz combo, a string quartet, ...), mixed at the levels of records.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from instrumentid.labels import EXTENDED, GENRES, LABELS, VOCABULARY
from instrumentid.synth.soundfonts import renderable

#: genre -> weight of each labelled class in that genre's ensembles.
GENRE_POOLS: dict[str, dict[str, float]] = {
    "cla": {"vio": 3, "cel": 3, "flu": 2, "cla": 2, "pia": 3, "org": 1, "tru": 1, "voi": 1},
    "jaz_blu": {"sax": 3, "tru": 2, "pia": 3, "gel": 2, "gac": 1, "cla": 1, "voi": 2, "org": 1},
    "pop_roc": {"gel": 3, "gac": 2, "pia": 2, "org": 1, "voi": 3, "sax": 0.5, "vio": 0.3},
    "cou_fol": {"gac": 3, "vio": 2, "voi": 3, "pia": 1, "gel": 1, "flu": 0.5},
    "lat_sou": {"tru": 2, "sax": 2, "pia": 2, "gac": 2, "org": 1, "voi": 2, "flu": 1},
}
#: probability that a genre's ensemble has (unlabelled) drums / bass.
DRUMS_P = {"cla": 0.0, "jaz_blu": 0.8, "pop_roc": 0.9, "cou_fol": 0.6, "lat_sou": 0.85}
BASS_P = {"cla": 0.0, "jaz_blu": 0.9, "pop_roc": 0.9, "cou_fol": 0.8, "lat_sou": 0.9}
#: a labelled stem counts when within this many dB of the loudest labelled stem
LABEL_WINDOW_DB = 10.0
#: ... and when it sounds for at least this fraction of the excerpt
MIN_ACTIVE_FRACTION = 0.3

#: extended code -> weight of each genre for its training clips (IRMAS classes: GENRE_POOLS).
EXTENDED_GENRES: dict[str, dict[str, float]] = {
    "bas": {"pop_roc": 3, "lat_sou": 2, "jaz_blu": 1, "cou_fol": 1},
    "dbl": {"jaz_blu": 3, "cla": 1.5, "cou_fol": 1},
    "dru": {"pop_roc": 3, "jaz_blu": 2, "lat_sou": 2, "cou_fol": 1},
    "syn": {"pop_roc": 3, "lat_sou": 1},
    "mal": {"jaz_blu": 2, "cla": 2, "lat_sou": 1, "pop_roc": 0.5},
    "epi": {"jaz_blu": 2, "pop_roc": 2, "lat_sou": 2},
    "hpd": {"cla": 3},
    "hrp": {"cla": 3, "cou_fol": 1, "pop_roc": 0.5},
    "bjo": {"cou_fol": 3},
    "sit": {"cla": 2, "pop_roc": 0.5},
    "acc": {"cou_fol": 2, "lat_sou": 2, "cla": 0.5},
    "hmc": {"cou_fol": 2, "jaz_blu": 2},
    "tbn": {"jaz_blu": 2, "cla": 2, "lat_sou": 2},
    "hrn": {"cla": 3, "pop_roc": 0.3},
    "tba": {"cla": 2, "cou_fol": 1, "jaz_blu": 0.5},
    "obo": {"cla": 3},
    "bsn": {"cla": 3},
    "bgp": {"cou_fol": 2},
    "stp": {"lat_sou": 3},
}


@dataclass(frozen=True)
class Slot:
    """A place in an ensemble: one of ``codes`` plays it with probability ``p``, its stem
    ``level_db`` (range) relative to the lead's loudness."""

    codes: tuple[str, ...]
    p: float = 1.0
    level_db: tuple[float, float] = (0.0, 0.0)


@dataclass(frozen=True)
class Ensemble:
    """A kind of produced music: genre tag, slots (the first is the lead, always present), and
    whether the harmony is a drone (one tonic chord) instead of a progression."""

    genre: str
    slots: tuple[Slot, ...]
    weight: float = 1.0
    drone: bool = False


#: The ensembles of excerpts when extended codes are chosen; levels as in produced music: lead
#: voice or solo on top, drums and bass strong, guitars under them, keys and pads lower.
ENSEMBLES: dict[str, Ensemble] = {
    "band": Ensemble(
        "pop_roc",
        (
            Slot(("voi", "voi", "voi", "gel", "syn", "sax")),
            Slot(("dru",), 0.95, (-5, -2)),
            Slot(("bas",), 0.95, (-6, -3)),
            Slot(("gel",), 0.85, (-8, -4)),
            Slot(("gac", "gel"), 0.45, (-11, -6)),
            Slot(("pia", "org", "epi", "syn"), 0.7, (-14, -8)),
        ),
        3.0,
    ),
    "jazz": Ensemble(
        "jaz_blu",
        (
            Slot(("sax", "tru")),
            Slot(("pia",), 0.9, (-9, -4)),
            Slot(("dbl",), 0.95, (-7, -3)),
            Slot(("dru",), 0.9, (-9, -4)),
            Slot(("tbn", "tru", "sax"), 0.3, (-6, -2)),
            Slot(("gel", "voi", "mal"), 0.25, (-8, -3)),
        ),
        2.0,
    ),
    "quartet": Ensemble("cla", (Slot(("vio",)), Slot(("vio",), 0.9, (-6, -2)), Slot(("cel",), 0.95, (-5, -1)))),
    "brass": Ensemble(
        "cla",
        (
            Slot(("tru", "hrn", "tbn")),
            Slot(("tru",), 0.6, (-6, -2)),
            Slot(("hrn",), 0.7, (-6, -2)),
            Slot(("tbn",), 0.75, (-6, -2)),
            Slot(("tba",), 0.85, (-6, -2)),
        ),
    ),
    "woodwinds": Ensemble(
        "cla",
        (
            Slot(("flu", "obo", "cla")),
            Slot(("flu",), 0.5, (-6, -2)),
            Slot(("obo",), 0.6, (-6, -2)),
            Slot(("cla",), 0.6, (-6, -2)),
            Slot(("bsn",), 0.85, (-6, -2)),
        ),
    ),
    "chamber": Ensemble(
        "cla",
        (
            Slot(("vio", "flu", "obo")),
            Slot(("hpd",), 0.9, (-8, -4)),
            Slot(("cel",), 0.8, (-6, -2)),
            Slot(("hrp",), 0.3, (-10, -5)),
        ),
        0.7,
    ),
    "latin": Ensemble(
        "lat_sou",
        (
            Slot(("stp", "tru", "sax")),
            Slot(("dru",), 0.9, (-6, -2)),
            Slot(("bas",), 0.9, (-6, -3)),
            Slot(("pia", "epi", "gac"), 0.7, (-10, -5)),
            Slot(("mal", "tbn"), 0.3, (-9, -4)),
        ),
    ),
    "folk": Ensemble(
        "cou_fol",
        (
            Slot(("voi", "vio", "bjo", "hmc", "bgp")),
            Slot(("gac",), 0.9, (-6, -2)),
            Slot(("bjo",), 0.55, (-8, -3)),
            Slot(("vio",), 0.5, (-8, -3)),
            Slot(("hmc",), 0.35, (-9, -4)),
            Slot(("acc",), 0.35, (-9, -4)),
            Slot(("dbl",), 0.4, (-9, -5)),
        ),
        1.5,
    ),
    "indian": Ensemble("cla", (Slot(("sit",)), Slot(("drone",), 1.0, (-12, -8))), 0.5, drone=True),
}

assert set(GENRE_POOLS) == set(GENRES)
assert {c for pool in GENRE_POOLS.values() for c in pool} == set(LABELS)
assert set(EXTENDED_GENRES) == {c for c in EXTENDED if renderable(c)}
assert set(EXTENDED_GENRES) <= {c for e in ENSEMBLES.values() for slot in e.slots for c in slot.codes}


def genre_for(code: str, rng: np.random.Generator) -> str:
    """A genre tag for a training clip of ``code``, weighted by how typical the class is there."""
    genres = list(GENRE_POOLS)
    weights = np.array([GENRE_POOLS[g].get(code, 0.0) + EXTENDED_GENRES.get(code, {}).get(g, 0.0) for g in genres])
    return genres[int(rng.choice(len(genres), p=weights / weights.sum()))]


def pick_instruments(genre: str, rng: np.random.Generator, n: int, exclude: tuple[str, ...] = ()) -> list[str]:
    """``n`` distinct labelled classes from ``genre``'s pool (weighted, without replacement)."""
    pool = {c: w for c, w in GENRE_POOLS[genre].items() if c not in exclude}
    codes = list(pool)
    weights = np.array([pool[c] for c in codes])
    n = min(n, len(codes))
    return [str(c) for c in rng.choice(codes, size=n, replace=False, p=weights / weights.sum())]


def audible_labels(
    loudness_db: dict[str, float],
    active_fraction: dict[str, float],
    *,
    window_db: float = LABEL_WINDOW_DB,
    min_active: float = MIN_ACTIVE_FRACTION,
) -> list[str]:
    """IRMAS rule on measured stems: the loudest labelled stem always, others when within
    ``window_db`` of it and sounding for ``min_active`` of the time. Returned in vocabulary order."""
    if not loudness_db:
        return []
    top = max(loudness_db.values())
    keep = {
        c
        for c, db in loudness_db.items()
        if db == top or (db >= top - window_db and active_fraction.get(c, 1.0) >= min_active)
    }
    return [c for c in VOCABULARY if c in keep]


def active_fraction(waveform: np.ndarray, sample_rate: int, *, floor_db: float = -35.0) -> float:
    """Fraction of 100 ms frames whose RMS is within ``floor_db`` of the loudest frame."""
    mono = waveform.mean(axis=0) if waveform.ndim == 2 else waveform
    hop = int(0.1 * sample_rate)
    n = mono.size // hop
    if n == 0:
        return 0.0
    frames = np.sqrt(np.mean(mono[: n * hop].reshape(n, hop) ** 2, axis=1)) + 1e-12
    return float(np.mean(20 * np.log10(frames / frames.max()) > floor_db))


def ensembles_for(classes: tuple[str, ...]) -> list[str]:
    """Kinds of :data:`ENSEMBLES` in which some code of ``classes`` plays."""
    return [
        kind
        for kind, ensemble in ENSEMBLES.items()
        if any(code in classes for slot in ensemble.slots for code in slot.codes)
    ]


def band_members(kind: str, rng: np.random.Generator) -> dict[str, tuple[str, float]]:
    """Who plays in an ensemble of ``kind``: ``{role: (code, level dB relative to the lead)}``.

    The lead comes first; a second player of a code gets a numbered role (``vio2``).
    """
    members: dict[str, tuple[str, float]] = {}
    for slot in ENSEMBLES[kind].slots:
        if rng.random() >= slot.p:
            continue
        code = str(rng.choice(slot.codes))
        role, n = code, 1
        while role in members:
            n += 1
            role = f"{code}{n}"
        members[role] = (code, float(rng.uniform(*slot.level_db)))
    return members
