"""Genre-plausible ensembles and the IRMAS labelling rule (label only what is clearly audible)."""

from __future__ import annotations

import numpy as np

from instrumentid.labels import GENRES, LABELS

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

assert set(GENRE_POOLS) == set(GENRES)
assert {c for pool in GENRE_POOLS.values() for c in pool} == set(LABELS)


def genre_for(code: str, rng: np.random.Generator) -> str:
    """A genre tag for a training clip of ``code``, weighted by how typical the class is there."""
    genres = list(GENRE_POOLS)
    weights = np.array([GENRE_POOLS[g].get(code, 0.0) for g in genres])
    return genres[int(rng.choice(len(genres), p=weights / weights.sum()))]


def pick_instruments(genre: str, rng: np.random.Generator, n: int, exclude: tuple[str, ...] = ()) -> list[str]:
    """``n`` distinct labelled classes from ``genre``'s pool (weighted, without replacement)."""
    pool = {c: w for c, w in GENRE_POOLS[genre].items() if c not in exclude}
    codes = list(pool)
    weights = np.array([pool[c] for c in codes])
    n = min(n, len(codes))
    return [str(c) for c in rng.choice(codes, size=n, replace=False, p=weights / weights.sum())]


def audible_labels(loudness_db: dict[str, float], active_fraction: dict[str, float], *,
                   window_db: float = LABEL_WINDOW_DB, min_active: float = MIN_ACTIVE_FRACTION) -> list[str]:
    """IRMAS rule on measured stems: the loudest labelled stem always, others when within
    ``window_db`` of it and sounding for ``min_active`` of the time. Returned in LABELS order."""
    if not loudness_db:
        return []
    top = max(loudness_db.values())
    keep = {c for c, db in loudness_db.items()
            if db == top or (db >= top - window_db and active_fraction.get(c, 1.0) >= min_active)}
    return [c for c in LABELS if c in keep]


def active_fraction(waveform: np.ndarray, sample_rate: int, *, floor_db: float = -35.0) -> float:
    """Fraction of 100 ms frames whose RMS is within ``floor_db`` of the loudest frame."""
    mono = waveform.mean(axis=0) if waveform.ndim == 2 else waveform
    hop = int(0.1 * sample_rate)
    n = mono.size // hop
    if n == 0:
        return 0.0
    frames = np.sqrt(np.mean(mono[: n * hop].reshape(n, hop) ** 2, axis=1)) + 1e-12
    return float(np.mean(20 * np.log10(frames / frames.max()) > floor_db))
