"""Every front-end and every architecture trains one fast-dev-run step through ``train`` and
predicts through the bundle it writes (the bundle rebuilds the front-end and the model)."""

import pytest

from helpers import write_tone
from instrumentid.errors import ConfigError
from instrumentid.inference.bundle import load_bundle
from instrumentid.inference.predictor import Predictor
from instrumentid.training import TrainConfig
from instrumentid.training.run import train


def _train(irmas_train_dir, tmp_path, **fields) -> dict:
    config = TrainConfig(
        data=[str(irmas_train_dir)],
        window_s=1.0,
        hop_s=1.0,
        n_mels=32,
        epochs=1,
        batch_size=4,
        progress=False,
        fast_dev_run=True,
        tune_thresholds=False,
        out=str(tmp_path / "m.iid"),
        run_dir=str(tmp_path / "run"),
        val_fraction=0.34,
        **fields,
    )
    return load_bundle(train(config))


def _predicts(bundle, tmp_path) -> dict:
    record = Predictor(bundle).predict_file(write_tone(tmp_path / "probe.wav", 300, 2.5, 22_050))
    assert len(record["scores"]) == 11 and all(0 <= s <= 1 for s in record["scores"].values())
    return record


@pytest.mark.parametrize(
    "features,params,channels",
    [
        ("mel", {}, 1),
        ("mfcc", {"n_mfcc": 13, "deltas": 2}, 3),
        ("wavelet", {"fmin": 110.0, "n_bins": 48, "scale": "log"}, 1),
        ("multi", {"channels": ["mel", "mfcc", "harmonic", "percussive"]}, 4),
    ],
)
def test_front_end_trains_and_round_trips(features, params, channels, irmas_train_dir, tmp_path):
    bundle = _train(
        irmas_train_dir, tmp_path, features=features, feature_params=params, model_params={"widths": [4, 8, 8, 8]}
    )
    assert bundle["features"]["name"] == ("logmel" if features == "mel" else features)
    assert {k: bundle["features"][k] for k in params} == params
    assert bundle["model"]["params"].get("in_channels", 1) == channels
    mean = bundle["normalization"]["mean"]
    assert (len(mean) if isinstance(mean, list) else 1) == channels  # one mean/std per channel
    _predicts(bundle, tmp_path)


def test_feature_flags_that_do_not_apply_are_refused(irmas_train_dir, tmp_path):
    with pytest.raises(ConfigError, match="reads its own waveform input"):
        TrainConfig(model="wav2vec2", features="mfcc").feature_config()
    with pytest.raises(ConfigError, match="unknown feature front-end 'cqt'"):
        TrainConfig(features="cqt").feature_config()
    assert TrainConfig(features="wavelet", hop_length=160).feature_config()["hop_length"] == 160
    from_yaml = TrainConfig.from_dict({"features": "mfcc", "feature_params": {"n_mfcc": 13, "deltas": 1}})
    assert from_yaml.feature_config()["n_mfcc"] == 13 and from_yaml.feature_config()["name"] == "mfcc"
    assert TrainConfig(features="mfcc", n_mels=40, feature_params={"n_mels": 48}).feature_config()["n_mels"] == 48


@pytest.mark.parametrize(
    "model,params,features",
    [
        ("lstm", {"hidden_size": 16, "num_layers": 1}, "mel"),
        ("lstm", {"hidden_size": 16, "attention": True, "attention_dim": 8}, "mfcc"),
        (
            "parallel-mobilenet",
            {
                "widths": [4, 8, 8],
                "groups": [["cel", "vio", "tru", "org"], ["cla", "flu", "sax"], ["gac", "gel", "pia", "voi"]],
            },
            "multi",
        ),
    ],
)
def test_architecture_trains_and_round_trips(model, params, features, irmas_train_dir, tmp_path):
    bundle = _train(irmas_train_dir, tmp_path, model=model, model_params=params, features=features)
    assert bundle["model"]["name"] == model and bundle["features"]["name"] == features.replace("mel", "logmel")
    first = _predicts(bundle, tmp_path)
    assert _predicts(load_bundle(tmp_path / "m.iid"), tmp_path)["scores"] == first["scores"]  # deterministic rebuild
