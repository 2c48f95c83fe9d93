"""Run one function over every file of a dataset, keeping going past unreadable files."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from instrumentid.errors import InstrumentIdError
from instrumentid.fileio import progress_bar


def map_files(
    examples: Sequence, compute: Callable, *, desc: str, progress: bool = False
) -> tuple[list, list, list[dict]]:
    """``(values, ok_examples, errors)``: ``compute(example.path)`` for each example.

    A file raising :class:`InstrumentIdError` becomes ``{"file", "error"}`` in ``errors``; the
    others are still processed. A progress bar goes to a terminal's stderr when ``progress``.
    """
    values, kept, errors = [], [], []
    for example in progress_bar(examples, desc=desc, unit="file", quiet=not progress, leave=False):
        try:
            values.append(compute(example.path))
            kept.append(example)
        except InstrumentIdError as exc:
            errors.append({"file": str(example.path), "error": str(exc)})
    return values, kept, errors
