"""Parallel MobileNets: k small depthwise-separable CNNs, each responsible for its own labels.

The Lumen Data Science 2023 2nd-place system tried four parallel MobileNets, each answering
for three instruments, so that a branch can specialise on the distinctions inside its group
(cello vs violin, clarinet vs flute vs saxophone) without competing for capacity with the
others. Every branch reads the
whole spectrogram and ends in a head over its labels; the branch outputs are put back in
label order into one ``(batch, n_labels)`` vector. The groups are a model parameter
(``--model-params '{groups: [[cel, vio], [cla, flu, sax], ...]}'``); each label belongs to
exactly one group.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

import torch
from torch import nn

from instrumentid.errors import ConfigError
from instrumentid.labels import LABELS
from instrumentid.models.registry import register

#: Default groups: bowed strings + trumpet (sustained orchestral), woodwinds, plucked and
#: struck strings, organ + voice (sustained, formant-rich).
DEFAULT_GROUPS: tuple[tuple[str, ...], ...] = (
    ("cel", "vio", "tru"),
    ("cla", "flu", "sax"),
    ("gac", "gel", "pia"),
    ("org", "voi"),
)


def _conv_bn(in_channels: int, out_channels: int, kernel: int, stride: int, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel, stride=stride, padding=kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class MobileNetBranch(nn.Module):
    """A 3×3 stem, then depthwise 3×3 + pointwise 1×1 blocks of stride 2; mean over frequency,
    max+mean over time; a linear head over ``n_outputs`` labels."""

    def __init__(self, in_channels: int, n_outputs: int, widths: Sequence[int], dropout: float) -> None:
        super().__init__()
        layers = [_conv_bn(in_channels, widths[0], 3, 2)]
        for previous, width in pairwise(widths):
            layers += [_conv_bn(previous, previous, 3, 2, groups=previous), _conv_bn(previous, width, 1, 1)]
        self.features = nn.Sequential(*layers)
        self.embedding_dim = 2 * widths[-1]
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(self.embedding_dim, n_outputs))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        h = self.features(x).mean(dim=2)
        return torch.cat([h.amax(dim=-1), h.mean(dim=-1)], dim=1)


class ParallelMobileNet(nn.Module):
    """Spectrogram ``(batch, in_channels, bins, frames)`` → logits ``(batch, n_labels)`` from one branch per group."""

    gradcam_layer = None  # one map per branch: no single layer explains every label

    def __init__(
        self,
        n_labels: int = 11,
        in_channels: int = 1,
        groups: Sequence[Sequence[str]] = DEFAULT_GROUPS,
        widths: Sequence[int] = (16, 32, 64, 128),
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        labels = LABELS[:n_labels]
        members = [code for group in groups for code in group]
        if sorted(members) != sorted(labels) or any(not group for group in groups):
            raise ConfigError(
                f"parallel-mobilenet groups must hold every label exactly once ({' '.join(labels)}), "
                f"got {[list(g) for g in groups]}"
            )
        self.groups = [list(group) for group in groups]
        self.branches = nn.ModuleList(
            MobileNetBranch(in_channels, len(group), list(widths), dropout) for group in self.groups
        )
        order = torch.tensor([labels.index(code) for code in members])
        self.register_buffer("label_order", torch.argsort(order), persistent=False)  # group order → label order
        self.embedding_dim = sum(branch.embedding_dim for branch in self.branches)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The branches' embeddings side by side ``(batch, embedding_dim)``."""
        return torch.cat([branch.embed(x) for branch in self.branches], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = torch.cat([branch.head(branch.embed(x)) for branch in self.branches], dim=1)
        return logits[:, self.label_order]


@register(
    "parallel-mobilenet",
    "k small MobileNets, each scoring its own group of labels ('{groups: [[cel, vio], ...]}')",
    geometry=("in_channels",),
)
def build_parallel_mobilenet(
    n_labels: int = 11, in_channels: int = 1, groups=DEFAULT_GROUPS, widths=(16, 32, 64, 128), dropout: float = 0.2
) -> ParallelMobileNet:
    return ParallelMobileNet(n_labels, in_channels, groups, widths, dropout)
