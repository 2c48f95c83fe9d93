import numpy as np
import pytest
import torch

from instrumentid.errors import ConfigError
from instrumentid.frontends.core import LogMel, LogMelConfig, build_frontend, compute_normalization, feature_config

librosa = pytest.importorskip("librosa", reason="librosa is a dev dependency used as the reference")


@pytest.mark.parametrize(
    "config",
    [
        LogMelConfig(),
        LogMelConfig(sample_rate=22_050, n_fft=2048, hop_length=512, n_mels=128, fmin=0.0, fmax=11_025.0, top_db=None),
        LogMelConfig(sample_rate=16_000, n_fft=512, hop_length=160, n_mels=40, fmin=50.0, fmax=7_000.0, top_db=60.0),
    ],
    ids=["default", "librosa-defaults-22k", "small"],
)
def test_logmel_matches_librosa(rng, config):
    """Stated tolerance: 1e-3 dB on float32 noise+tones."""
    n = int(config.sample_rate * 1.3)
    t = np.arange(n) / config.sample_rate
    y = (0.1 * rng.standard_normal(n) + 0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    ours = LogMel(config)(torch.from_numpy(y))[0, 0].numpy()
    mel = librosa.feature.melspectrogram(
        y=y,
        sr=config.sample_rate,
        n_fft=config.n_fft,
        hop_length=config.hop_length,
        n_mels=config.n_mels,
        fmin=config.fmin,
        fmax=config.fmax,
    )
    reference = librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=config.top_db)
    assert ours.shape == reference.shape == (config.n_mels, config.frames(n))
    np.testing.assert_allclose(ours, reference, atol=1e-3)


def test_batch_equals_per_example(rng):
    x = torch.from_numpy(rng.standard_normal((3, 16_000)).astype(np.float32))
    front = LogMel()
    batch = front(x)
    for i in range(3):
        torch.testing.assert_close(batch[i], front(x[i])[0])


def test_normalization_statistics_standardise(rng):
    front = LogMel()
    batches = [torch.from_numpy(rng.standard_normal((4, 16_000)).astype(np.float32)) for _ in range(3)]
    stats = compute_normalization(front, batches)
    normalised = build_frontend(feature_config(), stats)(torch.cat(batches))
    assert abs(float(normalised.mean())) < 1e-3 and abs(float(normalised.std()) - 1) < 1e-3


def test_config_errors():
    with pytest.raises(ConfigError, match="unknown logmel parameter"):
        feature_config("logmel", n_mel=3)
    with pytest.raises(ConfigError, match="unknown feature front-end"):
        feature_config("cqt")
    with pytest.raises(ConfigError, match="Nyquist"):
        LogMel(LogMelConfig(sample_rate=8_000, fmax=8_000))
    with pytest.raises(ConfigError, match="std must be positive"):
        build_frontend(feature_config(), {"mean": 0.0, "std": 0.0})
