"""Rendering behaviour: determinism across jobs, resume, predominance, IRMAS label rule, voice."""

from __future__ import annotations

import filecmp
import os

import numpy as np
import pytest

from instrumentid.synth import effects as fx
from instrumentid.synth import pending, plan_dataset, read_manifest, render_clip, render_dataset
from instrumentid.synth.ensembles import audible_labels

pytestmark = pytest.mark.soundfont
SMALL = dict(
    train_per_class=2,
    test_excerpts=1,
    negatives=1,
    seed=11,
    classes=["gel", "voi", "vio"],
    test_seconds=(5.0, 5.0),
    progress=False,
)


def _files(root):
    return sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file())


def test_same_seed_same_bytes_whatever_jobs(tmp_path, soundfonts):
    a = render_dataset(tmp_path / "a", jobs=1, soundfonts=soundfonts, **SMALL)
    b = render_dataset(tmp_path / "b", jobs=2, soundfonts=soundfonts, **SMALL)
    files = _files(a)
    assert files == _files(b) and len(files) == 2 * 3 + 2 + 1 + 1
    for rel in files:
        assert filecmp.cmp(a / rel, b / rel, shallow=False), rel
    c = render_dataset(tmp_path / "c", jobs=1, soundfonts=soundfonts, **{**SMALL, "seed": 12})
    assert not filecmp.cmp(a / files[0], c / files[0], shallow=False)


def test_resume_renders_only_missing(tmp_path, soundfonts):
    out = render_dataset(tmp_path / "r", jobs=1, soundfonts=soundfonts, **SMALL)
    plan = plan_dataset(**{k: v for k, v in SMALL.items() if k != "progress"})
    assert pending(out, plan) == []
    rows = read_manifest(out)
    victim_file, victim_row = plan[0].file, plan[3].file
    reference = {f: (out / f).read_bytes() for f in (victim_file, victim_row)}
    (out / victim_file).unlink()  # interrupted before the file was written
    manifest = (out / "manifest.csv").read_text().splitlines()
    (out / "manifest.csv").write_text("\n".join(line for line in manifest if not line.startswith(victim_row)) + "\n")
    mtimes = {f: os.stat(out / f).st_mtime_ns for f in rows if f not in (victim_file, victim_row)}
    assert {c.file for c in pending(out, plan)} == {victim_file, victim_row}
    render_dataset(out, jobs=1, soundfonts=soundfonts, **SMALL)
    assert pending(out, plan) == []
    assert {f: os.stat(out / f).st_mtime_ns for f in mtimes} == mtimes  # untouched
    assert all((out / f).read_bytes() == data for f, data in reference.items())
    assert set(read_manifest(out)) == set(rows)


@pytest.mark.parametrize("code", ["pia", "gel", "voi", "sax"])
def test_predominant_louder_than_accompaniment(soundfonts, code):
    for seed in range(3):
        clip = render_clip(code, seed=seed, soundfonts=soundfonts, keep_stems=True)
        assert clip.labels == [code]
        lead = fx.loudness_db(clip.stems[code], 44100)
        others = [s for r, s in clip.stems.items() if r != code]
        if others:
            accompaniment = fx.loudness_db(np.sum(others, axis=0), 44100)
            assert lead - accompaniment >= 8.0, (seed, clip.stem_loudness_db)
            assert all(lead - fx.loudness_db(s, 44100) >= 11.5 for s in others)


def test_test_excerpt_labels_follow_audibility(soundfonts):
    for seed in range(3):
        clip = render_clip(
            kind="test", genre="jaz_blu", seed=seed, duration_s=5.0, soundfonts=soundfonts, keep_stems=True
        )
        assert 1 <= len(clip.labels) <= 4
        loud = {r: fx.loudness_db(s, 44100) for r, s in clip.stems.items() if r in clip.stem_loudness_db}
        labelled = {r: v for r, v in loud.items() if r in clip.labels}
        assert max(labelled.values()) == pytest.approx(
            max(v for r, v in loud.items() if r not in ("drums", "bass", "other")), abs=0.01
        )
        assert all(v >= max(labelled.values()) - 10.0 for v in labelled.values())
        assert "drums" not in clip.labels and "bass" not in clip.labels


def test_audible_labels_rule():
    assert audible_labels({"pia": -20, "sax": -29, "gac": -31}, {"pia": 1, "sax": 1, "gac": 1}) == ["pia", "sax"]
    assert audible_labels({"pia": -20, "sax": -22}, {"pia": 1, "sax": 0.1}) == ["pia"]


def test_negative_and_voice_clips(soundfonts):
    neg = render_clip(kind="negative", negative_kind="drums_bass", seed=1, soundfonts=soundfonts, shared_data=False)
    assert neg.labels == [] and fx.rms(neg.waveform) > 1e-3
    voice = render_clip("voi", seed=2, soundfonts=soundfonts, shared_data=False, keep_stems=True)
    assert fx.rms(voice.stems["voi"]) > 1e-3 and np.isfinite(voice.waveform).all()


@pytest.mark.shared
def test_sampler_renders_real_notes(shared_data):
    from instrumentid.synth.music import make_song
    from instrumentid.synth.parts import make_part
    from instrumentid.synth.sampler import Sampler

    sampler = Sampler(shared_data / "real-notes")
    assert {"cel", "cla", "flu", "sax", "tru", "vio", "gel"} <= set(sampler.classes())
    rng = np.random.default_rng(0)
    part = make_part("flu", make_song("cla", rng), rng, 3.0, sampler=True)
    y = sampler.render(part, "flu", 3 * 44100, rng)
    assert y.shape == (3 * 44100,) and fx.rms(y) > 1e-3 and np.isfinite(y).all()
