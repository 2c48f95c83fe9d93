"""File and terminal plumbing every command shares: atomic writes, the progress bar, standard input as a file.

>>> with atomic_path("out/model.iid") as tmp:
...     torch.save(bundle, tmp)          # written to a hidden temp file beside the target
>>> # on success the temp file replaces out/model.iid; on any exception it is removed
>>> for path in progress_bar(paths, desc="predicting", unit="file", quiet=args.quiet): ...
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from instrumentid.errors import ConfigError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, suffix: str = "") -> Iterator[Path]:
    """Yield a temp path beside ``path``; move it over ``path`` when the block succeeds.

    The file gets the permissions a plain ``open(path, "w")`` would (``0o666 & ~umask``), the
    parent folder is created, and a ``path`` that is a folder is refused with one clear error.
    A symlink's target is replaced (the link stays); a device, FIFO or socket is never replaced.
    """
    path = Path(os.path.realpath(path)) if Path(path).is_symlink() else Path(path)  # replace the link's target
    if path.is_dir():
        raise ConfigError(f"{path}: is a folder; give a file name to write")
    if path.exists() and not path.is_file():
        raise ConfigError(f"{path}: is not a regular file (a device, pipe or socket); refusing to replace it")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot write here ({exc.strerror or exc})") from None
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def is_special_output(path: str | os.PathLike) -> bool:
    """Is ``path`` an existing non-regular file (a FIFO, ``/dev/stdout``, a terminal), written in
    place rather than replaced by :func:`atomic_path`?"""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)


def progress_bar(
    iterable: Iterable | None = None,
    *,
    desc: str,
    unit: str = "file",
    total: int | None = None,
    quiet: bool = False,
    **options,
):
    """A tqdm progress bar on stderr over ``iterable`` (or, with ``iterable=None``, one to ``update()`` by hand).

    It draws only where someone watches: not when ``quiet``, and not when stderr is neither a
    terminal nor a Jupyter kernel's stream (a pipe or a log file gets no bar). ``options`` go to
    tqdm (``leave``, ``initial``, ``mininterval``...).
    """
    from tqdm.auto import tqdm

    watched = sys.stderr.isatty() or type(sys.stderr).__module__.startswith("ipykernel")
    return tqdm(iterable, desc=desc, unit=unit, total=total, file=sys.stderr, disable=quiet or not watched, **options)


#: The most ``predict -`` reads from standard input: 4 GiB (an hour of 96-kHz 24-bit stereo WAV is 2.1 GB).
STDIN_MAX_BYTES = 4 * 2**30


@contextlib.contextmanager
def stdin_file(max_bytes: int = STDIN_MAX_BYTES) -> Iterator[Path]:
    """Standard input copied to a temporary file, removed afterwards: the decoders sniff its format
    and seek in it. It is copied 1 MiB at a time (memory stays bounded); more than ``max_bytes``
    stops with :class:`~instrumentid.errors.AudioError`."""
    from instrumentid.errors import AudioError

    if sys.stdin is None or sys.stdin.isatty():
        raise ConfigError(
            "'-' reads audio from standard input, which is a terminal here: pipe the audio in, "
            "e.g. instrumentid predict - < song.mp3"
        )
    with tempfile.TemporaryDirectory(prefix="instrumentid-stdin-") as folder:
        path = Path(folder) / "stdin"
        with open(path, "wb") as out:
            while chunk := sys.stdin.buffer.read(2**20):
                if out.tell() + len(chunk) > max_bytes:
                    raise AudioError(
                        f"-: standard input is longer than {max_bytes / 2**30:.0f} GiB; "
                        "save the audio to a file and give its path"
                    )
                out.write(chunk)
        yield path
