"""Fixtures for these tests: a tiny generated IRMAS-test-style folder (the tiny model bundle
is the project-wide ``tiny_bundle`` fixture of ``tests/conftest.py``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from instrumentid import audio
from instrumentid.labels import LABELS

SAMPLE_RATE = 16_000
#: One tone frequency per label, so generated files differ by label.
FREQS = {code: 110.0 * 2 ** (i / 3) for i, code in enumerate(LABELS)}


def make_tone(path, freqs, seconds=1.5, sr=SAMPLE_RATE, seed=0):
    """Write a sum of sines (plus a little noise) to ``path``; returns the path."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    y = sum(np.sin(2 * np.pi * f * t) for f in np.atleast_1d(freqs)) if len(np.atleast_1d(freqs)) else 0 * t
    y = 0.3 * y / max(1, len(np.atleast_1d(freqs))) + 0.01 * rng.standard_normal(t.size)
    return audio.write(path, y.astype(np.float32), sr)


def make_irmas_test(root: Path, songs: dict[str, list[tuple[str, ...]]], seconds=1.5) -> Path:
    """IRMAS-test-style folder: ``<song>-<n>.wav`` + ``.txt`` (one code per line)."""
    root.mkdir(parents=True, exist_ok=True)
    seed = 0
    for song, excerpts in songs.items():
        for n, labels in enumerate(excerpts, start=1):
            seed += 1
            make_tone(root / f"{song}-{n}.wav", [FREQS[c] for c in labels], seconds=seconds, seed=seed)
            (root / f"{song}-{n}.txt").write_text("".join(f"{c}\t\n" for c in labels))
    return root


SONGS = {
    "song_a": [("gac", "voi"), ("gac",), ("pia", "voi")],
    "song_b": [("vio",), ("cel", "vio")],
    "song_c": [("sax", "pia"), ("sax",)],
    "song_d": [("gel", "voi"), ("gel",), ("org",)],
}


@pytest.fixture(scope="session")
def irmas_test_dir(tmp_path_factory) -> Path:
    return make_irmas_test(tmp_path_factory.mktemp("irmas") / "IRMAS-TestingData", SONGS)
