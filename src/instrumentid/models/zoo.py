"""Backbones users know: timm CNNs, AST and Wav2Vec2 (the ``zoo`` extra).

Nothing is downloaded: each builder starts from a random initialisation, or from
``pretrained=PATH`` — a local Hugging Face model folder (AST, Wav2Vec2) or a local timm
weights file. ``pretrained`` is a training-time parameter only: the bundle stores the trained
weights and rebuilds the architecture without it (AST and Wav2Vec2 built from a checkpoint
expose ``architecture = {"backbone_config": <its Hugging Face config>}``, which
:func:`~instrumentid.models.registry.stored_params` puts in the bundle's model parameters in
place of the path).

============  ==========  ================================================================
name          input       architecture
============  ==========  ================================================================
timm          log-mel     any ``timm.create_model`` CNN (``backbone=...``), 1 input channel
ast           log-mel     Audio Spectrogram Transformer (``transformers.ASTModel``)
wav2vec2      waveform    Wav2Vec2 (``transformers.Wav2Vec2Model``), or its conv feature
                          encoder only (``feature_extractor_only=True``, as the Lumen Data
                          Science 2023 2nd-place system tried)
============  ==========  ================================================================

``ast`` and ``wav2vec2`` take ``adapter="bottleneck"`` or ``"lora"`` (with ``adapter_size``,
``lora_rank``, ``lora_alpha``): the backbone is frozen and only the adapters and the head train
(:mod:`instrumentid.models.adapters`); ``train`` prints how many parameters that is.
"""

from __future__ import annotations

import torch
from torch import nn

from instrumentid.errors import ConfigError
from instrumentid.extras import need
from instrumentid.models.adapters import attach_adapters
from instrumentid.models.registry import register


class _Head(nn.Module):
    def __init__(self, dim: int, n_labels: int, dropout: float) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.LayerNorm(dim), nn.Dropout(dropout), nn.Linear(dim, n_labels))

    def forward(self, x):
        return self.body(x)


class TimmClassifier(nn.Module):
    """A timm CNN on log-mel ``(batch, 1, n_mels, frames)``."""

    def __init__(
        self, n_labels: int = 11, backbone: str = "efficientnet_b0", pretrained: str | None = None, dropout: float = 0.2
    ) -> None:
        super().__init__()
        timm = need("timm", "this model")
        kwargs = {"pretrained_cfg_overlay": {"file": pretrained}} if pretrained else {}
        self.backbone = timm.create_model(backbone, pretrained=bool(pretrained), in_chans=1, num_classes=0, **kwargs)
        self.embedding_dim = self.backbone.num_features
        self.head = _Head(self.embedding_dim, n_labels, dropout)

    @property
    def gradcam_layer(self) -> nn.Module:
        name = self.backbone.feature_info[-1]["module"]
        return self.backbone.get_submodule(name)

    def embed(self, x):
        return self.backbone(x)

    def forward(self, x):
        return self.head(self.embed(x))


class _TransformerClassifier(nn.Module):
    """What AST and Wav2Vec2 share: a Hugging Face backbone, optional adapters, and the
    architecture a bundle rebuilds them from."""

    gradcam_layer = None  # attention maps, not conv feature maps

    @staticmethod
    def _backbone(
        model_cls, config_cls, *, pretrained: str | None, backbone_config: dict | None, defaults: dict, **load
    ):
        """From a local checkpoint folder, from a stored config (a bundle's), or from ``defaults``."""
        if pretrained:
            return model_cls.from_pretrained(pretrained, local_files_only=True, **load)
        return model_cls(config_cls(**(backbone_config or defaults)))

    def _adapt(self, pretrained: str | None, adapter: str | None, **adapter_params) -> None:
        #: parameters that rebuild this network without the checkpoint (the bundle stores them)
        self.architecture = {"backbone_config": self.backbone.config.to_dict()} if pretrained else {}
        if adapter:
            self.adapters = attach_adapters(self.backbone, adapter, **adapter_params)


class ASTClassifier(_TransformerClassifier):
    """Audio Spectrogram Transformer on log-mel ``(batch, 1, n_mels, frames)``."""

    def __init__(
        self,
        n_labels: int = 11,
        n_mels: int = 64,
        n_frames: int = 151,
        hidden_size: int = 192,
        num_layers: int = 4,
        num_heads: int = 3,
        intermediate_size: int = 768,
        patch_stride: int = 10,
        pretrained: str | None = None,
        dropout: float = 0.1,
        backbone_config: dict | None = None,
        adapter: str | None = None,
        adapter_size: int = 64,
        lora_rank: int = 8,
        lora_alpha: float = 16.0,
    ) -> None:
        super().__init__()
        transformers = need("transformers", "this model")
        defaults = dict(
            hidden_size=hidden_size,
            num_hidden_layers=num_layers,
            num_attention_heads=num_heads,
            intermediate_size=intermediate_size,
            num_mel_bins=n_mels,
            max_length=n_frames,
            frequency_stride=patch_stride,
            time_stride=patch_stride,
        )
        self.backbone = self._backbone(
            transformers.ASTModel,
            transformers.ASTConfig,
            pretrained=pretrained,
            backbone_config=backbone_config,
            defaults=defaults,
            num_mel_bins=n_mels,
            max_length=n_frames,
            ignore_mismatched_sizes=True,
        )
        self._adapt(pretrained, adapter, adapter_size=adapter_size, lora_rank=lora_rank, lora_alpha=lora_alpha)
        self.embedding_dim = self.backbone.config.hidden_size
        self.head = _Head(self.embedding_dim, n_labels, dropout)

    def embed(self, x):
        return self.backbone(x.squeeze(1).transpose(1, 2)).pooler_output

    def forward(self, x):
        return self.head(self.embed(x))


class Wav2Vec2Classifier(_TransformerClassifier):
    """Wav2Vec2 on waveforms ``(batch, 1, samples)``: mean+max pooling of its frames."""

    def __init__(
        self,
        n_labels: int = 11,
        hidden_size: int = 256,
        num_layers: int = 4,
        num_heads: int = 4,
        intermediate_size: int = 1024,
        feature_extractor_only: bool = False,
        freeze_feature_encoder: bool = False,
        pretrained: str | None = None,
        dropout: float = 0.1,
        backbone_config: dict | None = None,
        adapter: str | None = None,
        adapter_size: int = 64,
        lora_rank: int = 8,
        lora_alpha: float = 16.0,
    ) -> None:
        super().__init__()
        transformers = need("transformers", "this model")
        if adapter and feature_extractor_only:
            raise ConfigError("wav2vec2: adapters live in the transformer layers, which feature_extractor_only skips")
        defaults = dict(
            hidden_size=hidden_size,
            num_hidden_layers=num_layers,
            num_attention_heads=num_heads,
            intermediate_size=intermediate_size,
        )
        self.backbone = self._backbone(
            transformers.Wav2Vec2Model,
            transformers.Wav2Vec2Config,
            pretrained=pretrained,
            backbone_config=backbone_config,
            defaults=defaults,
        )
        if freeze_feature_encoder:
            self.backbone.freeze_feature_encoder()
        self._adapt(pretrained, adapter, adapter_size=adapter_size, lora_rank=lora_rank, lora_alpha=lora_alpha)
        self.feature_extractor_only = feature_extractor_only
        dim = self.backbone.config.conv_dim[-1] if feature_extractor_only else self.backbone.config.hidden_size
        self.embedding_dim = 2 * dim
        self.head = _Head(self.embedding_dim, n_labels, dropout)

    def embed(self, x):
        waveform = x.reshape(x.shape[0], -1)
        if self.feature_extractor_only:
            frames = self.backbone.feature_extractor(waveform).transpose(1, 2)  # (batch, frames, conv_dim)
        else:
            frames = self.backbone(waveform).last_hidden_state
        return torch.cat([frames.mean(dim=1), frames.amax(dim=1)], dim=1)

    def forward(self, x):
        return self.head(self.embed(x))


@register("timm", "any timm CNN on log-mel, e.g. --model-params '{backbone: resnet18}'", requires="timm:zoo")
def build_timm(
    n_labels: int = 11, backbone: str = "efficientnet_b0", pretrained: str | None = None, dropout: float = 0.2
) -> TimmClassifier:
    return TimmClassifier(n_labels, backbone, pretrained, dropout)


@register(
    "ast",
    "Audio Spectrogram Transformer on log-mel (transformers; pretrained from a local folder)",
    requires="transformers:zoo",
    geometry=("n_mels", "n_frames"),
)
def build_ast(n_labels: int = 11, n_mels: int = 64, n_frames: int = 151, **params) -> ASTClassifier:
    return ASTClassifier(n_labels, n_mels, n_frames, **params)


@register(
    "wav2vec2",
    "Wav2Vec2 on raw waveforms (transformers); feature_extractor_only=true: the conv feature encoder only",
    requires="transformers:zoo",
    frontend="waveform",
)
def build_wav2vec2(n_labels: int = 11, **params) -> Wav2Vec2Classifier:
    return Wav2Vec2Classifier(n_labels, **params)
