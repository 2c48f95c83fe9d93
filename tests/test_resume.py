"""Batch output: resumable JSONL (kill -9 loses nothing), atomic files, CSV timelines."""

import csv
import io
import json
import os
import signal
import subprocess
import time

import pytest

from helpers import CLI, run_cli, write_tone
from instrumentid.errors import ConfigError
from instrumentid.inference.sinks import ResumableLog, TextSink
from instrumentid.labels import LABELS


def read_log(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_log_drops_a_torn_last_line_and_skips_only_unchanged_files(tmp_path):
    a, b = write_tone(tmp_path / "a.wav", 440, 0.5), write_tone(tmp_path / "b.wav", 220, 0.5)
    out = tmp_path / "out.jsonl"
    with ResumableLog(out) as log:
        log.write({"file": str(a), "scores": {}})
    with open(out, "a") as handle:
        handle.write('{"file": "' + str(b) + '", "sco')  # a kill in the middle of a line
    log = ResumableLog(out)
    log.close()
    assert log.seen(a) and not log.seen(b)
    assert out.read_text().endswith("\n") and len(read_log(out)) == 1
    os.utime(a, ns=(0, 0))  # the file changed since its record: predicted again
    assert not ResumableLog(out).seen(a)


def test_log_refuses_what_is_not_a_record_log(tmp_path):
    out = tmp_path / "notes.jsonl"
    out.write_text("hello\n")
    with pytest.raises(ConfigError, match="line 1 is not a predict record"):
        ResumableLog(out)
    with pytest.raises(ConfigError, match="is a folder"):
        ResumableLog(tmp_path)


def test_text_sink_leaves_nothing_behind_on_failure(tmp_path):
    target = tmp_path / "out.csv"
    with pytest.raises(RuntimeError):
        with TextSink(target) as sink:
            sink.write("partial")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_kill_9_mid_run_then_resume_loses_and_duplicates_nothing(tiny_bundle, tmp_path):
    folder = tmp_path / "corpus"
    names = [f"{i:02d}.wav" for i in range(8)]
    for i, name in enumerate(names):  # the last three are long: the run is still on them when killed
        write_tone(folder / name, 200 + 40 * i, 1.2 if i < 5 else 240.0)
    out = tmp_path / "out.jsonl"
    command = [*CLI, "predict", folder, "-f", "jsonl", "-o", out, "--resume", "--model", tiny_bundle, "-q"]
    process = subprocess.Popen(list(map(str, command)), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (not out.exists() or len(out.read_text().splitlines()) < 5):
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    before = [r["file"] for r in read_log(out)]
    assert 5 <= len(before) < len(names), "the run was not killed mid-way"
    assert before == [str(folder / n) for n in names[: len(before)]]

    done = run_cli("predict", folder, "-f", "jsonl", "-o", out, "--resume", "--model", tiny_bundle)
    assert done.returncode == 0, done.stderr
    assert f"{len(names) - len(before)} done, {len(before)} skipped" in done.stderr
    after = read_log(out)
    assert sorted(r["file"] for r in after) == [str(folder / n) for n in names]  # each file exactly once
    fresh = run_cli("predict", folder, "-f", "jsonl", "--model", tiny_bundle)
    expected = {r["file"]: r for r in map(json.loads, fresh.stdout.splitlines())}
    for record in after:
        assert record["source"]["size"] == (folder / os.path.basename(record["file"])).stat().st_size
        assert {k: v for k, v in record.items() if k != "source"} == expected[record["file"]]


def test_resume_needs_a_jsonl_file(tiny_bundle, tmp_path):
    song = write_tone(tmp_path / "a.wav", 440, 1.0)
    done = run_cli("predict", song, "--resume", "--model", tiny_bundle)
    assert done.returncode == 2 and "--resume needs --format jsonl and --output FILE" in done.stderr


def test_output_that_is_a_folder_or_unwritable_is_one_line_exit_2_and_no_temp_file(tiny_bundle, tmp_path):
    song = write_tone(tmp_path / "in" / "a.wav", 440, 1.0)
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    for target in (tmp_path, blocker / "out.csv"):
        before = set(tmp_path.rglob("*"))
        done = run_cli("predict", song, "-f", "csv", "-o", target, "--model", tiny_bundle)
        assert done.returncode == 2, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1 and str(target) in done.stderr
        assert set(tmp_path.rglob("*")) == before


def test_outputs_respect_the_umask(tiny_bundle, tmp_path):
    song = write_tone(tmp_path / "a.wav", 440, 1.0)
    out = tmp_path / "out.json"
    done = run_cli("predict", song, "-f", "json", "-o", out, "--model", tiny_bundle, preexec_fn=lambda: os.umask(0o022))
    assert done.returncode == 0, done.stderr
    assert out.stat().st_mode & 0o777 == 0o644


def test_segments_in_csv_are_a_long_table(tiny_bundle, tmp_path):
    song = write_tone(tmp_path / "a.wav", 440, 3.5)
    broken = tmp_path / "b.wav"
    broken.write_bytes(b"RIFF")
    done = run_cli("predict", song, broken, "-f", "csv", "--segments", "--model", tiny_bundle)
    assert done.returncode == 1
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    assert list(rows[0]) == ["file", "start_s", "end_s", *LABELS, "present", "error"]
    windows = [r for r in rows if r["file"] == str(song)]
    assert [float(r["start_s"]) for r in windows] == [0.0, 1.0, 2.0, 2.5]  # the last window ends with the file
    assert all(0 <= float(r["cel"]) <= 1 for r in windows)
    assert [r["error"] != "" for r in rows if r["file"] == str(broken)] == [True]


def test_parquet_shards_hold_one_flat_row_per_file(tiny_bundle, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet", reason="Parquet needs pyarrow (the scale extra)")
    from instrumentid.inference import sinks

    songs = [write_tone(tmp_path / "in" / f"{i}.wav", 300 + 50 * i, 1.0) for i in range(5)]
    (tmp_path / "in" / "bad.wav").write_bytes(b"RIFF")
    out = tmp_path / "shards"
    with sinks.ParquetShards(out, LABELS, rows_per_shard=2) as shards:
        for song in songs:
            shards.write(
                {
                    "file": str(song),
                    "duration_s": 1.0,
                    "scores": dict.fromkeys(LABELS, 0.25),
                    "present": ["cel"],
                    "warnings": ["short"],
                }
            )
    assert sorted(p.name for p in out.iterdir()) == ["part-00000.parquet", "part-00001.parquet", "part-00002.parquet"]
    rows = pq.read_table(out).to_pylist()
    assert [r["file"] for r in rows] == [str(s) for s in songs] and rows[0]["cel"] == 0.25
    assert rows[0]["present"] == "cel" and rows[0]["warnings"] == "short"

    done = run_cli("predict", tmp_path / "in", "-f", "parquet", "-o", tmp_path / "cli", "--model", tiny_bundle)
    assert done.returncode == 1 and "bad.wav" in done.stderr  # the broken file is a row with its error
    table = pq.read_table(tmp_path / "cli").to_pylist()
    assert len(table) == 6 and [r["error"] != "" for r in table].count(True) == 1
    again = run_cli("predict", tmp_path / "in", "-f", "parquet", "-o", tmp_path / "cli", "--model", tiny_bundle)
    assert again.returncode == 2 and "already holds part-*.parquet shards" in again.stderr
