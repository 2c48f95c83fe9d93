"""The real ``instrumentid evaluate`` / ``tune-thresholds`` commands on a generated IRMAS test folder."""

import csv
import json

import numpy as np

from helpers import SONGS, make_irmas_test, run_cli
from instrumentid.evaluation.evaluate import evaluate
from instrumentid.inference.predictor import Predictor
from instrumentid.labels import LABELS


def test_evaluate_command_writes_outputs(tiny_bundle, irmas_test_dir, tmp_path):
    out = tmp_path / "report"
    proc = run_cli("evaluate", irmas_test_dir, "--model", tiny_bundle, "--out", out, installed=True)
    assert proc.returncode == 0, proc.stderr
    assert "f1_micro" in proc.stdout and "hamming_score" in proc.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n_files"] == 10 and metrics["n_errors"] == 0
    assert metrics["window"]["n_samples"] == metrics["n_windows"] >= 10
    assert set(metrics["file"]["per_label"]) == set(LABELS)
    assert metrics["file"]["per_label"]["tru"]["average_precision"] is None  # no trumpet in the set
    # macro averages skip the instruments the set lacks, and the output says which
    assert metrics["file"]["absent_labels"] == ["cla", "flu", "tru"]
    assert "macro over 8 of 11 labels present; absent: cla, flu, tru" in proc.stdout
    rows = list(csv.DictReader((out / "predictions.csv").open()))
    assert len(rows) == 10 and list(rows[0])[:2] == ["file", "true"] and list(rows[0])[-1] == "predicted"
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 8 and "<img" in html and 'src="plots/' not in html
    assert "macro over 8 of 11 labels present" in html
    for png in (out / "plots").glob("*.png"):
        assert png.stat().st_size > 1000


def test_evaluate_matches_predict(tiny_bundle, irmas_test_dir):
    predictor = Predictor.from_bundle(tiny_bundle)
    metrics = evaluate(irmas_test_dir, predictor=predictor, out=None)
    records = {r["file"]: r for r in predictor.predict_files(sorted(irmas_test_dir.glob("*.wav")))}
    # recompute file scores the way evaluate does and compare with predict's records
    from instrumentid.evaluation.evaluate import collect_scores

    collected = collect_scores(predictor, irmas_test_dir, windows=False)
    for name, scores in zip(collected["files"], collected["y_score"], strict=True):
        record = records[name]
        np.testing.assert_allclose(scores, [record["scores"][c] for c in LABELS], atol=1e-4)
        present = [c for c, s, t in zip(LABELS, scores, predictor.thresholds, strict=True) if s >= t]
        assert present == record["present"]
    assert metrics["threshold_source"] == "bundle"


def test_tune_thresholds_command(tiny_bundle, irmas_test_dir, tmp_path):
    out = tmp_path / "tuned.iid"
    proc = run_cli("tune-thresholds", irmas_test_dir, "--model", tiny_bundle, "--out", out, installed=True)
    assert proc.returncode == 0, proc.stderr
    from instrumentid.inference.bundle import load_bundle

    bundle = load_bundle(out)
    tuning = bundle["metadata"]["threshold_tuning"]
    assert tuning["n_files"] == 10 and tuning["grid"] == "coarse-to-fine"
    assert tuning["f1_macro"] >= tuning["f1_macro_before"]
    assert all(0 < t < 1 for t in bundle["thresholds"])


def test_tune_thresholds_command_applies_the_named_rule(tiny_bundle, tmp_path):
    """``--rule one-for-all-above-non-music`` on a set with two unlabelled (non-music) files: one
    threshold for all, the one the library rule gives on the bundle's own scores, recorded."""
    from instrumentid.evaluation.evaluate import collect_scores
    from instrumentid.evaluation.thresholds import thresholds_by_rule
    from instrumentid.inference.bundle import load_bundle

    data = make_irmas_test(tmp_path / "val", {**SONGS, "noise": [(), ()]})
    out = tmp_path / "tuned.iid"
    proc = run_cli(
        "tune-thresholds", data, "--model", tiny_bundle, "--out", out, "--rule", "one-for-all-above-non-music"
    )
    assert proc.returncode == 0, proc.stderr
    assert "rule one-for-all-above-non-music" in proc.stdout
    bundle = load_bundle(out)
    assert bundle["metadata"]["threshold_tuning"]["rule"] == "one-for-all-above-non-music"
    scored = collect_scores(Predictor.from_bundle(tiny_bundle), data, windows=False)
    expected = thresholds_by_rule("one-for-all-above-non-music", scored["y_true"], scored["y_score"])
    np.testing.assert_allclose(bundle["thresholds"], expected, atol=1e-6)
    assert len(set(bundle["thresholds"])) == 1
    assert min(bundle["thresholds"]) > scored["y_score"][scored["y_true"].sum(1) == 0].max()
    assert bundle["metadata"]["threshold_tuning"]["non_music_files"] == 2 and "note:" not in proc.stderr


def test_tune_thresholds_says_when_a_non_music_rule_has_no_non_music(tiny_bundle, irmas_test_dir, tmp_path):
    out = tmp_path / "tuned.iid"
    proc = run_cli(
        "tune-thresholds", irmas_test_dir, "--model", tiny_bundle, "--out", out, "--rule", "per-label-above-non-music"
    )
    assert proc.returncode == 0, proc.stderr
    assert "per-label-above-non-music had no non-music to keep above" in proc.stderr and out.is_file()


def test_tune_thresholds_help_teaches_every_rule():
    from instrumentid.evaluation.thresholds import RULES

    proc = run_cli("tune-thresholds", "--help")
    assert proc.returncode == 0, proc.stderr
    text = " ".join(proc.stdout.split())
    for name, rule in RULES.items():
        assert f"{name}" in text and " ".join(rule.summary.split()) in text, name


def test_evaluate_bad_dataset_is_a_clear_error(tiny_bundle, tmp_path):
    proc = run_cli("evaluate", tmp_path / "missing", "--model", tiny_bundle, "--out", tmp_path / "o", installed=True)
    assert proc.returncode == 2 and "missing" in proc.stderr and "Traceback" not in proc.stderr
