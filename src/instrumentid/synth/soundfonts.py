"""Find installed General-MIDI SoundFonts and know which GM programs play each vocabulary code."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from instrumentid.errors import SynthError
from instrumentid.labels import INSTRUMENTS, LABELS

#: Folders searched for ``*.sf2`` / ``*.sf3`` (plus ``$INSTRUMENTID_SOUNDFONTS``).
SEARCH_DIRS: tuple[str, ...] = ("/usr/share/sounds/sf2", "/usr/share/sounds/sf3", "/usr/share/soundfonts")
#: Environment variable: extra SoundFont files or folders, ``os.pathsep``-separated.
ENV_VAR = "INSTRUMENTID_SOUNDFONTS"
#: What to run when nothing is found (Debian/Ubuntu).
INSTALL_HINT = "sudo apt-get install fluidsynth fluid-soundfont-gm"

#: GM programs (0-based) that play each vocabulary code, read from :data:`labels.INSTRUMENTS` (the
#: one table of what plays each code); for ``dru`` the drum-kit presets of bank 128. ``voi`` has
#: none (see voice.py); ``man``, ``uke`` and ``tab`` have none and cannot be rendered.
PROGRAMS: dict[str, tuple[int, ...]] = {i.code: i.programs for i in INSTRUMENTS}
#: Codes rendered without a GM program: the singing voice (voice.py).
NON_GM: tuple[str, ...] = ("voi",)
#: Pizzicato strings (used for cello/violin pizzicato variants; no code of its own).
PIZZICATO_PROGRAM = 45
#: Unlabelled accompaniment: GM basses and a few other pitched instruments. Each program is the
#: vocabulary's (:func:`code_of_program`: 32 ``dbl``, 33-37 ``bas``, 38-39 ``syn``; 11-12 ``mal``,
#: 46 ``hrp``, 108 kalimba none), so it is labelled when its code is in the chosen class set.
BASS_PROGRAMS: tuple[int, ...] = tuple(range(32, 40))
OTHER_PROGRAMS: tuple[int, ...] = (11, 12, 46, 108)  # vibraphone, marimba, harp, kalimba
#: GM instruments of no vocabulary code (tubular bells, timpani, koto, kalimba): they stand in for
#: :data:`OTHER_PROGRAMS` that the chosen class set takes (negatives hold no instrument of the set).
OUTSIDE_PROGRAMS: tuple[int, ...] = (14, 47, 107, 108)
#: GM drum kits (bank 128): standard, room, power, electronic, jazz, brush.
DRUM_KITS: tuple[int, ...] = (0, 8, 16, 24, 32, 40)
_MELODIC_CODE: dict[int, str] = {p: c for c, programs in PROGRAMS.items() if c != "dru" for p in programs}

assert set(LABELS) <= set(PROGRAMS) and set(DRUM_KITS) <= set(PROGRAMS["dru"])
assert len(_MELODIC_CODE) == sum(len(p) for c, p in PROGRAMS.items() if c != "dru"), "a GM program plays two codes"
assert not {_MELODIC_CODE.get(p) for p in OUTSIDE_PROGRAMS} - {None}


def code_of_program(program: int, *, drums: bool = False) -> str | None:
    """The vocabulary code a GM program plays (``dru`` for any kit), ``None`` for none."""
    return "dru" if drums else _MELODIC_CODE.get(program)


def renderable(code: str) -> bool:
    """True when ``code`` can be rendered: it has GM programs or its own synthesiser (``voi``)."""
    return bool(PROGRAMS.get(code)) or code in NON_GM


def _candidates(path: Path) -> Iterable[Path]:
    if path.is_file():
        yield path
    elif path.is_dir():
        for child in sorted(path.iterdir()):
            if child.suffix.lower() in (".sf2", ".sf3") and child.is_file():
                yield child


def _fingerprint(path: Path) -> tuple[int, str]:
    """Size + hash of the first 64 KiB: catches copies and symlinked duplicates."""
    with open(path, "rb") as handle:
        head = handle.read(65536)
    return path.stat().st_size, hashlib.sha1(head).hexdigest()


def find_soundfonts(explicit: Sequence[str | os.PathLike] | None = None) -> list[Path]:
    """Installed SoundFonts, de-duplicated, in a stable order.

    ``explicit`` (e.g. from ``--soundfont``) replaces the search; each must exist. Otherwise
    :data:`SEARCH_DIRS` and ``$INSTRUMENTID_SOUNDFONTS`` are searched. Returns ``[]`` when none.
    """
    found: list[Path] = []
    if explicit:
        for item in explicit:
            path = Path(item).expanduser()
            if not path.exists():
                raise SynthError(f"{path}: SoundFont file not found", option="soundfont")
            found.extend(_candidates(path))
    else:
        roots = [Path(p) for p in os.environ.get(ENV_VAR, "").split(os.pathsep) if p]
        roots += [Path(d) for d in SEARCH_DIRS]
        for root in roots:
            found.extend(_candidates(root))
    unique: list[Path] = []
    seen: set = set()
    for path in found:
        key = _fingerprint(path.resolve())
        if key not in seen:
            seen.add(key)
            unique.append(path.resolve())
    return sorted(unique, key=lambda p: (p.suffix.lower() == ".sf3", p.name))


def require_soundfonts(explicit: Sequence[str | os.PathLike] | None = None) -> list[Path]:
    """Like :func:`find_soundfonts` but raises :class:`SynthError` with the install command."""
    found = find_soundfonts(explicit)
    if not found:
        where = ", ".join(SEARCH_DIRS)
        raise SynthError(
            f"no SoundFont found (searched {where} and ${ENV_VAR}). Install the General-MIDI "
            f"SoundFont and FluidSynth with:  {INSTALL_HINT}  — or give a SoundFont file",
            option="soundfont",
        )
    check_fluidsynth()
    return found


def check_fluidsynth() -> None:
    """Raise :class:`SynthError` naming what to install when pyfluidsynth cannot load."""
    try:
        import fluidsynth  # noqa: F401
    except (ImportError, OSError) as exc:
        raise SynthError(
            f"pyfluidsynth / libfluidsynth is not usable ({exc}). Install with: {INSTALL_HINT} "
            "and: pip install 'instrumentid[synth]'"
        ) from None
