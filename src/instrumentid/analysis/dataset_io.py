"""Write labelled file lists in the CSV shape ``read_dataset`` / ``train`` read.

``file`` + one 0/1 column per label code, then ``group`` (and ``genre`` when known), paths
relative to the CSV's folder when possible (absolute otherwise), so the CSV moves with data.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from instrumentid.labels import LABELS


def _relative(path: Path, base: Path) -> str:
    try:
        return os.path.relpath(Path(path).resolve(), base.resolve())
    except ValueError:  # different drive (Windows)
        return str(Path(path).resolve())


def write_label_csv(
    path: str | os.PathLike,
    examples: Sequence,
    *,
    y: np.ndarray | None = None,
    labels: Sequence[str] = LABELS,
    extra: dict[str, Sequence] | None = None,
) -> Path:
    """Write ``examples`` (``.path``, ``.labels``, ``.group``, ``.genre``) as a labels CSV.

    Parameters
    ----------
    path : output CSV.
    examples : the files; their labels are used unless ``y`` is given.
    y : optional ``(n_examples, n_labels)`` 0/1 matrix overriding the labels.
    extra : additional columns ``{name: values}`` (written after the label columns).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    extra = extra or {}
    with_genre = any(getattr(e, "genre", None) for e in examples)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", *labels, "group", *(["genre"] if with_genre else []), *extra])
        for i, example in enumerate(examples):
            row = y[i] if y is not None else [int(code in example.labels) for code in labels]
            writer.writerow([
                _relative(example.path, path.parent), *(int(v) for v in row), example.group,
                *([example.genre or ""] if with_genre else []), *(values[i] for values in extra.values()),
            ])
    return path
