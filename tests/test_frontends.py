"""The MFCC, wavelet (constant-Q) and multi-channel front-ends: librosa parity, shapes, errors."""

import numpy as np
import pytest
import torch

from instrumentid.errors import ConfigError
from instrumentid.frontends.core import (
    FEATURES,
    LogMel,
    build_frontend,
    compute_normalization,
    feature_config,
    feature_shape,
)
from instrumentid.frontends.mfcc import Mfcc, MfccConfig
from instrumentid.frontends.multi import MultiChannel, MultiConfig
from instrumentid.frontends.wavelet import Wavelet, WaveletConfig

librosa = pytest.importorskip("librosa", reason="librosa is a dev dependency used as the reference")


def _signal(rng, sample_rate, seconds=1.3):
    t = np.arange(int(sample_rate * seconds)) / sample_rate
    return (
        0.1 * rng.standard_normal(t.size) + 0.3 * np.sin(2 * np.pi * 440 * t) + 0.2 * np.sin(2 * np.pi * 97 * t)
    ).astype(np.float32)


@pytest.mark.parametrize(
    "config",
    [
        MfccConfig(deltas=2),
        MfccConfig(sample_rate=22_050, n_fft=2048, hop_length=512, n_mels=128, fmax=11_025.0, n_mfcc=13, deltas=1),
    ],
    ids=["default", "22k-13"],
)
def test_mfcc_and_deltas_match_librosa(rng, config):
    y = _signal(rng, config.sample_rate)
    ours = Mfcc(config)(torch.from_numpy(y))[0].numpy()
    reference = librosa.feature.mfcc(
        y=y,
        sr=config.sample_rate,
        n_mfcc=config.n_mfcc,
        n_fft=config.n_fft,
        hop_length=config.hop_length,
        n_mels=config.n_mels,
        fmin=config.fmin,
        fmax=config.fmax,
    )
    assert ours.shape == (1 + config.deltas, *reference.shape)
    np.testing.assert_allclose(ours[0], reference, atol=1e-3)
    for order in range(1, config.deltas + 1):
        np.testing.assert_allclose(ours[order], librosa.feature.delta(reference, order=order), atol=1e-4)


@pytest.mark.parametrize(
    "config",
    [
        WaveletConfig(),
        WaveletConfig(sample_rate=22_050, hop_length=512, fmin=32.70, n_bins=72, bins_per_octave=12, filter_scale=2.0),
    ],
    ids=["default", "22k-C1-scale2"],
)
def test_wavelet_matches_librosa_pseudo_cqt(rng, config):
    y = _signal(rng, config.sample_rate)
    ours = Wavelet(config)(torch.from_numpy(y))[0, 0].numpy()
    cqt = librosa.pseudo_cqt(
        y,
        sr=config.sample_rate,
        hop_length=config.hop_length,
        fmin=config.fmin,
        n_bins=config.n_bins,
        bins_per_octave=config.bins_per_octave,
        filter_scale=config.filter_scale,
        tuning=0.0,
        sparsity=0.0,
    )
    reference = librosa.amplitude_to_db(cqt, ref=1.0, amin=1e-5, top_db=config.top_db)
    assert ours.shape == reference.shape
    np.testing.assert_allclose(ours, reference, atol=1e-2)  # dB; float32 sums over 4097 STFT bins
    log = Wavelet(WaveletConfig(scale="log"))(torch.from_numpy(y))[0, 0].numpy() if config == WaveletConfig() else None
    if log is not None:
        np.testing.assert_allclose(log, np.log(cqt + 1e-3), atol=1e-4)


def test_wavelet_resolves_a_tone_at_its_bin(rng):
    """A 220 Hz tone peaks in the bin centred on 220 Hz (A3 is 2 octaves = 24 bins above A1 = 55 Hz)."""
    sample_rate = 16_000
    t = np.arange(sample_rate) / sample_rate
    y = torch.from_numpy((0.5 * np.sin(2 * np.pi * 220.0 * t)).astype(np.float32))
    spectrum = Wavelet()(y)[0, 0].mean(dim=-1)
    assert int(spectrum.argmax()) == 24


def test_multi_channels_match_their_definitions(rng):
    config = MultiConfig()
    y = _signal(rng, config.sample_rate)
    ours = MultiChannel(config)(torch.from_numpy(y))[0].numpy()
    assert ours.shape[0] == 4
    mel_db = LogMel(n_fft=config.n_fft, hop_length=config.hop_length, n_mels=config.n_mels)(torch.from_numpy(y))[0, 0]
    np.testing.assert_allclose(ours[0], mel_db.numpy(), atol=1e-5)
    mfcc = librosa.feature.mfcc(S=mel_db.numpy(), n_mfcc=config.n_mfcc)
    positions = np.linspace(0, config.n_mfcc - 1, config.n_mels)
    upsampled = np.stack([np.interp(positions, np.arange(config.n_mfcc), column) for column in mfcc.T], axis=1)
    np.testing.assert_allclose(ours[1], upsampled, atol=1e-3)
    mel = librosa.feature.melspectrogram(
        y=y,
        sr=config.sample_rate,
        n_fft=config.n_fft,
        hop_length=config.hop_length,
        n_mels=config.n_mels,
        fmin=config.fmin,
        fmax=config.fmax,
    )
    harmonic, percussive = librosa.decompose.hpss(
        np.sqrt(mel), kernel_size=(config.harmonic_kernel, config.percussive_kernel)
    )
    np.testing.assert_allclose(ours[2], librosa.power_to_db(harmonic**2), atol=1e-2)
    np.testing.assert_allclose(ours[3], librosa.power_to_db(percussive**2), atol=1e-2)


def test_hpss_separates_a_tone_from_clicks():
    """A steady tone lands in the harmonic channel, a click train in the percussive one."""
    sample_rate = 16_000
    t = np.arange(2 * sample_rate) / sample_rate
    tone = 0.3 * np.sin(2 * np.pi * 440 * t)
    clicks = np.zeros_like(t)
    clicks[:: sample_rate // 4] = 1.0
    front = MultiChannel(channels=["harmonic", "percussive"])
    tone_h, tone_p = front(torch.from_numpy(tone.astype(np.float32)))[0].mean(dim=(1, 2))
    click_h, click_p = front(torch.from_numpy(clicks.astype(np.float32)))[0].mean(dim=(1, 2))
    assert tone_h > tone_p + 10 and click_p > click_h + 3


@pytest.mark.parametrize("name", list(FEATURES))  # every front-end: one waveform is a batch of one (the base class)
def test_batch_equals_per_example_and_shape_is_declared(rng, name):
    features = feature_config(name)
    front = build_frontend(features).features
    x = torch.from_numpy(rng.standard_normal((3, 16_000)).astype(np.float32))
    batch = front(x)
    assert batch.shape[1:] == feature_shape(features, 16_000) and torch.isfinite(batch).all()
    for i in range(3):
        torch.testing.assert_close(batch[i], front(x[i])[0], atol=1e-3, rtol=1e-4)


def test_every_front_end_is_registered_and_rebuilds_from_its_dict():
    for name in ("logmel", "yamnet", "waveform", "mfcc", "wavelet", "multi"):
        assert name in FEATURES
        assert build_frontend(feature_config(name)).features.config.to_dict() == feature_config(name)
    assert feature_config("mel") == feature_config("logmel")


def test_multi_channel_normalisation_is_per_channel(rng):
    features = feature_config("multi")
    batches = [torch.from_numpy(rng.standard_normal((2, 16_000)).astype(np.float32)) for _ in range(2)]
    stats = compute_normalization(build_frontend(features).features, batches)
    assert len(stats["mean"]) == len(stats["std"]) == 4
    normalised = build_frontend(features, stats)(torch.cat(batches))
    torch.testing.assert_close(normalised.mean(dim=(0, 2, 3)), torch.zeros(4), atol=1e-3, rtol=0)
    torch.testing.assert_close(normalised.std(dim=(0, 2, 3)), torch.ones(4), atol=1e-3, rtol=0)


def test_front_end_config_errors():
    with pytest.raises(ConfigError, match="deltas must be 0, 1 or 2"):
        feature_config("mfcc", deltas=3)
    with pytest.raises(ConfigError, match="n_mfcc must be between 1 and n_mels=64"):
        feature_config("mfcc", n_mfcc=80)
    with pytest.raises(ConfigError, match="Nyquist"):
        feature_config("wavelet", fmin=110.0, n_bins=96)
    with pytest.raises(ConfigError, match="scale must be one of db, log"):
        feature_config("wavelet", scale="linear")
    with pytest.raises(ConfigError, match=r"the lowest wavelet would span 277,305,445 samples \(at most 262,144\)"):
        feature_config("wavelet", fmin=0.001)  # a crafted bundle's: gigabytes of filterbank
    with pytest.raises(ConfigError, match="multi channels must be distinct names"):
        feature_config("multi", channels=["mel", "chroma"])
    with pytest.raises(ConfigError, match="deltas need at least delta_width=9 frames"):
        Mfcc(deltas=1)(torch.zeros(1, 1000))


@pytest.mark.parametrize(
    "name,params,channels",
    [("mfcc", {"n_mfcc": 13, "deltas": 2}, 3), ("wavelet", {"fmin": 110.0, "n_bins": 48}, 1), ("multi", {}, 4)],
)
def test_front_end_exports_to_onnx_with_its_model(name, params, channels, tmp_path):
    """The front-end runs inside the exported graph (ONNX STFT; the medians sort), like the log-mel."""
    pytest.importorskip("onnxruntime", reason="onnxruntime is not installed")
    from helpers import tiny_bundle_dict
    from instrumentid.inference import export
    from instrumentid.inference.bundle import save_bundle
    from instrumentid.models import build

    torch.manual_seed(0)
    model_params = {"n_labels": 11, "widths": [4, 8, 8, 8], "dropout": 0.0, "in_channels": channels}
    features = feature_config(name, **params)
    bundle = tiny_bundle_dict(
        model_params=model_params,
        state_dict=build("cnn", **model_params).state_dict(),
        features=features,
        normalization={"mean": [0.0] * channels, "std": [10.0] * channels},
    )
    report = export.export_onnx(save_bundle(bundle, tmp_path / "m.iid"), tmp_path / "m.onnx")
    assert report["max_abs_diff"] < 1e-4
