"""Classical features + SVM baseline on generated tones and noise."""

import json
from pathlib import Path

import numpy as np
import pytest

from helpers import run_cli
from instrumentid import audio
from instrumentid.analysis.classical_features import extract_features, feature_names, feature_variance, spectral_entropy

SR = 22_050


def _signal(kind, rng, seconds=1.0):
    t = np.arange(int(seconds * SR)) / SR
    if kind == "cel":
        f = rng.uniform(90, 130)
        return 0.3 * sum(np.sin(2 * np.pi * f * k * t) / k for k in range(1, 5))
    if kind == "flu":
        return 0.3 * np.sin(2 * np.pi * rng.uniform(1500, 2000) * t)
    return 0.2 * rng.standard_normal(t.size)  # "voi": noise


def _irmas_train(root: Path, per_class: int, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    for code in ("cel", "flu", "voi"):
        for i in range(per_class):
            audio.write(root / code / f"[{code}][cla]{i:04d}__1.wav", _signal(code, rng).astype(np.float32), SR)
    return root


def test_features_are_finite_and_named():
    rng = np.random.default_rng(0)
    vector = extract_features(_signal("cel", rng), SR)
    assert vector.shape == (len(feature_names()),) and np.isfinite(vector).all()
    # a pure tone has low spectral entropy, white noise high
    import librosa

    tone = np.abs(librosa.stft(_signal("flu", rng).astype(np.float32))) ** 2
    noise = np.abs(librosa.stft(_signal("voi", rng).astype(np.float32))) ** 2
    assert spectral_entropy(tone).mean() < 0.5 < spectral_entropy(noise).mean()


def test_feature_variance_ranking():
    X = np.array([[0.0, 1.0, 5.0], [1.0, 1.0, 5.0], [0.5, 1.0, 6.0]])
    ranking = feature_variance(X, ["a", "b", "c"])
    assert [r["feature"] for r in ranking][-1] == "b" and ranking[-1]["scaled_variance"] == 0


def test_classical_train_and_evaluate_commands(tmp_path):
    train = _irmas_train(tmp_path / "train", per_class=8, seed=0)
    test = _irmas_train(tmp_path / "test", per_class=3, seed=1)
    model = tmp_path / "svm.npz"
    proc = run_cli("classical", "train", train, "--out", model, installed=True)
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "report"
    proc = run_cli("classical", "evaluate", test, "--model", model, "--out", out, installed=True)
    assert proc.returncode == 0, proc.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n_files"] == 9
    assert metrics["file"]["f1_micro"] > 0.8
    assert (out / "feature_variance.csv").read_text().startswith("feature,variance,scaled_variance")
    for name in (
        "feature_variance.png",
        "features_pca.png",
        "features_pca_variance.png",
        "features_tsne.png",
        "roc_curves.png",
    ):
        assert (out / "plots" / name).stat().st_size > 1000
    assert "data:image/png;base64," in (out / "report.html").read_text()


def test_load_rejects_other_files(tmp_path):
    from instrumentid.analysis.classical import load_classical
    from instrumentid.errors import DataError

    bogus = tmp_path / "x.npz"
    bogus.write_text("not a model")
    with pytest.raises(DataError, match="x.npz: not an instrumentid classical model"):
        load_classical(bogus)
    np.savez(
        bogus.open("wb"),
        header=np.frombuffer(
            b'{"format": "instrumentid-classical", "format_version": 2, "labels": ["cel"], "heads": []}', dtype=np.uint8
        ),
    )
    with pytest.raises(DataError, match="x.npz: damaged classical model"):
        load_classical(bogus)


@pytest.mark.parametrize(
    ("head", "kernel"), [("svm", "rbf"), ("svm", "linear"), ("svm", "poly"), ("svm", "sigmoid"), ("logistic", "rbf")]
)
def test_a_saved_model_predicts_what_scikit_learn_fitted(tmp_path, head, kernel):
    """Arrays + JSON hold every kind of head (calibrated SVM, plain SVM with few positives, constant,
    logistic): the loaded model's probabilities are scikit-learn's."""
    from instrumentid.analysis import classical_file
    from instrumentid.analysis.classical import fit_svms, load_classical, predict_proba

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 5)) * [1, 10, 0.1, 3, 1] + [0, 5, 0, 0, 100]
    rows = np.arange(60)
    Y = np.stack([X[:, 0] > 0, X[:, 1] > 5, rows < 0, (rows == 3) | (rows == 7), rows == 5], axis=1).astype(int)
    fitted = fit_svms(X, Y, kernel=kernel, head=head)
    model = {
        "format": classical_file.FORMAT,
        "format_version": classical_file.FORMAT_VERSION,
        "labels": list("abcde"),
        "models": [classical_file.head_of(m) for m in fitted],
    }
    classical_file.save(model, tmp_path / "m.npz")
    X_test = rng.normal(size=(20, 5)) * [1, 10, 0.1, 3, 1] + [0, 5, 0, 0, 100]
    expected = np.stack([m.predict_proba(X_test)[:, 1] for m in fitted], axis=1)
    np.testing.assert_allclose(
        predict_proba(load_classical(tmp_path / "m.npz")["models"], X_test), expected, rtol=0, atol=1e-12
    )


def test_stacking_appends_a_bundles_embedding_and_checks_it(tmp_path):
    """A backbone's embedding + the hand-made features feed one logistic head per label."""
    from helpers import tiny_bundle_dict
    from instrumentid.analysis.classical import evaluate_classical, train_classical
    from instrumentid.errors import DataError
    from instrumentid.inference.bundle import save_bundle

    bundle = save_bundle(tiny_bundle_dict(), tmp_path / "backbone.iid")
    train = _irmas_train(tmp_path / "train", per_class=6, seed=0)
    test = _irmas_train(tmp_path / "test", per_class=3, seed=1)
    model = train_classical(train, tmp_path / "stack.npz", embedding_model=bundle, head="logistic")
    assert len(model["feature_names"]) == len(feature_names()) + 2 * 8  # the tiny CNN embeds into 16 numbers
    assert model["feature_names"][-1] == "embedding15" and model["embedding_checksum"]
    metrics = evaluate_classical(test, tmp_path / "stack.npz", tmp_path / "report", plots=False)
    assert metrics["model_name"] == "classical-logistic-stacked" and metrics["file"]["f1_micro"] > 0.8
    changed = tiny_bundle_dict(seed=5)
    changed["state_dict"] = {k: v + 0.1 if v.is_floating_point() else v for k, v in changed["state_dict"].items()}
    save_bundle(changed, bundle)
    with pytest.raises(DataError, match="changed since the stacked model was trained"):
        evaluate_classical(test, tmp_path / "stack.npz", tmp_path / "report2", plots=False)
