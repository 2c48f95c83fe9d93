"""The zoo backbones (AST, Wav2Vec2, timm): build, train a step, bundle, predict, load local weights."""

import pytest
import torch

from helpers import write_tone
from instrumentid.inference.bundle import load_bundle
from instrumentid.inference.predictor import Predictor
from instrumentid.models import build
from instrumentid.training import TrainConfig
from instrumentid.training.run import train

transformers = pytest.importorskip("transformers", reason="the zoo extra (transformers) is not installed")

TINY_AST = {"hidden_size": 32, "num_layers": 1, "num_heads": 2, "intermediate_size": 64}
TINY_W2V = {"hidden_size": 32, "num_layers": 1, "num_heads": 2, "intermediate_size": 64}


@pytest.mark.parametrize(
    "name,params",
    [("ast", TINY_AST), ("wav2vec2", TINY_W2V), ("wav2vec2", {**TINY_W2V, "feature_extractor_only": True})],
    ids=["ast", "wav2vec2", "wav2vec2-feature-extractor"],
)
def test_train_bundle_predict(name, params, irmas_train_dir, tmp_path):
    config = TrainConfig(
        data=[str(irmas_train_dir)],
        model=name,
        model_params=params,
        window_s=1.0,
        hop_s=1.0,
        n_mels=32,
        epochs=1,
        epoch_size=8,
        batch_size=4,
        progress=False,
        out=str(tmp_path / "m.iid"),
        run_dir=str(tmp_path / "run"),
        val_fraction=0.34,
    )
    bundle = load_bundle(train(config))
    assert bundle["model"]["name"] == name and "pretrained" not in bundle["model"]["params"]
    expected_front = "waveform" if name == "wav2vec2" else "logmel"
    assert bundle["features"]["name"] == expected_front
    record = Predictor(bundle).predict_file(write_tone(tmp_path / "probe.wav", 300, 2.5, 22_050))
    assert len(record["scores"]) == 11 and all(0 <= s <= 1 for s in record["scores"].values())


def test_ast_starts_from_local_pretrained_weights(tmp_path):
    config = transformers.ASTConfig(
        hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64, num_mel_bins=32, max_length=51
    )
    reference = transformers.ASTModel(config)
    reference.save_pretrained(tmp_path / "ast-local")
    model = build("ast", n_mels=32, n_frames=51, pretrained=str(tmp_path / "ast-local"))
    loaded, original = model.backbone.state_dict(), reference.state_dict()
    shared = [k for k in original if "position" not in k]  # positions are resized to the window
    assert len(shared) > 10
    for key in shared:
        torch.testing.assert_close(loaded[key], original[key])


def test_wav2vec2_starts_from_local_pretrained_weights(tmp_path):
    config = transformers.Wav2Vec2Config(
        hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64
    )
    reference = transformers.Wav2Vec2Model(config)
    reference.save_pretrained(tmp_path / "w2v-local")
    model = build("wav2vec2", pretrained=str(tmp_path / "w2v-local"), freeze_feature_encoder=True)
    first_conv = model.backbone.feature_extractor.conv_layers[0].conv
    torch.testing.assert_close(first_conv.weight, reference.feature_extractor.conv_layers[0].conv.weight)
    assert not first_conv.weight.requires_grad


def test_timm_backbone():
    pytest.importorskip("timm", reason="timm needs torchvision (torch 2.14.1 + torchvision 0.29.1 here): make test-zoo")
    model = build("timm", backbone="resnet18").eval()
    x = torch.randn(2, 1, 64, 151)
    assert model(x).shape == (2, 11) and isinstance(model.gradcam_layer, torch.nn.Module)
