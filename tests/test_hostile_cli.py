"""Hostile input through the real ``instrumentid predict`` command (issue 17): unbounded decoding,
playlists, special outputs, CSV injection, odd file names, symlink loops, unreadable paths and
logs that are not ours."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import stat
import subprocess
import tempfile
import threading
from pathlib import Path

import pytest

from helpers import CLI, CLI_ENV, encode_long_stream, run_cli, without_root_powers, write_tone


def peak_rss_mb(*args) -> float:
    """Peak resident memory (MB) of one ``instrumentid`` run, measured by the kernel (wait4)."""
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen([*CLI, *map(str, args)], stdout=out, stderr=out)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        assert proc.returncode == 0, out.read().decode()
    return usage.ru_maxrss / 1024


def test_memory_does_not_grow_with_the_length_of_a_pyav_only_stream(tmp_path):
    """High 1: Opus in a live Matroska stream (no duration in the header) was decoded whole: 12 min
    of 48-kHz audio cost about 200 MB more than 3 min. Now both decode in the same 30-s blocks."""
    short = encode_long_stream(tmp_path / "short.mka", 180)
    long = encode_long_stream(tmp_path / "long.mka", 720)
    rss_short = peak_rss_mb("predict", short, "--model", "fast", "-q", "-f", "jsonl")
    rss_long = peak_rss_mb("predict", long, "--model", "fast", "-q", "-f", "jsonl")
    assert rss_long - rss_short < 30, (rss_short, rss_long)  # the extra 9 min alone are 104 MB as float32


@pytest.fixture
def target(tmp_path) -> Path:
    """A readable file some playlist will try to reach."""
    return write_tone(tmp_path / "secret" / "private.wav", seconds=7.0)


@pytest.mark.parametrize(
    "name, text",
    [
        ("list.m3u8", "#EXTM3U\n#EXT-X-TARGETDURATION:8\n#EXTINF:7.0,\n{target}\n#EXT-X-ENDLIST\n"),
        ("disguised.mp3", "#EXTM3U\n#EXT-X-TARGETDURATION:8\n#EXTINF:7.0,\n{relative}\n#EXT-X-ENDLIST\n"),
        ("script.ffconcat", "ffconcat version 1.0\nfile {relative}\n"),
        ("script.wav", "ffconcat version 1.0\nfile {relative}\n"),
    ],
)
def test_playlists_and_concat_scripts_are_refused_not_followed(tmp_path, tiny_bundle, target, name, text):
    """High 2: an m3u8 or ffconcat file made FFmpeg read the files it names; it is now refused by
    content (whatever its suffix) with one line naming it."""
    playlist = tmp_path / name
    playlist.write_text(text.format(target=target, relative=target.relative_to(tmp_path)))
    result = run_cli("predict", playlist, "--model", tiny_bundle, "-f", "json", "-q")
    assert result.returncode == 1
    [record] = json.loads(result.stdout)
    assert "scores" not in record and record["file"] == str(playlist)
    assert str(playlist) in record["error"] and "7.0" not in result.stdout
    assert [line for line in result.stderr.splitlines() if line.startswith("instrumentid")] == [
        f"instrumentid predict: {record['error']}"
    ]  # (libsndfile's mpg123 may add its own notes)


def test_output_to_a_fifo_is_written_in_place(tmp_path, tiny_bundle):
    """Medium 5: -o FIFO became a regular file (the reader got nothing)."""
    song = write_tone(tmp_path / "a.wav")
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_text()))
    reader.start()
    result = run_cli("predict", song, "--model", tiny_bundle, "-f", "jsonl", "-o", fifo, "-q")
    reader.join(timeout=60)
    assert result.returncode == 0, result.stderr
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert json.loads(received[0])["file"] == str(song)


def test_output_to_dev_stdout_writes_stdout_and_a_symlink_keeps_its_link(tmp_path, tiny_bundle):
    song = write_tone(tmp_path / "a.wav")
    result = run_cli("predict", song, "--model", tiny_bundle, "-f", "jsonl", "-o", "/dev/stdout", "-q")
    assert result.returncode == 0 and json.loads(result.stdout)["file"] == str(song)
    real = tmp_path / "real.jsonl"
    real.write_text("old\n")
    link = tmp_path / "link.jsonl"
    link.symlink_to(real)
    assert run_cli("predict", song, "--model", tiny_bundle, "-f", "jsonl", "-o", link, "-q").returncode == 0
    assert link.is_symlink() and json.loads(real.read_text())["file"] == str(song)


def test_csv_cells_that_start_a_formula_are_escaped_and_a_carriage_return_is_quoted(tmp_path, tiny_bundle):
    """Medium 6: '=HYPERLINK(...)' reached a spreadsheet bare; a CR in a name split the row."""
    names = ["=HYPERLINK(evil).wav", "+1.wav", "@x.wav", "cr\rname.wav"]
    for name in names:
        write_tone(tmp_path / "in" / name)
    result = subprocess.run(
        [*CLI, "predict", *names, "--model", str(tiny_bundle), "-f", "csv", "-q"],
        cwd=tmp_path / "in",
        env=CLI_ENV,
        capture_output=True,
        timeout=300,
    )  # bytes: text mode turns CR into LF
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout.decode(), newline="")))
    assert [row["file"] for row in rows] == ["'=HYPERLINK(evil).wav", "'+1.wav", "'@x.wav", "cr\rname.wav"]


def test_a_file_name_that_is_not_utf8_is_an_error_record_and_the_others_are_kept(tmp_path, tiny_bundle):
    """Medium 7: one such name ended the run with a traceback and lost every result."""
    folder = tmp_path / "in"
    write_tone(folder / "good.wav")
    shutil.copy(folder / "good.wav", os.fsencode(folder) + b"/bad\xff\xfe.wav")
    result = run_cli("predict", folder, "--model", tiny_bundle, "-f", "json", "-q")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    bad, good = json.loads(result.stdout)
    assert bad["file"].endswith("bad\\xff\\xfe.wav") and "not valid UTF-8" in bad["error"]
    assert "scores" in good


def test_terminal_escape_sequences_in_names_are_printed_escaped(tmp_path, tiny_bundle):
    bad = tmp_path / "\x1b[2J\x1b]0;owned\x07.wav"
    bad.write_bytes(b"not audio")
    result = run_cli("predict", bad, "--model", tiny_bundle, "-q")
    assert result.returncode == 1
    assert "\x1b" not in result.stdout + result.stderr and "\\x1b[2J" in result.stderr


def test_symlink_loops_end_and_every_file_is_scored_once(tmp_path, tiny_bundle):
    """Medium 8: 'loop -> .' scored each file ~40 times, then an ELOOP traceback."""
    folder = tmp_path / "in"
    write_tone(folder / "a.wav")
    write_tone(folder / "sub" / "b.wav")
    (folder / "loop").symlink_to(".")
    (folder / "sub" / "up").symlink_to("..")
    (folder / "self.wav").symlink_to("self.wav")  # ELOOP on open: an error record
    result = run_cli("predict", folder, "-r", "--model", tiny_bundle, "-f", "json", "-q")
    records = json.loads(result.stdout)
    assert sorted(Path(r["file"]).name for r in records) == ["a.wav", "b.wav", "self.wav"]
    assert "Traceback" not in result.stderr


def test_unreadable_files_and_folders_become_error_records_naming_them(tmp_path, tiny_bundle):
    """Medium 8: 'predict lockeddir' said 'no audio files'; an unreadable file must be named too."""
    write_tone(tmp_path / "ok.wav")
    write_tone(tmp_path / "locked.wav").chmod(0)
    write_tone(tmp_path / "lockeddir" / "x.wav")
    (tmp_path / "lockeddir").chmod(0)
    try:
        result = subprocess.run(
            [
                *without_root_powers(),
                *CLI,
                "predict",
                str(tmp_path),
                "-r",
                "--model",
                str(tiny_bundle),
                "-f",
                "json",
                "-q",
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        (tmp_path / "lockeddir").chmod(0o755)
    by_name = {Path(r["file"]).name: r for r in json.loads(result.stdout)}
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "scores" in by_name["ok.wav"]
    assert by_name["locked.wav"]["error"].startswith(str(tmp_path / "locked.wav"))
    assert by_name["lockeddir"]["error"] == f"{tmp_path / 'lockeddir'}: cannot list this folder (Permission denied)"


def _resume(out: Path, song: Path, model: Path) -> subprocess.CompletedProcess:
    return run_cli("predict", song, "--model", model, "-f", "jsonl", "-o", out, "--resume", "-q")


def test_resume_refuses_what_is_not_its_log_and_changes_nothing(tmp_path, tiny_bundle):
    """Medium 9: --resume truncated any file at its last newline, also through symlinks."""
    song = write_tone(tmp_path / "a.wav")
    notes = tmp_path / "notes.txt"
    notes.write_bytes(b"my notes\nno newline at the end")
    result = _resume(notes, song, tiny_bundle)
    assert result.returncode == 2 and "line 1 is not a predict record" in result.stderr
    assert notes.read_bytes() == b"my notes\nno newline at the end"
    link = tmp_path / "link.jsonl"
    link.symlink_to(notes)
    assert _resume(link, song, tiny_bundle).returncode == 2 and notes.read_bytes().endswith(b"at the end")


def test_resume_drops_only_a_torn_record_and_names_the_true_bad_line(tmp_path, tiny_bundle):
    song = write_tone(tmp_path / "a.wav")
    log = tmp_path / "log.jsonl"
    assert _resume(log, song, tiny_bundle).returncode == 0
    line = log.read_bytes()
    log.write_bytes(line + line + line[:25])  # a duplicate, then a record torn by a kill
    result = _resume(log, song, tiny_bundle)
    assert result.returncode == 0 and "1 skipped" in result.stderr and log.read_bytes() == line + line
    log.write_bytes(line + line + b'["not", "a record"]\n')
    result = _resume(log, song, tiny_bundle)
    assert result.returncode == 2 and "line 3 is not a predict record" in result.stderr
    log.write_bytes(line + b"torn but not ours")
    assert _resume(log, song, tiny_bundle).returncode == 2 and log.read_bytes().endswith(b"not ours")


def test_resume_reads_lines_with_a_length_cap(tmp_path, monkeypatch):
    from instrumentid.errors import ConfigError
    from instrumentid.inference import sinks

    monkeypatch.setattr(sinks, "MAX_LOG_LINE", 1000)
    log = tmp_path / "log.jsonl"
    line = b'{"file": "' + b"x" * 5000 + b'", "source": {}}\n'
    log.write_bytes(line)
    with pytest.raises(ConfigError, match="line 1 is not a predict record .or is longer than 1000 bytes"):
        sinks.ResumableLog(log)
    assert log.read_bytes() == line
