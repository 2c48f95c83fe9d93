"""The Ray engine: a local 2-CPU cluster gives the local engine's records, record for record."""

import json
from pathlib import Path

import pytest

from helpers import run_cli, shared_data_or_skip, write_tone
from instrumentid.inference.predictor import Predictor, find_audio_files

ray = pytest.importorskip("ray", reason="the scale extra (ray[data]) is not installed")


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Generated files of several formats and lengths, a few real recordings, and a broken file."""
    folder = tmp_path_factory.mktemp("corpus")
    write_tone(folder / "a.wav", 440, 3.2, 44_100, channels=2)
    write_tone(folder / "b.flac", 220, 0.6, 22_050)
    write_tone(folder / "sub" / "c.ogg", 330, 2.0, 48_000, subtype="VORBIS")
    (folder / "broken.wav").write_bytes(b"RIFF\x00\x00")
    data = shared_data_or_skip()
    for i, path in enumerate(sorted((data / "real-train").rglob("*.flac"))[:3]):
        (folder / f"real{i}{path.suffix}").write_bytes(path.read_bytes())
    return folder


def test_ray_engine_matches_the_local_engine_record_for_record(cluster, corpus, tiny_bundle):
    from instrumentid.inference.ray_engine import predict_files

    paths = find_audio_files([corpus], recursive=True)
    local = {r["file"]: r for r in Predictor.from_bundle(tiny_bundle).predict_files(paths, segments=True)}
    remote = {r["file"]: r for r in predict_files(paths, tiny_bundle, segments=True)}
    assert set(remote) == set(local) == {str(p) for p in paths}
    for name, expected in local.items():
        got = remote[name]
        if "error" in expected:
            assert got == expected
            continue
        assert got["present"] == expected["present"] and got["duration_s"] == expected["duration_s"]
        assert max(abs(got["scores"][k] - expected["scores"][k]) for k in expected["scores"]) <= 1e-5
        assert [s["start_s"] for s in got["segments"]] == [s["start_s"] for s in expected["segments"]]


def test_ray_engine_through_the_cli_with_resume(corpus, tiny_bundle, tmp_path):
    out = tmp_path / "out.jsonl"
    command = ["predict", corpus, "-r", "-f", "jsonl", "-o", out, "--resume", "--engine", "ray", "--model", tiny_bundle]
    done = run_cli(*command)
    assert done.returncode == 1, done.stderr  # the broken file fails; the others are records
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == len(find_audio_files([corpus], recursive=True))
    assert sum("error" in r for r in records) == 1
    again = run_cli(*command)
    assert f"0 done, {len(records)} skipped" in again.stderr


def test_ray_engine_turns_odd_names_and_unlisted_folders_into_the_local_engines_error_records(
    cluster, tmp_path, tiny_bundle
):
    """Issue 17, Medium 7-8, in the Ray engine: a name that is not UTF-8 and a folder that could not be
    listed are error records as in the local engine, and the other files are still scored."""
    import os

    from instrumentid.inference.predictor import UnlistedFolder
    from instrumentid.inference.ray_engine import predict_files

    good = write_tone(tmp_path / "good.wav")
    bad = Path(os.fsdecode(os.fsencode(tmp_path) + b"/bad\xff.wav"))
    bad.write_bytes(good.read_bytes())
    locked = UnlistedFolder(tmp_path / "lockeddir")
    locked.reason = "cannot list this folder (Permission denied)"
    paths = [bad, locked, good]
    local = {r["file"]: r for r in Predictor.from_bundle(tiny_bundle).predict_files(paths)}
    remote = {r["file"]: r for r in predict_files(paths, tiny_bundle)}
    assert set(remote) == set(local) and "scores" in remote[str(good)]
    for name in set(local) - {str(good)}:
        assert remote[name] == local[name] and "error" in remote[name]
