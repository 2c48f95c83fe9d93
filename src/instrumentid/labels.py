"""The IRMAS label set: the one place that knows the instruments, their families and genres.

Everything else (datasets, models, bundles, the predictor, plots) asks this module for label
order, names and encodings, so the order below is the order of every score vector.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

#: The 11 IRMAS instrument codes in IRMAS order (the order of every score vector).
LABELS: tuple[str, ...] = ("cel", "cla", "flu", "gac", "gel", "org", "pia", "sax", "tru", "vio", "voi")

#: Human-readable name of every code.
NAMES: dict[str, str] = {
    "cel": "cello",
    "cla": "clarinet",
    "flu": "flute",
    "gac": "acoustic guitar",
    "gel": "electric guitar",
    "org": "organ",
    "pia": "piano",
    "sax": "saxophone",
    "tru": "trumpet",
    "vio": "violin",
    "voi": "singing voice",
}

#: Instrument family of every code (used by the family auxiliary loss and by plots).
FAMILIES: dict[str, str] = {
    "cel": "strings",
    "vio": "strings",
    "cla": "woodwinds",
    "flu": "woodwinds",
    "sax": "woodwinds",
    "tru": "brass",
    "org": "keyboards",
    "pia": "keyboards",
    "gac": "guitars",
    "gel": "guitars",
    "voi": "voice",
}

#: Family names in a fixed order.
FAMILY_NAMES: tuple[str, ...] = ("strings", "woodwinds", "brass", "keyboards", "guitars", "voice")

#: IRMAS genre tags (training file names carry one, e.g. ``[gac][pop_roc]0042__1.wav``).
GENRES: dict[str, str] = {
    "cla": "classical",
    "cou_fol": "country-folk",
    "jaz_blu": "jazz-blues",
    "lat_sou": "latin-soul",
    "pop_roc": "pop-rock",
}

_INDEX = {code: i for i, code in enumerate(LABELS)}


def index(code: str) -> int:
    """Position of ``code`` in :data:`LABELS`; ``ValueError`` naming the code if unknown."""
    try:
        return _INDEX[code]
    except KeyError:
        raise ValueError(f"unknown instrument code {code!r}; expected one of {', '.join(LABELS)}") from None


def encode(codes: Iterable[str], labels: Sequence[str] = LABELS) -> np.ndarray:
    """Multi-hot float32 vector of length ``len(labels)`` for the given codes."""
    vector = np.zeros(len(labels), dtype=np.float32)
    positions = {code: i for i, code in enumerate(labels)}
    for code in codes:
        if code not in positions:
            raise ValueError(f"unknown instrument code {code!r}; expected one of {', '.join(labels)}")
        vector[positions[code]] = 1.0
    return vector


def family_matrix(labels: Sequence[str] = LABELS) -> np.ndarray:
    """``(n_families, n_labels)`` 0/1 matrix mapping labels to :data:`FAMILY_NAMES`."""
    matrix = np.zeros((len(FAMILY_NAMES), len(labels)), dtype=np.float32)
    for j, code in enumerate(labels):
        matrix[FAMILY_NAMES.index(FAMILIES[code]), j] = 1.0
    return matrix
