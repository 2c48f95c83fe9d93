"""Adapters on the transformer backbones: the backbone is frozen, only adapters and head train."""

import pytest
import torch

from helpers import write_tone
from instrumentid.errors import ConfigError
from instrumentid.inference.bundle import load_bundle
from instrumentid.inference.predictor import Predictor
from instrumentid.models import build
from instrumentid.training import TrainConfig
from instrumentid.training.run import train

transformers = pytest.importorskip("transformers", reason="the zoo extra (transformers) is not installed")

TINY = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64}


def _pretrained(name, folder):
    """A tiny 'pretrained' backbone saved as a local Hugging Face folder (n_mels 32, 1-s windows)."""
    torch.manual_seed(0)
    if name == "ast":
        model = transformers.ASTModel(transformers.ASTConfig(**TINY, num_mel_bins=32, max_length=51))
    else:
        model = transformers.Wav2Vec2Model(transformers.Wav2Vec2Config(**TINY))
    model.save_pretrained(folder)
    return model.state_dict()


@pytest.mark.parametrize("name", ["ast", "wav2vec2"])
@pytest.mark.parametrize("adapter", ["bottleneck", "lora"])
def test_training_step_changes_adapters_and_never_the_backbone(name, adapter, irmas_train_dir, tmp_path, capsys):
    original = _pretrained(name, tmp_path / "backbone")
    config = TrainConfig(
        data=[str(irmas_train_dir)],
        model=name,
        window_s=1.0,
        hop_s=1.0,
        n_mels=32,
        batch_size=4,
        model_params={"pretrained": str(tmp_path / "backbone"), "adapter": adapter, "adapter_size": 8, "lora_rank": 4},
        lr=0.05,
        fast_dev_run=True,
        tune_thresholds=False,
        progress=False,
        out=str(tmp_path / "m.iid"),
        run_dir=str(tmp_path / "run"),
        val_fraction=0.34,
    )
    bundle = load_bundle(train(config))
    state = bundle["state_dict"]
    for key, value in original.items():  # every backbone weight, exactly as in the checkpoint
        torch.testing.assert_close(state[f"backbone.{key}"], value, rtol=0, atol=0)
    ups = [k for k in state if k.startswith("adapters.") and ".up." in k and k.endswith("weight")]
    assert ups and all(state[k].abs().sum() > 0 for k in ups)  # zero-initialised, moved by the step
    model = build(name, **bundle["model"]["params"])
    adapted = sum(p.numel() for n, p in model.named_parameters() if n.startswith(("adapters.", "head.")))
    total = sum(p.numel() for p in model.parameters())
    assert f"parameters: {adapted:,} trainable of {total:,}" in capsys.readouterr().err
    record = Predictor(bundle).predict_file(write_tone(tmp_path / "probe.wav", 300, 2.0, 16_000))
    assert len(record["scores"]) == 11


@pytest.mark.parametrize("adapter", ["bottleneck", "lora"])
def test_adapters_start_as_the_identity(adapter):
    torch.manual_seed(0)
    plain = build("ast", n_mels=32, n_frames=51, hidden_size=32, num_layers=2, num_heads=2, intermediate_size=64)
    torch.manual_seed(0)
    adapted = build(
        "ast", n_mels=32, n_frames=51, hidden_size=32, num_layers=2, num_heads=2, intermediate_size=64, adapter=adapter
    )
    adapted.load_state_dict({**adapted.state_dict(), **plain.state_dict()})
    x = torch.randn(2, 1, 32, 51)
    torch.testing.assert_close(adapted.eval().embed(x), plain.eval().embed(x))
    assert all(not p.requires_grad for p in adapted.backbone.parameters())


def test_adapter_errors():
    with pytest.raises(ConfigError, match="unknown adapter 'prefix'"):
        build("ast", hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64, adapter="prefix")
    with pytest.raises(ConfigError, match="feature_extractor_only skips"):
        build(
            "wav2vec2",
            hidden_size=32,
            num_layers=1,
            num_heads=2,
            intermediate_size=64,
            feature_extractor_only=True,
            adapter="lora",
        )
