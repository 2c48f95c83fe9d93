"""When instruments play: activity ranges, silence that never dilutes, quiet that is not silent,
label subsets (``--labels``) and the Audacity label track."""

import csv
import io
import json

import numpy as np
import pytest
import soundfile as sf

from helpers import run_cli, tiny_bundle_dict, tone
from instrumentid.frontends.core import feature_config
from instrumentid.inference.bundle import save_bundle
from instrumentid.inference.predictor import Predictor
from instrumentid.inference.schema import activity
from instrumentid.inference.windows import SILENCE_FLOOR_DBFS, aggregate, audible, window_dbfs
from instrumentid.labels import LABELS


def _parts(path, rate=16_000, gap_s=5.0):
    """3 s of tone, ``gap_s`` of digital silence, 2 s of another tone: known on/off times."""
    signal = np.concatenate([tone(440, 3.0, rate), np.zeros(int(gap_s * rate), np.float32), tone(660, 2.0, rate)])
    sf.write(path, signal, rate)
    return path


def test_activity_merges_touching_windows_and_skips_silent_ones():
    starts = np.array([0.0, 1.0, 2.0, 3.0, 4.0])
    scores = np.array([[0.9, 0.1], [0.8, 0.1], [0.1, 0.1], [0.9, 0.7], [0.9, 0.9]])
    keep = np.array([True, True, True, True, False])
    found = activity(starts, scores, [0.5, 0.5], window_s=1.0, duration_s=4.5, labels=("sax", "pia"), keep=keep)
    assert found == {"sax": [[0.0, 2.0], [3.0, 4.0]], "pia": [[3.0, 4.0]]}


def test_silent_windows_never_dilute_the_file_score():
    scores = np.array([[0.9], [0.0], [0.0], [0.0], [0.0], [0.0], [0.0], [0.8]])
    levels = np.array([-20.0] + [-np.inf] * 6 + [-30.0])
    assert audible(levels).sum() == 2 and SILENCE_FLOOR_DBFS < -30
    gaps = np.array([-20.0, -49.0, -51.0, -95.0])  # the loudest window, a quiet one, a gap, the floor
    np.testing.assert_array_equal(audible(gaps), [True, True, False, False])
    np.testing.assert_array_equal(audible(gaps - 40.0), [True, True, False, False])  # the same take, 40 dB down
    assert aggregate(scores, "topk", audible(levels))[0] == pytest.approx(0.9)
    assert aggregate(scores, "mean", audible(levels))[0] == pytest.approx(0.85)
    assert aggregate(scores, "top3")[0] == pytest.approx((0.9 + 0.8 + 0.0) / 3)
    np.testing.assert_allclose(window_dbfs(np.full((1, 100), 0.1)), [-20.0])


def test_a_file_with_known_on_and_off_times_gets_those_activity_ranges(tiny_bundle, tmp_path):
    predictor = Predictor.from_bundle(tiny_bundle)  # 1-s windows, hop 1 s
    record = predictor.predict_file(_parts(tmp_path / "parts.wav"), threshold=0.0, segments=True)
    assert record["duration_s"] == 10.0
    expected = [[0.0, 3.0], [8.0, 10.0]]  # the silent windows 3-8 s are never active
    assert record["activity"] == {code: expected for code in LABELS}
    assert [s["present"] for s in record["segments"][3:8]] == [[]] * 5
    starts, scores = predictor.window_scores(tmp_path / "parts.wav")
    keep = np.r_[np.ones(3, bool), np.zeros(5, bool), np.ones(2, bool)]
    np.testing.assert_allclose(
        list(record["scores"].values()), aggregate(scores, predictor.aggregation, keep), atol=1e-4
    )


def test_quiet_is_not_silent_with_a_levelling_front_end(tmp_path):
    bundle = tiny_bundle_dict(
        features=feature_config("yamnet", level_dbfs=-20.0), normalization={"mean": 0.0, "std": 1.0}
    )
    predictor = Predictor.from_bundle(save_bundle(bundle, tmp_path / "level.iid"))
    rng = np.random.default_rng(0)
    take = tone(440, 3.0) + 0.05 * rng.standard_normal(48_000).astype(np.float32)
    take = take / np.abs(take).max()
    loud = predictor.predict_waveform(take * 10 ** (-1 / 20), 16_000)
    quiet = predictor.predict_waveform(take * 10 ** (-50 / 20), 16_000)
    assert "warnings" not in quiet
    np.testing.assert_allclose(list(quiet["scores"].values()), list(loud["scores"].values()), atol=1e-3)
    assert quiet["present"] == loud["present"]


def test_labels_restrict_scores_present_activity_and_columns(tiny_bundle, tmp_path):
    predictor = Predictor.from_bundle(tiny_bundle)
    path = _parts(tmp_path / "parts.wav")
    whole = predictor.predict_file(path, threshold=0.0)
    subset = predictor.predict_file(path, threshold=0.0, labels=("pia", "sax"))
    assert list(subset["scores"]) == ["pia", "sax"]  # the model's order
    assert subset["scores"] == {c: whole["scores"][c] for c in ("pia", "sax")}
    assert subset["present"] == ["pia", "sax"] and set(subset["activity"]) == {"pia", "sax"}
    assert predictor.predict_file(path, labels=LABELS) == predictor.predict_file(path)
    with pytest.raises(Exception, match="dru are not in this model's vocabulary"):
        predictor.predict_file(path, labels=("dru",))


def _cli(*args):
    return run_cli("predict", *args)


def test_cli_labels_flag_and_its_errors(tiny_bundle, tmp_path):
    path = str(_parts(tmp_path / "parts.wav"))
    done = _cli(path, "--model", str(tiny_bundle), "-f", "csv", "--labels", "vio,cel")
    assert done.returncode == 0, done.stderr
    assert next(csv.reader(io.StringIO(done.stdout)))[:3] == ["file", "cel", "vio"]
    irmas = _cli(path, "--model", str(tiny_bundle), "-f", "json", "--labels", "irmas")
    assert json.loads(irmas.stdout) == json.loads(_cli(path, "--model", str(tiny_bundle), "-f", "json").stdout)
    unknown = _cli(path, "--model", str(tiny_bundle), "--labels", "sax,kazoo")
    assert unknown.returncode == 2 and "kazoo" in unknown.stderr
    outside = _cli(path, "--model", str(tiny_bundle), "--labels", "dru")
    assert outside.returncode == 2 and "dru are not in this model's vocabulary" in outside.stderr
    assert len(outside.stderr.strip().splitlines()) == 1


def test_audacity_label_track_parses_as_tab_separated_start_end_label(tiny_bundle, tmp_path):
    path = str(_parts(tmp_path / "parts.wav"))
    done = _cli(
        path, "--model", str(tiny_bundle), "-f", "audacity", "--threshold", "0", "-o", str(tmp_path / "parts.txt")
    )
    assert done.returncode == 0, done.stderr
    rows = [line.split("\t") for line in (tmp_path / "parts.txt").read_text().splitlines()]
    assert len(rows) == 2 * len(LABELS) and all(len(row) == 3 for row in rows)
    spans = sorted({(float(start), float(end)) for start, end, _ in rows})
    assert spans == [(0.0, 3.0), (8.0, 10.0)]
    assert {code for _, _, code in rows} == set(LABELS)
    (tmp_path / "b").mkdir()
    other = str(_parts(tmp_path / "b" / "parts.wav"))
    several = _cli(path, other, "--model", str(tiny_bundle), "-f", "audacity")
    assert several.returncode == 2 and "-o DIR" in several.stderr
    out = tmp_path / "tracks"
    out.mkdir()
    done = _cli(path, other, "--model", str(tiny_bundle), "-f", "audacity", "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in out.iterdir()) == ["parts-2.txt", "parts.txt"]


def test_vocabulary_round_trip_labels_bundle_record_csv(tmp_path):
    """A 33-label bundle keeps its labels through save/load, records and CSV columns; --labels irmas
    gives exactly the 11-label schema."""
    from instrumentid.inference.bundle import load_bundle
    from instrumentid.inference.schema import csv_header
    from instrumentid.labels import VOCABULARY
    from instrumentid.models import build

    params = {"n_labels": len(VOCABULARY), "widths": [4, 8, 8, 8], "dropout": 0.0}
    bundle = tiny_bundle_dict(model_params=params, state_dict=build("cnn", **params).state_dict(), labels=VOCABULARY)
    path = save_bundle(bundle, tmp_path / "vocabulary.iid")
    assert load_bundle(path)["labels"] == list(VOCABULARY)
    audio = str(_parts(tmp_path / "parts.wav"))
    record = Predictor.from_bundle(path).predict_file(audio)
    assert list(record["scores"]) == list(VOCABULARY)
    whole = _cli(audio, "--model", str(path), "-f", "csv")
    assert whole.stdout.splitlines()[0].split(",") == csv_header(VOCABULARY)
    irmas = _cli(audio, "--model", str(path), "-f", "csv", "--labels", "irmas")
    assert irmas.stdout.splitlines()[0].split(",") == csv_header(LABELS)


def test_table_segment_rows_keep_the_score_column_past_ten_seconds():
    """A window's time span sits across the name and duration columns, so the scores of
    ``9.6-10.6 s`` up to ``9999.0-10000.0 s`` (2.8 hours) start where the file's own scores do."""
    from instrumentid.inference import schema

    labels = ("gac", "voi")
    scores = {"gac": 0.6, "voi": 0.2}
    starts = (0.0, 9.6, 100.0, 1000.0, 9999.0)
    segments = [{"start_s": s, "end_s": s + 1.0, "scores": scores, "present": ["gac"]} for s in starts]
    record = {"file": "a.wav", "duration_s": 10000.0, "scores": scores, "present": ["gac"], "segments": segments}
    table = schema.Table(["a.wav"], labels, [0.5, 0.5], "the model's")
    lines = table.row(record).splitlines()
    assert len(lines) == 6 and len({line.index("gac  60") for line in lines}) == 1
