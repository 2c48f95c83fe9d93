"""End to end through the real ``instrumentid`` command."""

import csv
import importlib
import io
import json
import pickle
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from helpers import CLI, SLIM_PREAMBLE, run_cli, without_root_powers, write_tone
from instrumentid.cli import COMMANDS, build_parser, flag_hint
from instrumentid.errors import ConfigError, DataError
from instrumentid.labels import LABELS


@pytest.fixture
def audio_dir(tmp_path):
    folder = tmp_path / "my songs [live]"
    write_tone(folder / "a tone.wav", 440, 1.5, 44_100, channels=2)
    write_tone(folder / "Ünïcødé (take 2).flac", 220, 2.0, 22_050)
    write_tone(folder / "nested" / "deep.ogg", 330, 1.0, 48_000, subtype="VORBIS")
    return folder


def test_help_teaches():
    top = run_cli("--help")
    assert top.returncode == 0 and "predict" in top.stdout and "examples:" in top.stdout
    sub = run_cli("predict", "--help")
    assert sub.returncode == 0
    for word in ("--format", "--segments", "--threshold", "--recursive", "--model", "examples:"):
        assert word in sub.stdout


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_command_module_configures_and_runs(name, capsys):
    with pytest.raises(SystemExit) as stopped:
        build_parser(only=name).parse_args([name, "--help"])
    assert stopped.value.code == 0 and capsys.readouterr().out.startswith(f"usage: instrumentid {name} ")
    assert callable(importlib.import_module(COMMANDS[name][0]).run)


def test_json_and_recursive(audio_dir, tiny_bundle):
    flat = run_cli("predict", audio_dir, "--model", tiny_bundle, "--format", "json")
    assert flat.returncode == 0, flat.stderr
    records = json.loads(flat.stdout)
    assert sorted(Path(r["file"]).name for r in records) == ["a tone.wav", "Ünïcødé (take 2).flac"]
    deep = json.loads(run_cli("predict", audio_dir, "-r", "--model", tiny_bundle, "--format", "json").stdout)
    assert len(deep) == 3
    for record in deep:
        assert list(record["scores"]) == list(LABELS) and isinstance(record["present"], list)


def test_jsonl_segments_and_threshold(audio_dir, tiny_bundle):
    result = run_cli(
        "predict",
        audio_dir / "a tone.wav",
        "--model",
        tiny_bundle,
        "--format",
        "jsonl",
        "--segments",
        "--threshold",
        "0",
    )
    assert result.returncode == 0, result.stderr
    (record,) = [json.loads(line) for line in result.stdout.splitlines()]
    assert record["present"] == list(LABELS) and record["duration_s"] == 1.5
    assert [s["start_s"] for s in record["segments"]] == [0.0, 0.5]


def test_csv_and_atomic_output_file(audio_dir, tiny_bundle, tmp_path):
    out = tmp_path / "out" / "pred.csv"
    result = run_cli("predict", audio_dir, "--model", tiny_bundle, "--format", "csv", "--output", out)
    assert result.returncode == 0 and result.stdout == ""
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert len(rows) == 2 and set(LABELS) <= set(rows[0])
    assert [p.name for p in out.parent.iterdir()] == ["pred.csv"]  # no temporary left behind


def test_table_format(audio_dir, tiny_bundle):
    result = run_cli("predict", audio_dir / "a tone.wav", "--model", tiny_bundle)
    assert result.returncode == 0 and "a tone.wav" in result.stdout and "present" in result.stdout
    timeline = run_cli("predict", audio_dir / "a tone.wav", "--model", tiny_bundle, "--segments")
    assert "0.0-1.0 s" in timeline.stdout and "0.5-1.5 s" in timeline.stdout


def _vocabulary_bundle(folder: Path) -> Path:
    """A tiny bundle scoring the whole 33-label vocabulary."""
    from helpers import tiny_bundle_dict
    from instrumentid.inference.bundle import save_bundle
    from instrumentid.labels import VOCABULARY
    from instrumentid.models import build

    params = {"n_labels": len(VOCABULARY), "widths": [4, 8, 8, 8], "dropout": 0.0}
    bundle = tiny_bundle_dict(
        model_params=params, state_dict=build("cnn", **params).state_dict(), labels=list(VOCABULARY)
    )
    return save_bundle(bundle, folder / "vocabulary.iid")


@pytest.mark.parametrize("model", ["fast", "vocabulary"])
def test_table_names_files_uniquely_and_shows_what_a_person_needs(tmp_path, model):
    """Same file names in two folders stay apart (relative to the common folder), a newline in a
    name is escaped, CJK names are padded by display width, the thresholds are stated, and each row
    shows the top 5 scores and the present labels by name - for 11 labels as for 33."""
    from instrumentid.inference.schema import display_width
    from instrumentid.labels import NAMES

    root = tmp_path / "library"
    files = [
        root / "take 1" / "Piano_Drums.flac",
        root / "take 2" / "Piano_Drums.flac",
        root / "take 2" / "line\nbreak.wav",
        root / "ピアノ曲.wav",
    ]
    for path in files:
        write_tone(path, 261.6, 1.5, 22_050)
    bundle = model if model == "fast" else _vocabulary_bundle(tmp_path)
    result = run_cli("predict", *files, "--model", bundle, "--threshold", "0.3")
    assert result.returncode == 0, result.stderr
    first, head, rule, *rows = result.stdout.splitlines()
    assert first == "present = score at or above 0.30 (--threshold, every label)"
    assert [row.split("  ")[0].rstrip() for row in rows] == [
        "take 1/Piano_Drums.flac",
        "take 2/Piano_Drums.flac",
        "take 2/line\\nbreak.wav",
        "ピアノ曲.wav",
    ]
    assert len({display_width(line.split(" 1.5 ")[0]) for line in [head.replace("dur_s", "  1.5"), *rows]}) == 1
    for row in rows:
        cells = row.split("  1.5  ")[1].split()
        codes, scores = cells[0:10:2], [int(v) for v in cells[1:10:2]]
        assert len(codes) == 5 and scores == sorted(scores, reverse=True)
        present = [code for code, score in zip(codes, scores, strict=True) if score >= 30]
        assert all(f"{NAMES[code]} ({code})" in row for code in present)


def test_default_thresholds_are_stated_per_label_and_ctrl_c_keeps_the_scored_rows(tmp_path):
    """``fast`` has per-label thresholds: the line names each. Rows come as files finish, so Ctrl-C
    during the second file (a long one) exits 130 with the first file's row already printed."""
    import signal

    write_tone(tmp_path / "a.wav", 440, 1.0, 16_000)
    write_tone(tmp_path / "b.wav", 440, 1200.0, 16_000)
    proc = subprocess.Popen(
        [*CLI, "predict", tmp_path / "a.wav", tmp_path / "b.wav", "--model", "default"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines = [proc.stdout.readline() for _ in range(4)]  # thresholds, head, rule, a.wav
    proc.send_signal(signal.SIGINT)
    rest, errors = proc.communicate(timeout=120)
    assert proc.returncode == 130, errors
    assert lines[3].startswith("a.wav ") and "b.wav" not in rest and "interrupted" in errors
    per_label = run_cli("predict", tmp_path / "a.wav", "--model", "fast").stdout.splitlines()[0]
    assert per_label.startswith("present = score at or above its label's threshold (the model's): cel 0.")
    assert len(per_label.split(":")[1].split()) == 2 * len(LABELS)


def test_predict_reads_standard_input(audio_dir, tiny_bundle):
    """``-`` is standard input, in any format the decoders recognise; the record's file is ``-``."""
    for name in ("a tone.wav", "Ünïcødé (take 2).flac", "nested/deep.ogg"):
        data = (audio_dir / name).read_bytes()
        piped = subprocess.run(
            [*CLI, "predict", "-", "--model", str(tiny_bundle), "-f", "json"],
            input=data,
            capture_output=True,
            timeout=300,
        )
        assert piped.returncode == 0, piped.stderr
        (record,) = json.loads(piped.stdout)
        direct = json.loads(run_cli("predict", audio_dir / name, "--model", tiny_bundle, "-f", "json").stdout)[0]
        assert record["file"] == "-" and record["scores"] == direct["scores"]
    junk = subprocess.run(
        [*CLI, "predict", "-", "--model", str(tiny_bundle), "-f", "jsonl"],
        input=b"not audio",
        capture_output=True,
        timeout=300,
    )
    (record,) = [json.loads(line) for line in junk.stdout.splitlines()]
    assert junk.returncode == 1 and record["file"] == "-" and record["error"].startswith("-: ")
    assert b"instrumentid-stdin" not in junk.stderr  # the temporary file is never named


def test_bad_file_in_batch(audio_dir, tiny_bundle, tmp_path):
    bad = tmp_path / "broken.mp3"
    bad.write_bytes(b"\x00" * 1000)
    result = run_cli(
        "predict", bad, audio_dir / "a tone.wav", tmp_path / "missing.wav", "--model", tiny_bundle, "--format", "jsonl"
    )
    assert result.returncode == 1
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [("error" in r) for r in records] == [True, False, True]
    assert "broken.mp3" in records[0]["error"] and "file not found" in records[2]["error"]
    assert "broken.mp3" in result.stderr


def test_user_errors_are_one_line(tiny_bundle, tmp_path, audio_dir):
    missing_model = run_cli("predict", audio_dir, "--model", tmp_path / "nope.iid")
    assert missing_model.returncode == 2
    assert missing_model.stderr.strip().count("\n") == 0 and "nope.iid: model bundle not found" in missing_model.stderr
    bad_threshold = run_cli("predict", audio_dir, "--model", tiny_bundle, "--threshold", "2")
    assert bad_threshold.returncode == 2 and "between 0 and 1" in bad_threshold.stderr


def test_models_lists_bundled_models_and_the_registry():
    result = run_cli("models")
    bundled, architectures = result.stdout.split("architectures")
    names = lambda text: {line.split()[0] for line in text.splitlines()[1:] if line.strip()}  # noqa: E731
    assert result.returncode == 0
    assert {"default", "fast", "audioset-zeroshot"} <= names(bundled)
    assert {"cnn", "cnn-wide", "yamnet", "ast", "wav2vec2", "timm"} <= names(architectures)


def test_model_flag_takes_a_bundled_name(audio_dir):
    result = run_cli("predict", audio_dir, "--model", "fast", "--format", "json")
    assert result.returncode == 0, result.stderr
    unknown = run_cli("predict", audio_dir, "--model", "no-such-model")
    assert unknown.returncode == 2 and "default, fast, audioset-zeroshot" in unknown.stderr


def test_messages_are_one_plain_sentence_naming_the_file(tmp_path):
    """Odd inputs a new user tries: each is one line naming the file and what to do, with no
    library jargon (torch's weights_only, a --runtime flag gradcam lacks, mpg123's notes)."""
    import joblib
    import onnx

    from instrumentid.inference.shipped import bundled_path

    example = Path(__file__).parents[1] / "src" / "instrumentid" / "assets" / "example.ogg"
    text = tmp_path / "notes.txt"
    text.write_text("hello\n")
    joblib.dump({"svm": 1}, tmp_path / "svm.joblib")
    for model, says in [(text, "notes.txt: not a model bundle"), (tmp_path / "svm.joblib", "classical evaluate")]:
        result = run_cli("predict", example, "--model", model)
        assert result.returncode == 2 and says in result.stderr and "weights_only" not in result.stderr
        assert len(result.stderr.splitlines()) == 1 and "default, fast, audioset-zeroshot" in result.stderr
    graph = onnx.load(str(bundled_path("fast")))  # a graph exported before graphs carried their weights
    meta = json.loads(graph.metadata_props[0].value)
    del meta["exported_from"]["weights"], graph.metadata_props[:]
    onnx.helper.set_model_props(graph, {"instrumentid": json.dumps(meta)})
    onnx.save(graph, str(tmp_path / "old.onnx"))
    for command in (["gradcam", example], ["embed", tmp_path, "--out", tmp_path / "e"]):
        result = run_cli(*command, "--model", tmp_path / "old.onnx")
        assert result.returncode == 2 and "--runtime" not in result.stderr and "export it again" in result.stderr
        assert len(result.stderr.splitlines()) == 1
    (tmp_path / "random.flac").write_bytes(np.random.default_rng(0).bytes(5000))
    (tmp_path / "text.mp3").write_text("hello, not audio\n" * 20)
    result = run_cli("predict", tmp_path / "random.flac", tmp_path / "text.mp3", "--model", "fast", "-f", "jsonl")
    assert result.returncode == 1 and "zero length" not in result.stderr
    assert result.stderr.splitlines() == [
        f"instrumentid predict: {tmp_path / 'random.flac'}: not decodable audio; check that it is a complete "
        "audio file, or convert it to WAV or FLAC",
        f"instrumentid predict: {tmp_path / 'text.mp3'}: not decodable audio (Invalid data found when processing "
        "input); check that it is a complete audio file, or convert it to WAV or FLAC",
    ]


def test_library_errors_name_the_parameter_and_the_cli_adds_its_flag(tmp_path):
    """Library messages are plain words (no ``--flag``); ``option`` names the parameter, the CLI its flag."""
    error = DataError("the validation split is empty: give validation data or more training groups", option="val_data")
    assert pickle.loads(pickle.dumps(error)).option == "val_data"  # survives a process boundary (Ray)
    assert flag_hint(error) == " (--val-data)" and flag_hint(ConfigError("no such file")) == ""
    assert flag_hint(error, "train") == " (--val-data)" and flag_hint(error, "split") == ""  # split has no --val-data
    one_song = write_tone(tmp_path / "data" / "cel" / "[cel][cla]0001__1.wav").parents[1]
    done = run_cli("split", one_song, "--out", tmp_path / "split")
    assert done.returncode == 2 and done.stderr.rstrip().endswith("give a separate validation set")


def test_unreadable_file_says_permission_denied(audio_dir, tiny_bundle):
    locked = audio_dir / "a tone.wav"
    locked.chmod(0)
    command = [*without_root_powers(), *CLI, "predict", str(locked), "--model", str(tiny_bundle), "-f", "jsonl"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    assert json.loads(result.stdout)["error"].endswith(
        "a tone.wav: permission denied (this user may not read it; check its owner and mode)"
    )


def test_a_command_whose_extra_is_missing_names_it_in_one_line(tmp_path):
    """In the slim install (no torch, Lightning, scikit-learn) each command that needs them says which
    extra to install, in one line, exit 2; `models` still lists the bundled models."""
    code = SLIM_PREAMBLE + "from instrumentid.cli import main\nsys.exit(main(sys.argv[1:]))\n"
    example = Path(__file__).parents[1] / "src" / "instrumentid" / "assets" / "example.ogg"
    commands = [
        ["train", "--data", str(tmp_path), "--out", str(tmp_path / "m.iid")],
        ["predict", str(example), "--runtime", "torch"],
        ["export", "fast", "--out", str(tmp_path / "f.onnx")],
        ["gradcam", str(example), "--label", "pia"],
    ]
    for command in commands:
        done = subprocess.run([sys.executable, "-c", code, *command], capture_output=True, text=True, timeout=120)
        assert done.returncode == 2, (command, done.stderr)
        assert len(done.stderr.splitlines()) == 1 and "pip install 'instrumentid[train]'" in done.stderr, command
    listed = subprocess.run([sys.executable, "-c", code, "models"], capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0 and re.search(r"\[default\.onnx, [0-9.]+ MB\]", listed.stdout)
    assert "pip install 'instrumentid[train]'" in listed.stdout
