"""Grouped multi-label stratified train/validation split.

All excerpts of one song (one ``Example.group``: IRMAS test ``<song>-<n>.wav``, IRMAS train
``[gac][pop_roc]0042__K``) stay on one side. Groups are stratified on the union of their
files' labels with iterative stratification (``iterstrat``'s
``MultilabelStratifiedShuffleSplit``), so each label's share of groups is close on both sides.
"""

from __future__ import annotations

import math
import os
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from instrumentid.data.datasets import label_matrix, load_examples, write_csv
from instrumentid.errors import ConfigError, DataError
from instrumentid.labels import LABELS, encode


def group_label_matrix(examples: Sequence, labels: Sequence[str] = LABELS) -> tuple[list[str], np.ndarray]:
    """Group names (first-seen order) and their label union ``(n_groups, n_labels)``."""
    union: dict[str, set[str]] = defaultdict(set)
    for example in examples:
        union[example.group].update(example.labels)
    groups = list(union)
    return groups, np.stack([encode(union[g], labels) for g in groups]).astype(int)


def check_no_leakage(train: Sequence, val: Sequence) -> None:
    """Raise :class:`DataError` if a group (song) or a file is on both sides."""
    shared = sorted({e.group for e in train} & {e.group for e in val})
    if shared:
        raise DataError(f"leakage: {len(shared)} group(s) on both sides of the split, e.g. {shared[0]!r}")
    files = {str(Path(e.path).resolve()) for e in train} & {str(Path(e.path).resolve()) for e in val}
    if files:
        raise DataError(f"leakage: {len(files)} file(s) on both sides of the split, e.g. {sorted(files)[0]!r}")


def grouped_split(
    examples: Sequence,
    *,
    val_fraction: float = 0.2,
    seed: int = 0,
    labels: Sequence[str] = LABELS,
) -> tuple[list, list]:
    """Split ``examples`` into ``(train, val)`` with no group on both sides.

    Parameters
    ----------
    examples : objects with ``.path``, ``.labels``, ``.group`` (``instrumentid.data.Example``).
    val_fraction : share of *groups* that go to validation, in (0, 1); with 2 groups or more,
        each side gets at least one (:func:`at_least_one_each`).
    seed : random seed of the stratified shuffle.
    """
    from iterstrat.ml_stratifiers import MultilabelStratifiedShuffleSplit

    if not 0.0 < val_fraction < 1.0:
        raise ConfigError(f"the validation fraction must be between 0 and 1, got {val_fraction}", option="val_fraction")
    groups, y = group_label_matrix(examples, labels)
    if len(groups) < 2:
        raise DataError(
            f"the data has {len(groups)} group (song) and a validation split needs at least 2: "
            "add recordings of another song, or give a separate validation set",
            option="val_data",
        )
    # scikit-learn's own count for a fractional test_size (so valid splits are unchanged), kept in 1..n-1
    n_val = min(max(math.ceil(val_fraction * len(groups)), 1), len(groups) - 1)
    splitter = MultilabelStratifiedShuffleSplit(n_splits=1, test_size=n_val, random_state=seed)
    train_idx, val_idx = next(splitter.split(np.zeros((len(groups), 1)), y))
    train_idx, val_idx = at_least_one_each(train_idx, val_idx, seed)
    val_groups = {groups[i] for i in val_idx}
    train = [e for e in examples if e.group not in val_groups]
    val = [e for e in examples if e.group in val_groups]
    check_no_leakage(train, val)
    return train, val


def at_least_one_each(train_idx, val_idx, seed: int = 0) -> tuple[list[int], list[int]]:
    """The small-data rule: each side keeps at least one group. The validation size asked for is
    already 1 to n - 1 groups, but on a few groups the iterative stratification can still put them
    all on one side (13 groups at 0.15); a seeded one then moves over."""
    rng = np.random.default_rng(seed)
    train_idx, val_idx = [int(i) for i in train_idx], [int(i) for i in val_idx]
    if not val_idx:
        val_idx.append(train_idx.pop(int(rng.integers(len(train_idx)))))
    if not train_idx:
        train_idx.append(val_idx.pop(int(rng.integers(len(val_idx)))))
    return train_idx, val_idx


def label_proportions(examples: Sequence, labels: Sequence[str] = LABELS) -> np.ndarray:
    """Fraction of files carrying each label, ``(n_labels,)``."""
    if not examples:
        return np.zeros(len(labels))
    return label_matrix(examples, labels).mean(axis=0)


def split_dataset(
    data,
    out_dir: str | os.PathLike,
    *,
    labels_file=None,
    val_fraction: float = 0.2,
    seed: int = 0,
) -> dict:
    """Read ``data``, split it, write ``train.csv`` and ``val.csv`` to ``out_dir``.

    Returns
    -------
    dict
        ``{"train": path, "val": path, "n_train", "n_val", "n_train_groups", "n_val_groups",
        "proportions": {code: (train, val)}}``.
    """
    examples = load_examples(data, labels_file=labels_file)
    train, val = grouped_split(examples, val_fraction=val_fraction, seed=seed)
    out_dir = Path(out_dir)
    train_csv = write_csv(train, out_dir / "train.csv")
    val_csv = write_csv(val, out_dir / "val.csv")
    p_train, p_val = label_proportions(train), label_proportions(val)
    return {
        "train": train_csv,
        "val": val_csv,
        "n_train": len(train),
        "n_val": len(val),
        "n_train_groups": len({e.group for e in train}),
        "n_val_groups": len({e.group for e in val}),
        "proportions": {c: (float(a), float(b)) for c, a, b in zip(LABELS, p_train, p_val, strict=True)},
    }
