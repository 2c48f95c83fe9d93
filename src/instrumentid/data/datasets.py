"""Readers that turn a dataset on disk into a list of :class:`Example`.

Supported layouts (``read_dataset`` tells them apart):

* **IRMAS training folder** — ``<root>/<code>/[<code>][<tags>…]NNNN__K.wav``: the label is
  the predominant instrument (folder name, checked against the first file-name tag); a genre
  tag (``[pop_roc]``…) is kept; excerpts ``__1``, ``__2``… of one recording share a group.
* **IRMAS testing folder** — ``<root>/**/<song>-N.wav`` with ``<song>-N.txt`` beside it, one
  code per line; all excerpts of one song share a group.
* **CSV** — ``file`` + one 0/1 column per label code (the Lumen/IRMAS CSV shape), or
  ``file``/``path`` + ``labels`` with ``;``-joined codes (empty = no instrument); paths are
  relative to the CSV's folder, or to ``root`` when given (folder + labels file). Optional
  columns: ``group`` (excerpts that must stay on one side of a split), ``genre``, ``weight``
  (relative training sampling weight).
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from instrumentid.audio import AUDIO_SUFFIXES
from instrumentid.errors import DataError
from instrumentid.fileio import atomic_path
from instrumentid.labels import GENRES, LABELS, VOCABULARY, check_codes, encode

_TAG = re.compile(r"\[([^\]]+)\]")
_TEST_STEM = re.compile(r"^(?P<song>.+)-(?P<n>\d+)$")
_TRAIN_STEM = re.compile(r"^(?P<tags>(?:\[[^\]]+\])+)\s*(?P<rest>.*?)(?:__(?P<k>\d+))?$")


@dataclass(frozen=True)
class Example:
    """One labelled audio file."""

    path: Path
    labels: tuple[str, ...]
    group: str
    genre: str | None = None
    #: relative sampling weight in training (e.g. > 1 for scarce real recordings)
    weight: float = 1.0


def _split_labels(text: str, where: str) -> tuple[str, ...]:
    try:
        return check_codes((c for c in re.split(r"[;,\s]+", text.strip()) if c), where)
    except ValueError as exc:
        raise DataError(str(exc)) from None


def _audio_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)


def parse_irmas_train_name(path: Path) -> tuple[str, str | None, str]:
    """``[gac][pop_roc]0042__1.wav`` → (``"gac"``, ``"pop_roc"``, group ``"gac/[gac][pop_roc]0042"``)."""
    match = _TRAIN_STEM.match(path.stem)
    if not match:
        raise DataError(f"{path}: not an IRMAS training file name (expected like '[gac][pop_roc]0042__1.wav')")
    tags = _TAG.findall(match.group("tags"))
    code = tags[0]
    if code not in VOCABULARY:
        raise DataError(f"{path}: first tag [{code}] is not an instrument code ({', '.join(VOCABULARY)})")
    genre = next((t for t in tags[1:] if t in GENRES), None)
    group_stem = path.stem[: match.start("k") - 2] if match.group("k") else path.stem
    return code, genre, f"{path.parent.name}/{group_stem}"


def read_irmas_train(root: str | os.PathLike) -> list[Example]:
    root = Path(root)
    examples = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        if folder.name not in VOCABULARY:
            continue
        for path in _audio_files(folder):
            code, genre, group = parse_irmas_train_name(path)
            if code != folder.name:
                raise DataError(f"{path}: file tag [{code}] disagrees with its folder {folder.name}/")
            examples.append(Example(path, (code,), group, genre))
    if not examples:
        raise DataError(f"{root}: no IRMAS training files (<code>/[<code>]...wav) found")
    return examples


def read_irmas_test(root: str | os.PathLike) -> list[Example]:
    root = Path(root)
    examples = []
    for path in _audio_files(root):
        label_file = path.with_suffix(".txt")
        if not label_file.is_file():
            raise DataError(f"{path}: no label file {label_file.name} beside it")
        labels = _split_labels(label_file.read_text(encoding="utf-8", errors="replace"), str(label_file))
        match = _TEST_STEM.match(path.stem)
        group = str(path.parent.relative_to(root) / (match.group("song") if match else path.stem))
        examples.append(Example(path, labels, group, None))
    if not examples:
        raise DataError(f"{root}: no IRMAS testing files (<name>.wav + <name>.txt) found")
    return examples


def read_csv(csv_path: str | os.PathLike, *, root: str | os.PathLike | None = None) -> list[Example]:
    csv_path = Path(csv_path)
    base = Path(root) if root is not None else csv_path.parent
    try:
        with open(csv_path, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except FileNotFoundError:
        raise DataError(f"{csv_path}: labels file not found") from None
    except (csv.Error, UnicodeDecodeError) as exc:
        raise DataError(f"{csv_path}: not a readable CSV ({exc})") from None
    if not rows:
        raise DataError(f"{csv_path}: no rows")
    columns = set(rows[0])
    file_column = "file" if "file" in columns else "path" if "path" in columns else None
    if file_column is None:
        raise DataError(f"{csv_path}: needs a 'file' (or 'path') column, found {', '.join(sorted(columns))}")
    label_columns = [c for c in VOCABULARY if c in columns]
    if not label_columns and "labels" not in columns:
        raise DataError(f"{csv_path}: needs a 'labels' column or one 0/1 column per instrument code")
    examples = []
    for line, row in enumerate(rows, start=2):
        where = f"{csv_path}:{line}"
        path = Path(row[file_column])
        path = path if path.is_absolute() else Path(os.path.normpath(base / path))
        if label_columns:
            try:
                labels = tuple(c for c in label_columns if float(row[c] or 0) >= 0.5)
            except ValueError:
                raise DataError(f"{where}: label columns must hold 0 or 1") from None
        else:
            labels = _split_labels(row.get("labels") or "", where)
        group = row.get("group") or str(path.with_suffix(""))
        genre = row.get("genre") or None
        try:
            weight = float(row.get("weight") or 1.0)
        except ValueError:
            raise DataError(f"{where}: weight must be a number, got {row.get('weight')!r}") from None
        if weight <= 0:
            raise DataError(f"{where}: weight must be positive, got {weight}")
        examples.append(Example(path, labels, group, genre, weight))
    return examples


def detect_layout(path: str | os.PathLike) -> str:
    """``"csv"``, ``"irmas-train"``, ``"irmas-test"`` or ``"folder-csv"`` for a dataset path."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: dataset not found")
    if path.is_file():
        if path.suffix.lower() in (".csv", ".tsv"):
            return "csv"
        raise DataError(f"{path}: a dataset is a folder or a CSV file")
    if any(p.is_dir() and p.name in VOCABULARY for p in path.iterdir()):
        return "irmas-train"
    if (path / "labels.csv").is_file():
        return "folder-csv"
    if any(path.rglob("*.txt")):
        return "irmas-test"
    raise DataError(
        f"{path}: unknown dataset layout (expected an IRMAS training folder with <code>/ subfolders, "
        "an IRMAS testing folder with .wav + .txt pairs, or a folder with labels.csv)"
    )


def read_dataset(path: str | os.PathLike, *, labels_file: str | os.PathLike | None = None) -> list[Example]:
    """Read any supported layout; ``labels_file`` pairs a folder with a CSV of labels."""
    path = Path(path)
    if labels_file is not None:
        return read_csv(labels_file, root=path)
    layout = detect_layout(path)
    if layout == "csv":
        return read_csv(path)
    if layout == "folder-csv":
        return read_csv(path / "labels.csv", root=path)
    if layout == "irmas-train":
        return read_irmas_train(path)
    return read_irmas_test(path)


def load_examples(data, *, labels_file: str | os.PathLike | None = None) -> list[Example]:
    """``data`` as a list of :class:`Example`: a path is read with :func:`read_dataset`, examples are
    taken as they are; an empty dataset raises :class:`DataError`."""
    examples = read_dataset(data, labels_file=labels_file) if isinstance(data, (str, os.PathLike)) else list(data)
    if not examples:
        raise DataError(f"{data}: the dataset has no files")
    return examples


def label_matrix(examples: Sequence[Example], labels: Sequence[str]) -> np.ndarray:
    """``(n_examples, n_labels)`` 0/1 int matrix of the examples' labels in ``labels`` order.

    A label outside ``labels`` raises :class:`DataError` naming the file.
    """
    rows = []
    for example in examples:
        try:
            rows.append(encode(example.labels, labels))
        except ValueError as exc:
            raise DataError(f"{example.path}: {exc} (the model knows {', '.join(labels)})") from None
    return np.asarray(rows, dtype=np.int64).reshape(len(rows), len(labels))


def _relative(path: Path, base: Path) -> str:
    """``path`` relative to ``base`` when possible (the CSV then moves with its data)."""
    try:
        return os.path.relpath(Path(path).resolve(), base.resolve())
    except ValueError:  # another drive (Windows)
        return str(Path(path).resolve())


def write_csv(
    examples, csv_path: str | os.PathLike, *, y=None, labels: Sequence[str] | None = None, extra: dict | None = None
) -> Path:
    """Write examples in the CSV shape every command reads, atomically.

    Columns: ``file`` (relative to the CSV's folder), one 0/1 column per label code (``labels``;
    default: the 11 IRMAS codes plus any extended code an example has), from each example's
    labels or the ``(n, len(labels))`` matrix ``y``; ``group``, ``genre``, ``weight``, then
    ``extra`` columns ``{name: values}``. :func:`read_dataset` reads it back.
    """
    csv_path = Path(csv_path)
    extra = extra or {}
    examples = list(examples)
    if labels is None:
        used = {c for e in examples for c in e.labels}
        labels = [c for c in VOCABULARY if c in LABELS or c in used]
    with atomic_path(csv_path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", *labels, "group", "genre", "weight", *extra])
        for i, e in enumerate(examples):
            row = y[i] if y is not None else [int(c in e.labels) for c in labels]
            writer.writerow(
                [
                    _relative(e.path, csv_path.parent),
                    *(int(v) for v in row),
                    e.group,
                    e.genre or "",
                    f"{getattr(e, 'weight', 1.0):g}",
                    *(values[i] for values in extra.values()),
                ]
            )
    return csv_path
