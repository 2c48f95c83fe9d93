"""Run one function over every file of a dataset, keeping going past unreadable files."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

from instrumentid.errors import InstrumentIdError


def map_files(examples: Sequence, compute: Callable, *, desc: str, progress: bool = False) -> tuple[list, list, list[dict]]:
    """``(values, ok_examples, errors)``: ``compute(example.path)`` for each example.

    A file raising :class:`InstrumentIdError` becomes ``{"file", "error"}`` in ``errors``; the
    others are still processed. A progress bar goes to stderr when ``progress``.
    """
    items = examples
    if progress:
        from tqdm import tqdm

        items = tqdm(examples, desc=desc, unit="file", file=sys.stderr, leave=False)
    values, kept, errors = [], [], []
    for example in items:
        try:
            values.append(compute(example.path))
            kept.append(example)
        except InstrumentIdError as exc:
            errors.append({"file": str(example.path), "error": str(exc)})
    return values, kept, errors
