"""Ensemble bundles: one bundle that predicts the (weighted) mean of its members."""

import json

import numpy as np
import pytest
import torch

from helpers import run_cli, tiny_bundle_dict, write_chord
from instrumentid.errors import ConfigError
from instrumentid.frontends.core import feature_config
from instrumentid.inference.bundle import load_bundle, save_bundle
from instrumentid.inference.predictor import Predictor, aggregate
from instrumentid.labels import LABELS
from instrumentid.models import build
from instrumentid.models.ensemble import SincResample
from instrumentid.training import TrainConfig
from instrumentid.training.ensembling import assemble, fit_weights, make_ensemble


def _mfcc_bundle(seed=2, sample_rate=16_000):
    """A member with another front-end (MFCC + deltas, 3 channels) and, optionally, another rate."""
    torch.manual_seed(seed)
    params = {"n_labels": len(LABELS), "widths": [4, 8, 8, 8], "dropout": 0.0, "in_channels": 3}
    features = feature_config(
        "mfcc", sample_rate=sample_rate, n_fft=512, hop_length=256, n_mels=32, n_mfcc=13, deltas=2
    )
    return tiny_bundle_dict(
        seed,
        model_name="cnn",
        model_params=params,
        state_dict=build("cnn", **params).state_dict(),
        features=features,
        sample_rate=sample_rate,
        normalization={"mean": [0.0, 0.0, 0.0], "std": [50.0, 2.0, 1.0]},
    )


@pytest.fixture(scope="module")
def song(tmp_path_factory):
    return write_chord(
        tmp_path_factory.mktemp("ens") / "song.wav", [220.0, 330.0, 660.0], seconds=4.5, sample_rate=22_050
    )


def _scores(bundle, path):
    """Unrounded file scores (the window scores, aggregated as the predictor does) and the record."""
    predictor = Predictor(bundle)
    window_scores = predictor.window_scores(path)[1]
    return aggregate(window_scores, bundle["aggregation"]), predictor.predict_file(path, segments=True)


def test_ensemble_bundle_predicts_the_mean_of_its_members(song, tmp_path):
    members = [tiny_bundle_dict(0), tiny_bundle_dict(1), _mfcc_bundle()]
    path = save_bundle(make_ensemble(members), tmp_path / "e.iid")
    ensemble = load_bundle(path)  # a plain bundle file: weights_only, checksummed
    assert ensemble["model"]["name"] == "ensemble" and ensemble["features"]["name"] == "waveform"
    scores, record = _scores(ensemble, song)
    member_scores = [_scores(m, song)[0] for m in members]
    np.testing.assert_allclose(scores, np.mean(member_scores, axis=0), atol=1e-6)
    assert len(record["segments"]) == 5 and set(record["scores"]) == set(LABELS)  # one record, like any bundle
    np.testing.assert_allclose([record["scores"][c] for c in LABELS], scores, atol=1e-4)  # records round to 4 places
    np.testing.assert_allclose(ensemble["thresholds"], np.mean([m["thresholds"] for m in members], axis=0))


def test_ensemble_thresholds_keep_to_the_tuned_range():
    """Given or averaged, an ensemble's thresholds are clipped as train clips its own (clip_tuned)."""
    from instrumentid.inference.decision import TUNED_RANGE

    members = [tiny_bundle_dict(0), tiny_bundle_dict(1)]
    given = np.linspace(0.001, 0.999, len(LABELS))
    thresholds = np.asarray(make_ensemble(members, thresholds=given)["thresholds"])
    assert thresholds.min() == TUNED_RANGE[0] and thresholds.max() == TUNED_RANGE[1]


def test_weights_give_a_weighted_mean(song):
    members = [tiny_bundle_dict(0), tiny_bundle_dict(1)]
    scores, _ = _scores(make_ensemble(members, weights=[3.0, 1.0]), song)
    a, b = (_scores(m, song)[0] for m in members)
    np.testing.assert_allclose(scores, 0.75 * a + 0.25 * b, atol=1e-6)


def test_members_at_another_sample_rate_are_resampled_inside(song):
    """A 22.05-kHz member raises the ensemble's rate; the 16-kHz members hear a torch-resampled window."""
    members = [tiny_bundle_dict(0), _mfcc_bundle(sample_rate=22_050)]
    ensemble = make_ensemble(members)
    assert ensemble["sample_rate"] == 22_050
    scores, _ = _scores(ensemble, song)
    expected = np.mean([_scores(m, song)[0] for m in members], axis=0)
    np.testing.assert_allclose(scores, expected, atol=2e-3)  # soxr vs sinc resampling of the 16-kHz member


def test_sinc_resampling_matches_an_exact_tone():
    rate, new = 22_050, 16_000
    t = np.arange(rate) / rate
    y = torch.from_numpy((0.5 * np.sin(2 * np.pi * 1000 * t) + 0.3 * np.sin(2 * np.pi * 5000 * t)).astype(np.float32))
    out = SincResample(rate, new)(y[None])[0].numpy()
    tt = np.arange(new) / new
    assert out.shape == (new,)
    np.testing.assert_allclose(
        out[200:-200], (0.5 * np.sin(2 * np.pi * 1000 * tt) + 0.3 * np.sin(2 * np.pi * 5000 * tt))[200:-200], atol=3e-3
    )


def test_fit_weights_prefers_the_member_that_knows(rng):
    targets = (rng.random((200, 3)) < 0.4).astype(float)
    targets[:, 2] = 1.0  # one class only: nothing to learn
    knows = np.clip(targets * 0.8 + 0.1 + 0.05 * rng.standard_normal(targets.shape), 0, 1)
    guesses = rng.random(targets.shape)
    weights = fit_weights(np.stack([guesses, knows]), targets)
    assert weights[1, 0] > 0.9 and weights[1, 1] > 0.9
    np.testing.assert_allclose(weights[:, 2], [0.5, 0.5])
    np.testing.assert_allclose(weights.sum(axis=0), np.ones(3))


def test_assemble_with_a_validation_set_fits_weights_and_thresholds(irmas_test_dir, tmp_path):
    paths = [save_bundle(tiny_bundle_dict(s), tmp_path / f"m{s}.iid") for s in (0, 1)]
    bundle = assemble(paths, val_data=irmas_test_dir)
    weights = np.asarray(bundle["model"]["params"]["weights"])
    np.testing.assert_allclose(weights.sum(axis=0), np.ones(len(LABELS)))
    assert "fitted on" in bundle["metadata"]["weights"] and bundle["metadata"]["thresholds_tuned_on"]
    assert all(0 < t < 1 for t in bundle["thresholds"])


def test_cli_writes_one_bundle_that_predict_treats_like_any_other(song, tmp_path):
    paths = [save_bundle(b, tmp_path / f"m{i}.iid") for i, b in enumerate([tiny_bundle_dict(0), _mfcc_bundle()])]
    out = tmp_path / "e.iid"
    made = run_cli("ensemble", *paths, "--out", out)
    assert made.returncode == 0, made.stderr
    predicted = run_cli("predict", song, song, "--model", out, "--format", "json")
    records = json.loads(predicted.stdout)
    assert predicted.returncode == 0 and len(records) == 2 and set(records[0]["scores"]) == set(LABELS)
    bad = run_cli("ensemble", paths[0], "--out", out)
    assert bad.returncode == 2 and "at least two bundles" in bad.stderr


def test_members_must_share_labels_and_windows():
    with pytest.raises(ConfigError, match="share window_s and hop_s"):
        make_ensemble([tiny_bundle_dict(0), tiny_bundle_dict(1, window_s=2.0)])
    with pytest.raises(ConfigError, match="aggregate windows differently"):
        make_ensemble([tiny_bundle_dict(0), tiny_bundle_dict(1, aggregation="max")])
    assert make_ensemble([tiny_bundle_dict(0), tiny_bundle_dict(1, aggregation="max")], aggregation="max")
    with pytest.raises(ConfigError, match="3 non-negative weights"):
        make_ensemble([tiny_bundle_dict(0), tiny_bundle_dict(1), tiny_bundle_dict(2)], weights=[1.0, -1.0, 1.0])
    with pytest.raises(ConfigError, match="assembled from trained bundles"):
        TrainConfig(model="ensemble").feature_config()
    with pytest.raises(ConfigError, match="not trained: instrumentid ensemble"):
        build("ensemble")


def test_ensemble_exports_to_onnx(tmp_path):
    """Members, their front-ends and the in-model resampler all go into one graph."""
    pytest.importorskip("onnxruntime", reason="onnxruntime is not installed")
    from instrumentid.inference import export

    path = save_bundle(make_ensemble([tiny_bundle_dict(0), _mfcc_bundle(sample_rate=22_050)]), tmp_path / "e.iid")
    assert export.export_onnx(path, tmp_path / "e.onnx")["max_abs_diff"] < 1e-4
