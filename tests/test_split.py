"""Grouped multilabel split: no song on both sides, label proportions close."""

import csv
from pathlib import Path

import numpy as np
import pytest

from helpers import run_cli, write_tone
from instrumentid.data import Example, read_dataset
from instrumentid.data.split import check_no_leakage, grouped_split, label_proportions
from instrumentid.errors import DataError
from instrumentid.labels import LABELS


def _synthetic_examples(n_songs=120, seed=0):
    rng = np.random.default_rng(seed)
    examples = []
    for s in range(n_songs):
        song_labels = tuple(sorted(set(rng.choice(LABELS, size=rng.integers(1, 4), replace=True)), key=LABELS.index))
        for n in range(1, rng.integers(2, 6)):
            subset = tuple(c for c in song_labels if rng.random() < 0.8) or song_labels[:1]
            examples.append(Example(Path(f"/d/song{s}-{n}.wav"), subset, f"song{s}", None))
    return examples


def test_no_song_on_both_sides_and_proportions_close():
    examples = _synthetic_examples()
    train, val = grouped_split(examples, val_fraction=0.25, seed=1)
    assert not {e.group for e in train} & {e.group for e in val}
    assert len(train) + len(val) == len(examples)
    assert 0.15 < len({e.group for e in val}) / 120 < 0.35
    assert np.abs(label_proportions(train) - label_proportions(val)).max() < 0.1


def test_leakage_check_raises():
    a = Example(Path("/d/x-1.wav"), ("gac",), "x", None)
    b = Example(Path("/d/x-2.wav"), ("gac",), "x", None)
    with pytest.raises(DataError, match="leakage"):
        check_no_leakage([a], [b])


def test_split_command_writes_csvs_train_can_read(irmas_test_dir, tmp_path):
    proc = run_cli("split", irmas_test_dir, "--out", tmp_path, "--val-fraction", "0.5", installed=True)
    assert proc.returncode == 0, proc.stderr
    header = next(csv.reader((tmp_path / "train.csv").open()))
    assert header[:12] == ["file", *LABELS]
    train, val = read_dataset(tmp_path / "train.csv"), read_dataset(tmp_path / "val.csv")
    assert len(train) + len(val) == 10 and train and val
    assert all(e.path.is_file() for e in train + val)
    song = lambda e: e.path.stem.rsplit("-", 1)[0]  # noqa: E731
    assert not {song(e) for e in train} & {song(e) for e in val}


@pytest.mark.parametrize("fraction", ["0.15", "0.01", "0.99"])
def test_split_command_keeps_a_group_on_each_side_of_a_tiny_set(tmp_path, fraction):
    """The small-data rule: 13 recordings at any fraction still leave one on each side."""
    root = tmp_path / "tiny"
    for g in range(13):
        for k in (1, 2):
            write_tone(root / "gac" / f"[gac][pop_roc]{g:04d}__{k}.wav", 220.0 + g, 0.5, 16_000)
    proc = run_cli("split", root, "--out", tmp_path / "s", "--val-fraction", fraction, installed=True)
    assert proc.returncode == 0, proc.stderr
    sides = [list(csv.DictReader(open(tmp_path / "s" / name))) for name in ("train.csv", "val.csv")]
    assert all(len(rows) >= 2 for rows in sides) and sum(map(len, sides)) == 26
