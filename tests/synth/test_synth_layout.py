"""A small rendered dataset: IRMAS layout, WAV format, labels vs manifest, levels, balance."""

from __future__ import annotations

import csv
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from instrumentid.labels import GENRES, LABELS

pytestmark = pytest.mark.soundfont

TRAIN_NAME = re.compile(r"^\[([a-z]{3})\]\[([a-z_]+)\](\d{4})__(\d+)\.wav$")
TEST_NAME = re.compile(r"^(.+)-(\d+)\.wav$")


def _manifest(root):
    with open(root / "manifest.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def test_layout_and_names_are_irmas(small_dataset):
    train = sorted((small_dataset / "IRMAS-TrainingData").rglob("*.wav"))
    assert {p.parent.name for p in train} == set(LABELS)
    for path in train:
        match = TRAIN_NAME.match(path.name)
        assert match, path.name
        assert match[1] == path.parent.name and match[2] in GENRES
    tests = sorted((small_dataset / "IRMAS-TestingData").glob("*.wav"))
    assert len(tests) == 3
    for path in tests:
        assert TEST_NAME.match(path.name) and path.with_suffix(".txt").is_file()
    assert len(list((small_dataset / "negatives").glob("neg_*.wav"))) == 3
    tones = [r for r in _manifest(small_dataset) if Path(r["file"]).name.startswith("tone_")]
    assert len(tones) == 2 and all(r["split"] == "negative" and r["labels"] == "" for r in tones)
    assert all(r["programs"].startswith("tone:") for r in tones)
    assert not list(small_dataset.rglob(".*"))  # no temporary files left


def test_class_balance(small_dataset):
    rows = [r for r in _manifest(small_dataset) if r["split"] == "train"]
    assert Counter(r["labels"] for r in rows) == dict.fromkeys(LABELS, 2)


def test_wav_format_and_levels(small_dataset):
    for path in sorted(small_dataset.rglob("*.wav")):
        info = sf.info(str(path))
        assert (info.samplerate, info.channels, info.subtype) == (44100, 2, "PCM_16"), path
        data, _ = sf.read(str(path), dtype="float32")
        if "TrainingData" in str(path) or "negatives" in str(path):
            assert info.frames == 3 * 44100
        else:
            assert 5.0 <= info.frames / 44100 <= 6.0
        peak = float(np.abs(data).max())
        rms = float(np.sqrt(np.mean(data**2)))
        assert peak < 0.9995, f"{path.name} clips"
        assert rms > 10 ** (-45 / 20), f"{path.name} is (nearly) silent"
        assert np.isfinite(data).all()


def test_label_files_match_manifest(small_dataset):
    rows = {r["file"]: r for r in _manifest(small_dataset)}
    assert len(rows) == 11 * 2 + 3 + 3 + 2
    for path in (small_dataset / "IRMAS-TestingData").glob("*.txt"):
        codes = [line.strip() for line in path.read_text().splitlines() if line.strip()]
        assert 1 <= len(codes) <= 4 and set(codes) <= set(LABELS)
        row = rows[f"IRMAS-TestingData/{path.stem}.wav"]
        assert row["labels"].split(";") == codes and row["split"] == "test"
    for file, row in rows.items():
        assert (small_dataset / file).is_file()
        assert row["genre"] in GENRES and row["seed"].isdigit() and row["programs"]
        if row["split"] == "train":
            assert row["labels"] == file.split("/")[1]
        if row["split"] == "negative":
            assert row["labels"] == ""
