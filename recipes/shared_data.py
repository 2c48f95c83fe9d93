"""What both model recipes know about ``../shared/data`` and how they run commands (one place).

``REAL_VALIDATION`` are real-train sources no shipped model trains on: the recipes validate
on them and ``tests/test_default_model.py`` checks the shipped default on them.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SHARED = REPO.parent / "shared" / "data"

#: Real sources held out of training. Each entry is a path prefix inside real-train/; a source is
#: never on both sides.
REAL_VALIDATION = (
    "mirdata_fixtures/filosax/Participant 2/",      # sax (another player than in training)
    "mirdata_fixtures/filosax/Backing/02/",         # piano + drums
    "mirdata_fixtures/iKala/",                      # singing + accompaniment
    "mirdata_fixtures/multivox/",                   # close-miked singer
    "essentia_audio/recorded/Guitar-A4-432-1",      # acoustic guitar
    "mirdata_fixtures/TinySOL/",                    # flute note; contrabass (negative)
    "librosa_data/audio/198-209-0000",              # read speech (negative)
    "librosa_data/audio/pibble",                    # dog (negative)
)

#: Real single notes used directly as training clips (folder of real-notes/ → label); the
#: sampler also re-pitches them into phrases. Choir notes are GM renders, not real singing.
REAL_NOTES = {
    "tonejs-instruments/cello": "cel", "tonejs-instruments/clarinet": "cla", "tonejs-instruments/flute": "flu",
    "tonejs-instruments/saxophone": "sax", "tonejs-instruments/trumpet": "tru", "tonejs-instruments/violin": "vio",
    "tonejs-instruments/guitar-electric": "gel", "tonejs-instruments/guitar-dirty": "gel",
    "tonejs-instruments/guitar-rock": "gel", "frunky/cello": "cel", "frunky/violin": "vio",
}


def source_of(relative: str) -> str:
    """The source a real-train file belongs to: an instrument folder of tonejs, else dataset/collection."""
    parts = relative.split("/")
    return "/".join(parts[:3]) if parts[0].startswith("tonejs") else "/".join(parts[:2])


def is_held_out(relative: str) -> bool:
    return any(relative.startswith(prefix) for prefix in REAL_VALIDATION)


def real_note_files(shared: Path):
    """``(path, label, folder)`` of every real single note in ``REAL_NOTES``."""
    from instrumentid.audio import AUDIO_SUFFIXES

    for folder, code in REAL_NOTES.items():
        for path in sorted((shared / "real-notes" / folder).glob("*")):
            if path.suffix.lower() in AUDIO_SUFFIXES:
                yield path, code, folder


def sh(*args: str) -> None:
    print("+", " ".join(args), flush=True)
    subprocess.run(list(args), check=True)


def instrumentid(*args: str) -> None:
    sh(sys.executable, "-m", "instrumentid.cli", *args)
