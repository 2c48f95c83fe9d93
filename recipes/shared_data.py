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
    "mirdata_fixtures/filosax/Participant 2/",  # sax (another player than in training)
    "mirdata_fixtures/filosax/Backing/02/",  # piano + drums
    "mirdata_fixtures/iKala/",  # singing + accompaniment
    "mirdata_fixtures/multivox/",  # close-miked singer
    "essentia_audio/recorded/Guitar-A4-432-1",  # acoustic guitar
    "mirdata_fixtures/TinySOL/",  # flute note; contrabass (negative)
    "librosa_data/audio/198-209-0000",  # read speech (negative)
    "librosa_data/audio/pibble",  # dog (negative)
)

#: real-extended/ sources no shipped model trains on (path prefixes inside real-extended/): a rock
#: song and a jazz song (mix and stems), a harmonica player's key, a vibraphone pack.
EXTENDED_VALIDATION = (
    "cambridge_mt_patchwerk/graham_",  # rock: bass, drums, electric guitar, voice
    "cambridge_mt_patchwerk/gin_",  # jazz: double bass, drums, piano, sax, trombone, trumpet
    "harmonica_amt/G_",  # harmonica
    "forbidden_music_freesound/vibraphone_",  # mallets
)

#: Real single notes used directly as training clips (folder of real-notes/ → label); the
#: sampler also re-pitches them into phrases. Choir notes are GM renders, not real singing.
REAL_NOTES = {
    "tonejs-instruments/cello": "cel",
    "tonejs-instruments/clarinet": "cla",
    "tonejs-instruments/flute": "flu",
    "tonejs-instruments/saxophone": "sax",
    "tonejs-instruments/trumpet": "tru",
    "tonejs-instruments/violin": "vio",
    "tonejs-instruments/guitar-electric": "gel",
    "tonejs-instruments/guitar-dirty": "gel",
    "tonejs-instruments/guitar-rock": "gel",
    "frunky/cello": "cel",
    "frunky/violin": "vio",
}


def source_of(relative: str) -> str:
    """The source a real-train file belongs to: an instrument folder of tonejs, else dataset/collection."""
    parts = relative.split("/")
    return "/".join(parts[:3]) if parts[0].startswith("tonejs") else "/".join(parts[:2])


def is_held_out(relative: str, prefixes: tuple[str, ...] = REAL_VALIDATION) -> bool:
    """Whether a file (its path inside real-train/, or real-extended/ with :data:`EXTENDED_VALIDATION`)
    belongs to a held-out source."""
    return any(relative.startswith(prefix) for prefix in prefixes)


def real_note_files(shared: Path):
    """``(path, label, folder)`` of every real single note in ``REAL_NOTES``."""
    from instrumentid.audio import AUDIO_SUFFIXES

    for folder, code in REAL_NOTES.items():
        for path in sorted((shared / "real-notes" / folder).glob("*")):
            if path.suffix.lower() in AUDIO_SUFFIXES:
                yield path, code, folder


#: real-extended/ sources whose licence does not allow commercial use, or states none:
#: ``--commercial-only`` leaves them out (each folder's SOURCE.txt gives the licence).
RESTRICTED_SOURCES = (
    "cambridge_mt_patchwerk/",  # Cambridge-MT multitracks: non-commercial / educational
    "minst_notes/rwc",  # RWC Music Database: research use only
    "minst_notes/philharmonia",  # Philharmonia samples: not to be sold or redistributed
    "dirt_samples/",  # no licence stated (tabla2 is CC Sampling Plus 1.0)
    "shadaj_tabla/",  # no licence stated
    "harmonica_amt/",  # academic dataset, no licence stated
)


def extended_group(relative: str) -> str:
    """The cross-validation group of a real-extended file: a song (its stems and its mixes are one
    group), a sample pack, a note collection or a dataset, so no source is on both sides."""
    folder, name = relative.split("/", 1)
    stem = name.rsplit(".", 1)[0]
    if folder == "cambridge_mt_patchwerk":
        return f"{folder}/{stem.split('_')[0]}"  # the song
    if folder == "loopy_loops":
        return f"{folder}/{stem[:4].lower()}"  # the song the loops come from
    if folder == "forbidden_music_freesound":
        return f"{folder}/{stem.rsplit('_', 1)[0]}"  # the Freesound pack
    if folder == "minst_notes":
        return f"{folder}/{minst_collection(stem)}"
    if folder in ("dirt_samples", "harmonica_amt"):
        return f"{folder}/{stem.split('_')[0]}"  # sitar / tabla / tabla2 folder, harmonica key
    return folder


def minst_collection(stem: str) -> str:
    """``rwc`` (numbered RWC notes), ``philharmonia`` (``french-horn_C4_...``) or ``uiowa`` (``Tuba.mf...``)."""
    if stem[:3].isdigit():
        return "rwc"
    return "uiowa" if "." in stem else "philharmonia"


def is_restricted(relative: str) -> bool:
    """A real-extended file whose licence rules out commercial use (:data:`RESTRICTED_SOURCES`)."""
    folder, name = relative.split("/", 1)
    key = f"{folder}/{minst_collection(name.rsplit('.', 1)[0])}" if folder == "minst_notes" else relative
    return any(key.startswith(prefix) for prefix in RESTRICTED_SOURCES)


def real_train_labels(shared: Path) -> dict[str, tuple[str, ...]]:
    """real-train/ labels by relative path: labels.csv's IRMAS codes joined with labels-extended.csv's."""
    import csv

    root = shared / "real-train"
    with open(root / "labels.csv", newline="", encoding="utf-8") as handle:
        found = {row["path"]: tuple(c for c in row["labels"].split(";") if c) for row in csv.DictReader(handle)}
    extended = root / "labels-extended.csv"
    if extended.is_file():
        with open(extended, newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                found[row["path"]] += tuple(c for c in row["labels_extended"].split(";") if c)
    return found


def synth_command(
    out: Path,
    sizes: tuple[int, int, int],
    *,
    seed: int,
    jobs: int,
    shared: Path | None,
    hold_out=(),
    extra=(),
) -> list[str]:
    """The ``instrumentid synth`` arguments every recipe renders with (one place, so the recipes
    cannot drift apart): ``sizes`` is (training clips per class, test excerpts, negative clips);
    ``shared`` is the real data the sampler and backgrounds may draw on (``None``: SoundFonts and
    the synthesisers only); ``hold_out`` are path prefixes kept out of the rendering."""
    per_class, excerpts, negatives = sizes
    args = ["synth", "--out", str(out), "--train-per-class", str(per_class), "--test-excerpts", str(excerpts)]
    args += ["--negatives", str(negatives), "--seed", str(seed), "--jobs", str(jobs), *extra]
    args += ["--no-shared-data"] if shared is None else ["--shared-data", str(shared)]
    for prefix in hold_out:
        args += ["--hold-out", prefix]
    return args


def sh(*args: str) -> None:
    print("+", " ".join(args), flush=True)
    subprocess.run(list(args), check=True)


def instrumentid(*args: str) -> None:
    sh(sys.executable, "-m", "instrumentid.cli", *args)
