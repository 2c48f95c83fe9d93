"""The extended vocabulary in ``instrumentid synth``: programs from the vocabulary, idioms, labelled
drums and basses, ensembles, negatives free of the class set, codes that cannot be rendered, and
the default (IRMAS) output pinned byte for byte."""

from __future__ import annotations

import csv
import ctypes
import hashlib
from pathlib import Path

import numpy as np
import pytest

from instrumentid.cli import main
from instrumentid.errors import SynthError
from instrumentid.labels import BY_CODE, EXTENDED, GENRES, INSTRUMENTS, LABELS, VOCABULARY
from instrumentid.synth import plan_dataset, render_clip, render_dataset
from instrumentid.synth.backgrounds import RealNegatives
from instrumentid.synth.ensembles import ENSEMBLES, active_fraction, audible_labels, ensembles_for
from instrumentid.synth.mix import label_space, negative_kinds
from instrumentid.synth.music import make_song
from instrumentid.synth.parts import make_part
from instrumentid.synth.phrases import RANGES
from instrumentid.synth.soundfonts import PROGRAMS, code_of_program, renderable

RENDERABLE = tuple(c for c in VOCABULARY if renderable(c))
EXTENDED_RENDERABLE = tuple(c for c in EXTENDED if renderable(c))
SF2 = ("/usr/share/sounds/sf2/FluidR3_GM.sf2", "/usr/share/sounds/sf2/TimGM6mb.sf2")
#: sha256 over (relative path, bytes) of every file of PINNED_RUN, rendered before the extended
#: vocabulary existed (commit e2dada1) with libfluidsynth 2.3.1, the two Debian sf2 files and
#: ../shared/data as of December 2024. The shipped ``fast`` model's recipe depends on it.
PINNED_SHA256 = "fe5868d208012d20ee79b636eca1b33783e5e517b3140d7c688406996360a797"
PINNED_FLUIDSYNTH = b"2.3.1"
PINNED_RUN = dict(
    train_per_class=1, test_excerpts=2, negatives=8, tones=1, seed=5, jobs=1, progress=False, test_seconds=(3.0, 3.0)
)


def _rows(root: Path) -> list[dict[str, str]]:
    with open(root / "manifest.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def _tree_sha256(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


# ---------------------------------------------------------------- no rendering
def test_programs_come_from_the_vocabulary():
    assert PROGRAMS == {i.code: i.programs for i in INSTRUMENTS}
    assert [c for c in VOCABULARY if not renderable(c)] == ["man", "uke", "tab"]
    assert code_of_program(33) == "bas" and code_of_program(32) == "dbl" and code_of_program(38) == "syn"
    assert code_of_program(8, drums=True) == "dru" and code_of_program(108) is None


@pytest.mark.parametrize("code", EXTENDED_RENDERABLE)
def test_extended_parts_stay_in_range_and_in_time(code):
    for seed in range(3):
        rng = np.random.default_rng(seed)
        song = make_song(list(GENRES)[seed % len(GENRES)], rng)
        part = make_part(code, song, rng, 3.0)
        assert part.notes and part.program in PROGRAMS[code], code
        assert all(0 <= n.start_s < 3.0 and n.duration_s > 0 and 1 <= n.velocity <= 127 for n in part.notes)
        pitches = [n.pitch for n in part.notes if code != "bgp" or n.duration_s < 3.0]  # not the drones
        if code != "dru":
            lo, hi = RANGES[code]
            assert lo - 24 <= min(pitches) and max(pitches) <= hi + 12


def test_drum_kit_plays_a_groove():
    for seed in range(6):
        rng = np.random.default_rng(seed)
        part = make_part("dru", make_song("pop_roc", rng), rng, 3.0)
        keys = {n.pitch for n in part.notes}
        assert part.drums and 36 in keys and keys & {38, 37, 39}, keys  # kick and a backbeat
        assert keys & {42, 44, 46, 51, 52}, keys  # hats, ride or china


def test_plan_with_all_classes():
    plan = plan_dataset(train_per_class=1, test_excerpts=12, negatives=30, seed=1, classes=RENDERABLE)
    train = {c.spec.instrument for c in plan if c.spec.kind == "train"}
    assert train == set(RENDERABLE)
    tests = [c for c in plan if c.spec.kind == "test"]
    assert all(c.spec.ensemble in ENSEMBLES and f"synth_{c.spec.ensemble}_" in c.file for c in tests)
    kinds = {c.spec.negative_kind for c in plan if c.spec.kind == "negative"}
    assert kinds <= {"noise", "real", "other"} and kinds
    assert negative_kinds(LABELS) == ["drums_bass", "drums", "bass", "other", "noise", "real", "real_drums", "tone"]
    assert ensembles_for(("bas",)) == ["band", "latin"] and ensembles_for(LABELS + ("tba",))


def test_default_plan_has_no_ensembles():
    plan = plan_dataset(train_per_class=1, test_excerpts=4, seed=1)
    assert all(c.spec.ensemble is None and c.spec.classes == LABELS for c in plan)


def test_unrenderable_codes_are_refused_by_the_api():
    with pytest.raises(SynthError, match=r"man \(mandolin\)"):
        plan_dataset(train_per_class=1, test_excerpts=0, classes=("gac", "man"))


def test_cli_says_in_one_line_that_a_code_cannot_be_rendered(tmp_path, capsys):
    assert main(["synth", "--out", str(tmp_path / "m"), "--classes", "man", "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "man (mandolin)" in err[0] and "nothing to render" in err[0]
    assert not (tmp_path / "m").exists()


def test_real_negatives_holding_a_chosen_code_are_left_out(shared_data):
    negatives = RealNegatives(shared_data, 16000)
    everything = set(negatives.available(label_space(LABELS)))
    free = set(negatives.available(label_space(VOCABULARY)))
    dropped = everything - free
    assert any("Contrabass" in p for p in dropped) and any("drumloop" in p for p in dropped)
    assert all(not negatives.codes.get(p, set()) & {"dru", "bas", "dbl"} for p in free) and free


# ---------------------------------------------------------------- rendering


@pytest.mark.soundfont
def test_default_output_is_byte_identical_to_before(tmp_path, shared_data):
    """A tiny default render hashes as it did before the extended vocabulary existed."""
    if not all(Path(f).is_file() for f in SF2):
        pytest.skip("the Debian sf2 SoundFonts the pin was made with are not installed")
    import fluidsynth

    version = fluidsynth._fl.fluid_version_str
    version.restype = ctypes.c_char_p
    if version() != PINNED_FLUIDSYNTH:
        pytest.skip(f"pinned with libfluidsynth {PINNED_FLUIDSYNTH.decode()}, this is {version().decode()}")
    out = render_dataset(tmp_path / "pin", soundfonts=list(SF2), shared_data=shared_data, **PINNED_RUN)
    assert _tree_sha256(out) == PINNED_SHA256


@pytest.mark.soundfont
def test_extended_training_clips_are_labelled_with_their_code(tmp_path, soundfonts):
    codes = ("dru", "bas", "syn", "sit", "tbn")
    out = render_dataset(
        tmp_path / "x",
        classes=codes,
        train_per_class=1,
        test_excerpts=0,
        negatives=0,
        seed=2,
        soundfonts=soundfonts,
        shared_data=False,
        progress=False,
    )
    rows = _rows(out)
    assert {r["labels"] for r in rows} == set(codes)
    for row in rows:
        assert row["file"].startswith(f"IRMAS-TrainingData/{row['labels']}/[{row['labels']}]")
        assert row["programs"].startswith(f"{row['labels']}:gm:"), row["programs"]
    assert "ensemble" not in rows[0]


@pytest.mark.soundfont
def test_band_excerpts_label_audible_drums_and_bass(tmp_path, soundfonts):
    out = render_dataset(
        tmp_path / "b",
        classes=("dru", "bas"),
        train_per_class=0,
        test_excerpts=3,
        negatives=0,
        seed=4,
        soundfonts=soundfonts,
        shared_data=False,
        progress=False,
        test_seconds=(3.0, 3.0),
    )
    rows = _rows(out)
    assert all(r["ensemble"] in ("band", "latin", "jazz") for r in rows)
    for row in rows:
        listed = (out / row["file"]).with_suffix(".txt").read_text().split()
        assert listed == row["labels"].split(";") and set(listed) <= set(LABELS) | {"dru", "bas"}
    assert any({"dru", "bas"} <= set(r["labels"].split(";")) for r in rows)


@pytest.mark.soundfont
def test_ensemble_labels_follow_the_audibility_rule(soundfonts):
    for seed in range(3):
        clip = render_clip(
            kind="test",
            ensemble="band",
            seed=seed,
            duration_s=3.0,
            soundfonts=soundfonts,
            shared_data=False,
            classes=RENDERABLE,
            keep_stems=True,
        )
        assert clip.ensemble == "band" and "ensemble:band" in clip.effects
        codes = {role: role.rstrip("0123456789") for role in clip.stems}
        loud, active = {}, {}
        for role, code in codes.items():
            loud[code] = max(loud.get(code, -np.inf), clip.stem_loudness_db[role])
            active[code] = max(active.get(code, 0.0), active_fraction(clip.stems[role], 44100))
        assert clip.labels == audible_labels(loud, active)
        if "dru" in loud and loud["dru"] >= max(loud.values()) - 10 and active["dru"] >= 0.3:
            assert "dru" in clip.labels


@pytest.mark.soundfont
@pytest.mark.parametrize("kind", ["drums_bass", "bass", "other", "real_drums"])
def test_negatives_under_all_hold_no_drums_or_bass(soundfonts, kind):
    clip = render_clip(
        kind="negative", negative_kind=kind, seed=3, soundfonts=soundfonts, shared_data=False, classes=RENDERABLE
    )
    assert clip.labels == []
    for tag in clip.programs:
        role, source, program = (tag.split(":") + ["", ""])[:3]
        assert role not in ("drums", "bass"), clip.programs
        if source == "gm":
            assert code_of_program(int(program)) not in BY_CODE, clip.programs


@pytest.mark.soundfont
def test_cli_renders_what_it_can_and_names_what_it_skips(tmp_path, capsys, soundfonts):
    args = [
        "synth",
        "--out",
        str(tmp_path / "s"),
        "--classes",
        "man,dru",
        "--train-per-class",
        "1",
        "--test-excerpts",
        "0",
        "--no-shared-data",
        "--quiet",
    ] + [a for f in soundfonts for a in ("--soundfont", str(f))]
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "cannot render man (mandolin)" in err and "skipped" in err
    assert [r["labels"] for r in _rows(tmp_path / "s")] == ["dru"]
