"""The default model: a small VGG-style CNN on log-mel spectrograms, in plain torch.

Four conv blocks (conv3x3-BN-ReLU ×2, 2×2 average pooling), then frequency-mean and
time max+mean pooling (as in PANNs' CNN6/10), dropout and a linear head. About 0.3 M
parameters at the default widths: small enough to ship in the package and to run far faster
than real time on two CPU cores, wide enough to separate timbres.
"""

from __future__ import annotations

import torch
from torch import nn

from instrumentid.models.registry import register


class ConvBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, pool: tuple[int, int] = (2, 2)) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )
        self.pool = nn.AvgPool2d(pool) if pool != (1, 1) else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.body(x))


class SmallCNN(nn.Module):
    """Spectrogram ``(batch, in_channels, bins, frames)`` → logits ``(batch, n_labels)``.

    Parameters
    ----------
    n_labels : number of outputs.
    widths : channels of the four conv blocks.
    dropout : dropout before the head.
    in_channels : input channels (1 for log-mel; more for MFCC deltas or ``multi`` features).
    """

    def __init__(
        self,
        n_labels: int = 11,
        widths: tuple[int, ...] | list[int] = (16, 32, 64, 128),
        dropout: float = 0.3,
        in_channels: int = 1,
    ) -> None:
        super().__init__()
        widths = list(widths)
        blocks, in_ch = [], in_channels
        for i, width in enumerate(widths):
            blocks.append(ConvBlock(in_ch, width, pool=(2, 2) if i < len(widths) - 1 else (1, 1)))
            in_ch = width
        self.input_bn = nn.BatchNorm2d(in_channels)
        self.blocks = nn.Sequential(*blocks)
        self.embedding_dim = 2 * in_ch
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(self.embedding_dim, n_labels)

    @property
    def gradcam_layer(self) -> nn.Module:
        """The last conv block: Grad-CAM hooks its output."""
        return self.blocks[-1]

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Embedding before the head ``(batch, embedding_dim)``."""
        h = self.blocks(self.input_bn(x)).mean(dim=2)  # average over frequency
        return torch.cat([h.amax(dim=-1), h.mean(dim=-1)], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.embed(x)))


@register("cnn", "small VGG-style CNN on log-mel (default; ~0.3 M parameters, fast on CPU)", geometry=("in_channels",))
def build_cnn(n_labels: int = 11, widths=(16, 32, 64, 128), dropout: float = 0.3, in_channels: int = 1) -> SmallCNN:
    return SmallCNN(n_labels=n_labels, widths=widths, dropout=dropout, in_channels=in_channels)


@register(
    "cnn-wide", "wider VGG-style CNN on log-mel (~1.2 M parameters; better, ~3x slower)", geometry=("in_channels",)
)
def build_cnn_wide(
    n_labels: int = 11, widths=(32, 64, 128, 256), dropout: float = 0.3, in_channels: int = 1
) -> SmallCNN:
    return SmallCNN(n_labels=n_labels, widths=widths, dropout=dropout, in_channels=in_channels)
