"""The instrument vocabulary: the one place that knows every instrument code.

Each :class:`Instrument` has its code, its name, its family, the AudioSet classes that name it
(the zero-shot and AudioSet-anchored heads start from them) and the General-MIDI programs that
render it (``instrumentid synth``). Two sets are named here:

* :data:`LABELS` — the 11 IRMAS codes in IRMAS order, the label set of IRMAS-style data and of
  models trained on it (``fast``), and what ``--labels irmas`` restricts a record to;
* :data:`VOCABULARY` — the IRMAS codes followed by :data:`EXTENDED`: bass, drums, synths, brass,
  folk and world instruments, so a model can say what plays instead of calling it by the nearest
  IRMAS name.

A bundle carries its own label list (any ordered subset of the vocabulary); that list is the
order of its score vectors. Everything else (datasets, models, bundles, the predictor, plots)
asks this module for names, families and encodings.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Instrument:
    """One code of the vocabulary.

    ``audioset``: ``(index, display name)`` of the AudioSet classes that name it, in the
    527-class AudioSet ontology order that YAMNet's 521 outputs keep (the first is its primary
    class). ``programs``: 0-based General-MIDI programs that play it; for ``dru`` the GM drum-kit
    presets of bank 128 (played on MIDI channel 10). Empty where General MIDI has no such sound.
    """

    code: str
    name: str
    family: str
    audioset: tuple[tuple[int, str], ...]
    programs: tuple[int, ...] = ()


#: Every instrument, IRMAS codes first (in IRMAS order), then the extended codes.
INSTRUMENTS: tuple[Instrument, ...] = (
    Instrument("cel", "cello", "strings", ((188, "Cello"),), (42,)),
    Instrument("cla", "clarinet", "woodwinds", ((193, "Clarinet"),), (71,)),
    Instrument("flu", "flute", "woodwinds", ((191, "Flute"),), (73, 72)),
    Instrument("gac", "acoustic guitar", "guitars", ((138, "Acoustic guitar"), (135, "Guitar")), (24, 25)),
    Instrument("gel", "electric guitar", "guitars", ((136, "Electric guitar"),), (26, 27, 28, 29, 30)),
    Instrument(
        "org",
        "organ",
        "keyboards",
        ((150, "Organ"), (151, "Electronic organ"), (152, "Hammond organ")),
        (16, 17, 18, 19, 20),
    ),
    Instrument("pia", "piano", "keyboards", ((148, "Piano"), (149, "Electric piano")), (0, 1, 2)),
    Instrument("sax", "saxophone", "woodwinds", ((192, "Saxophone"),), (64, 65, 66, 67)),
    Instrument("tru", "trumpet", "brass", ((182, "Trumpet"),), (56,)),
    Instrument("vio", "violin", "strings", ((186, "Violin, fiddle"),), (40,)),
    Instrument(
        "voi", "singing voice", "voice", ((24, "Singing"), (25, "Choir"), (29, "Child singing"), (249, "Vocal music"))
    ),
    # -- the extended vocabulary ----------------------------------------------------------
    Instrument("bas", "electric bass", "bass", ((137, "Bass guitar"),), (33, 34, 35, 36, 37)),
    Instrument("dbl", "double bass", "bass", ((189, "Double bass"),), (32, 43)),
    Instrument(
        "dru",
        "drum kit",
        "percussion",
        ((157, "Drum kit"), (158, "Drum machine"), (159, "Drum"), (160, "Snare drum")),
        (0, 8, 16, 24, 25, 32, 40),
    ),
    Instrument(
        "mal",
        "mallets",
        "percussion",
        ((174, "Mallet percussion"), (175, "Marimba, xylophone"), (176, "Glockenspiel"), (177, "Vibraphone")),
        (9, 11, 12, 13),
    ),
    Instrument(
        "syn",
        "synthesizer",
        "keyboards",
        ((153, "Synthesizer"),),
        (38, 39, 80, 81, 82, 83, 84, 85, 87, 88, 89, 90, 91, 94, 95),
    ),
    Instrument("epi", "electric piano", "keyboards", ((149, "Electric piano"),), (4, 5)),
    Instrument("hpd", "harpsichord", "keyboards", ((155, "Harpsichord"),), (6,)),
    Instrument("hrp", "harp", "plucked", ((194, "Harp"),), (46,)),
    Instrument("bjo", "banjo", "plucked", ((142, "Banjo"),), (105,)),
    Instrument("man", "mandolin", "plucked", ((144, "Mandolin"),)),
    Instrument("uke", "ukulele", "plucked", ((146, "Ukulele"),)),
    Instrument("sit", "sitar", "plucked", ((143, "Sitar"),), (104,)),
    Instrument("acc", "accordion", "free reeds", ((204, "Accordion"),), (21, 23)),
    Instrument("hmc", "harmonica", "free reeds", ((203, "Harmonica"),), (22,)),
    Instrument("tbn", "trombone", "brass", ((183, "Trombone"),), (57,)),
    Instrument("hrn", "French horn", "brass", ((181, "French horn"),), (60,)),
    Instrument("tba", "tuba", "brass", ((180, "Brass instrument"),), (58,)),
    Instrument("obo", "oboe", "woodwinds", ((190, "Wind instrument, woodwind instrument"),), (68, 69)),
    Instrument("bsn", "bassoon", "woodwinds", ((190, "Wind instrument, woodwind instrument"),), (70,)),
    Instrument("bgp", "bagpipes", "free reeds", ((205, "Bagpipes"),), (109,)),
    Instrument("tab", "tabla", "percussion", ((165, "Tabla"),)),
    Instrument("stp", "steelpan", "percussion", ((178, "Steelpan"),), (114,)),
)

#: Every code, by code.
BY_CODE: dict[str, Instrument] = {instrument.code: instrument for instrument in INSTRUMENTS}

#: The 11 IRMAS instrument codes in IRMAS order (IRMAS data, ``fast``, ``--labels irmas``).
LABELS: tuple[str, ...] = ("cel", "cla", "flu", "gac", "gel", "org", "pia", "sax", "tru", "vio", "voi")
IRMAS = LABELS
#: The codes beyond IRMAS, in vocabulary order.
EXTENDED: tuple[str, ...] = tuple(i.code for i in INSTRUMENTS if i.code not in LABELS)
#: Every code: IRMAS first, then the extended codes (the default model's label set).
VOCABULARY: tuple[str, ...] = LABELS + EXTENDED
#: Named label sets a user can ask for (``--labels irmas``).
LABEL_SETS: dict[str, tuple[str, ...]] = {"irmas": LABELS, "extended": EXTENDED, "all": VOCABULARY}

#: Human-readable name of every code.
NAMES: dict[str, str] = {i.code: i.name for i in INSTRUMENTS}
#: Instrument family of every code (the family auxiliary loss, plots).
FAMILIES: dict[str, str] = {i.code: i.family for i in INSTRUMENTS}
#: Family names in a fixed order (the IRMAS families first).
FAMILY_NAMES: tuple[str, ...] = (
    "strings",
    "woodwinds",
    "brass",
    "keyboards",
    "guitars",
    "voice",
    "bass",
    "percussion",
    "plucked",
    "free reeds",
)

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


def check_codes(codes: Iterable[str], where: str = "labels") -> tuple[str, ...]:
    """``codes`` in vocabulary order, each checked; ``ValueError`` naming the unknown ones."""
    codes = list(codes)
    unknown = [c for c in codes if c not in BY_CODE]
    if unknown:
        raise ValueError(f"{where}: unknown instrument code(s) {', '.join(unknown)} (known: {', '.join(VOCABULARY)})")
    return tuple(sorted(set(codes), key=VOCABULARY.index))


def parse_label_set(text: str) -> tuple[str, ...]:
    """A label set a user typed: a name of :data:`LABEL_SETS` or comma-separated codes."""
    text = text.strip()
    if text.lower() in LABEL_SETS:
        return LABEL_SETS[text.lower()]
    codes = [c.strip() for c in text.split(",") if c.strip()]
    if not codes:
        raise ValueError(f"empty label set {text!r}; give {', '.join(LABEL_SETS)} or codes like gac,pia")
    return check_codes(codes, "--labels")


def encode(codes: Iterable[str], labels: Sequence[str] = LABELS) -> np.ndarray:
    """Multi-hot float32 vector of length ``len(labels)`` for the given codes.

    A code of the vocabulary that is not in ``labels`` is left out (an 11-label model trains on
    a file labelled ``gac;dru`` as ``gac``); a code outside the vocabulary is an error.
    """
    vector = np.zeros(len(labels), dtype=np.float32)
    positions = {code: i for i, code in enumerate(labels)}
    for code in codes:
        if code in positions:
            vector[positions[code]] = 1.0
        elif code not in BY_CODE:
            raise ValueError(f"unknown instrument code {code!r}; expected one of {', '.join(labels)}")
    return vector


def families_of(labels: Sequence[str] = LABELS) -> tuple[str, ...]:
    """The families that have a member in ``labels``, in :data:`FAMILY_NAMES` order."""
    present = {FAMILIES[code] for code in labels}
    return tuple(f for f in FAMILY_NAMES if f in present)


def family_matrix(labels: Sequence[str] = LABELS) -> np.ndarray:
    """``(n_families, n_labels)`` 0/1 matrix mapping labels to :func:`families_of` ``(labels)``."""
    names = families_of(labels)
    matrix = np.zeros((len(names), len(labels)), dtype=np.float32)
    for j, code in enumerate(labels):
        matrix[names.index(FAMILIES[code]), j] = 1.0
    return matrix


def audioset_classes(code: str, labels: Sequence[str]) -> tuple[int, ...]:
    """AudioSet class indices that stand for ``code`` among ``labels``: its own classes, less any
    that is another label's primary class (with ``epi`` in the set, "Electric piano" is ``epi``'s,
    not ``pia``'s)."""
    primaries = {BY_CODE[other].audioset[0][0] for other in labels if other != code and other in BY_CODE}
    own = [index for index, _ in BY_CODE[code].audioset]
    return tuple(i for i in own if i not in primaries) or (own[0],)
