"""Find installed General-MIDI SoundFonts and know which GM programs play each IRMAS class."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from instrumentid.errors import SynthError
from instrumentid.labels import LABELS

#: Folders searched for ``*.sf2`` / ``*.sf3`` (plus ``$INSTRUMENTID_SOUNDFONTS``).
SEARCH_DIRS: tuple[str, ...] = ("/usr/share/sounds/sf2", "/usr/share/sounds/sf3", "/usr/share/soundfonts")
#: Environment variable: extra SoundFont files or folders, ``os.pathsep``-separated.
ENV_VAR = "INSTRUMENTID_SOUNDFONTS"
#: What to run when nothing is found (Debian/Ubuntu).
INSTALL_HINT = "sudo apt-get install fluidsynth fluid-soundfont-gm"

#: GM programs (0-based) that play each IRMAS class; ``voi`` has none (see voice.py).
PROGRAMS: dict[str, tuple[int, ...]] = {
    "cel": (42,),
    "cla": (71,),
    "flu": (73, 72),  # flute, piccolo
    "gac": (24, 25),  # nylon, steel
    "gel": (26, 27, 28, 29, 30),  # jazz, clean, muted, overdriven, distortion
    "org": (16, 17, 18, 19, 20),  # drawbar, percussive, rock, church, reed
    "pia": (0, 1, 2),  # acoustic grand, bright, electric grand
    "sax": (64, 65, 66, 67),  # soprano, alto, tenor, baritone
    "tru": (56,),
    "vio": (40,),
    "voi": (),
}
#: Pizzicato strings (used for cello/violin pizzicato variants).
PIZZICATO_PROGRAM = 45
#: Unlabelled accompaniment: GM basses and a few non-IRMAS pitched instruments.
BASS_PROGRAMS: tuple[int, ...] = tuple(range(32, 40))
OTHER_PROGRAMS: tuple[int, ...] = (11, 12, 46, 108)  # vibraphone, marimba, harp, kalimba
#: GM drum kits (bank 128): standard, room, power, electronic, jazz, brush.
DRUM_KITS: tuple[int, ...] = (0, 8, 16, 24, 32, 40)

assert set(PROGRAMS) == set(LABELS)


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
                raise SynthError(f"--soundfont {path}: file not found")
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
            f"SoundFont and FluidSynth with:  {INSTALL_HINT}  — or pass --soundfont PATH.sf2"
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
