"""Musical content, note names, soundfont discovery and the dataset plan (no rendering)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from instrumentid.cli import main
from instrumentid.errors import SynthError
from instrumentid.labels import GENRES, LABELS
from instrumentid.synth import soundfonts as sfmod
from instrumentid.synth.dataset import plan_dataset
from instrumentid.synth.music import make_song
from instrumentid.synth.parts import make_part
from instrumentid.synth.phrases import RANGES
from instrumentid.synth.sampler import note_to_midi

TRAIN_NAME = re.compile(r"^IRMAS-TrainingData/([a-z]{3})/\[([a-z]{3})\]\[([a-z_]+)\](\d{4})__(\d+)\.wav$")
TEST_NAME = re.compile(r"^IRMAS-TestingData/(.+)-(\d+)\.wav$")


@pytest.mark.parametrize(
    "name,midi", [("A4", 69), ("As3", 58), ("A#3", 58), ("Eb4", 63), ("Gb4", 66), ("C-1", 0), ("x", None)]
)
def test_note_names(name, midi):
    assert note_to_midi(name) == midi


@pytest.mark.parametrize("code", LABELS)
def test_parts_stay_in_range_and_in_time(code):
    for seed in range(4):
        rng = np.random.default_rng(seed)
        song = make_song(list(GENRES)[seed % len(GENRES)], rng)
        part = make_part(code, song, rng, 3.0)
        assert part.notes, code
        lo, hi = RANGES[code]
        pitches = [n.pitch for n in part.notes]
        assert min(pitches) >= lo - 12 and max(pitches) <= hi + 12
        assert all(0 <= n.start_s < 3.0 and n.duration_s > 0 and 1 <= n.velocity <= 127 for n in part.notes)


def test_plan_names_balance_and_seeds():
    plan = plan_dataset(train_per_class=5, test_excerpts=7, negatives=4, seed=3)
    train = [c for c in plan if c.spec.kind == "train"]
    assert len(train) == 5 * len(LABELS)
    for clip in train:
        match = TRAIN_NAME.match(clip.file)
        assert match and match[1] == match[2] == clip.spec.instrument and match[3] in GENRES
    assert {code: sum(c.spec.instrument == code for c in train) for code in LABELS} == dict.fromkeys(LABELS, 5)
    tests = [c for c in plan if c.spec.kind == "test"]
    assert len(tests) == 7 and all(TEST_NAME.match(c.file) and c.label_file == c.file[:-4] + ".txt" for c in tests)
    assert all(5.0 <= c.spec.duration_s <= 20.0 for c in tests)
    assert sum(c.spec.kind == "negative" for c in plan) == 4
    assert len({c.file for c in plan}) == len(plan) and len({c.spec.seed for c in plan}) == len(plan)
    # seeds of a clip do not depend on how many clips are asked for
    bigger = {c.file: c.spec.seed for c in plan_dataset(train_per_class=9, test_excerpts=7, negatives=4, seed=3)}
    assert all(bigger.get(c.file) == c.spec.seed for c in train if c.file in bigger)


def test_test_tones_leave_every_other_clip_as_it_was():
    plain = plan_dataset(train_per_class=2, test_excerpts=3, negatives=4, seed=3)
    with_tones = plan_dataset(train_per_class=2, test_excerpts=3, negatives=4, seed=3, tones=5)
    assert with_tones[: len(plain)] == plain
    tones = with_tones[len(plain) :]
    assert [c.file for c in tones] == [f"negatives/tone_{i:04d}.wav" for i in range(1, 6)]
    assert all(c.spec.kind == "negative" and c.spec.negative_kind == "tone" for c in tones)
    assert len({c.spec.seed for c in with_tones}) == len(with_tones)


def test_plan_rejects_unknown_class():
    with pytest.raises(SynthError, match="xyz"):
        plan_dataset(train_per_class=1, test_excerpts=0, classes=("xyz",))


def test_no_soundfont_error_names_the_package(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(sfmod, "SEARCH_DIRS", (str(tmp_path),))
    monkeypatch.delenv(sfmod.ENV_VAR, raising=False)
    assert sfmod.find_soundfonts() == []
    with pytest.raises(SynthError, match=re.escape("sudo apt-get install fluidsynth fluid-soundfont-gm")):
        sfmod.require_soundfonts()
    assert (
        main(["synth", "--out", str(tmp_path / "o"), "--train-per-class", "1", "--test-excerpts", "0", "--quiet"]) == 2
    )
    assert "sudo apt-get install fluidsynth fluid-soundfont-gm" in capsys.readouterr().err


def test_explicit_soundfont_must_exist(tmp_path):
    with pytest.raises(SynthError, match="not found"):
        sfmod.find_soundfonts([tmp_path / "missing.sf2"])


def test_env_var_and_duplicates(monkeypatch, tmp_path):
    (tmp_path / "a.sf2").write_bytes(b"RIFF" + b"\0" * 100)
    (tmp_path / "copy.sf2").write_bytes(b"RIFF" + b"\0" * 100)
    (tmp_path / "b.sf3").write_bytes(b"RIFF" + b"\1" * 100)
    monkeypatch.setattr(sfmod, "SEARCH_DIRS", ())
    monkeypatch.setenv(sfmod.ENV_VAR, str(tmp_path))
    assert [p.name for p in sfmod.find_soundfonts()] == ["a.sf2", "b.sf3"]
