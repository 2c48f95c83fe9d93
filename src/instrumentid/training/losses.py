"""Multi-label losses: BCE (+pos_weight, label smoothing), focal, instrument-family auxiliary."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from instrumentid.errors import ConfigError
from instrumentid.labels import LABELS, family_matrix


def smooth(targets: torch.Tensor, label_smoothing: float) -> torch.Tensor:
    """Move 0/1 targets towards 0.5 by ``label_smoothing`` (0 = unchanged)."""
    return targets * (1 - label_smoothing) + 0.5 * label_smoothing


class BCELoss(nn.Module):
    def __init__(self, pos_weight: torch.Tensor | None = None, label_smoothing: float = 0.0) -> None:
        super().__init__()
        self.register_buffer("pos_weight", pos_weight if pos_weight is not None else None)
        self.label_smoothing = label_smoothing

    def forward(self, logits, targets):
        return F.binary_cross_entropy_with_logits(
            logits, smooth(targets, self.label_smoothing), pos_weight=self.pos_weight
        )


class FocalLoss(nn.Module):
    """Sigmoid focal loss (Lin et al. 2017): BCE down-weighted on easy examples by ``(1-p_t)^gamma``."""

    def __init__(self, gamma: float = 2.0, alpha: float = 0.25, label_smoothing: float = 0.0) -> None:
        super().__init__()
        self.gamma, self.alpha, self.label_smoothing = gamma, alpha, label_smoothing

    def forward(self, logits, targets):
        targets = smooth(targets, self.label_smoothing)
        prob = torch.sigmoid(logits)
        ce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
        p_t = prob * targets + (1 - prob) * (1 - targets)
        loss = ce * (1 - p_t) ** self.gamma
        if self.alpha >= 0:
            loss = (self.alpha * targets + (1 - self.alpha) * (1 - targets)) * loss
        return loss.mean()


class FamilyAuxLoss(nn.Module):
    """Base loss + ``weight`` × BCE on instrument families (family present = any member present).

    Family probability is the max over member probabilities, so the auxiliary term pushes
    confusions to stay within a family (cello ↔ violin is cheaper than cello ↔ trumpet).
    """

    def __init__(self, base: nn.Module, labels=LABELS, weight: float = 0.3) -> None:
        super().__init__()
        self.base, self.weight = base, weight
        self.register_buffer("families", torch.from_numpy(family_matrix(labels)).bool())

    def forward(self, logits, targets):
        prob = torch.sigmoid(logits)
        member = self.families[None, :, :]  # (1, F, L)
        fam_prob = torch.where(member, prob[:, None, :], torch.zeros_like(prob[:, None, :])).amax(-1)
        fam_target = torch.where(member, targets[:, None, :], torch.zeros_like(targets[:, None, :])).amax(-1)
        aux = F.binary_cross_entropy(fam_prob.clamp(1e-6, 1 - 1e-6), fam_target)
        return self.base(logits, targets) + self.weight * aux


LOSSES = ("bce", "focal", "bce+family", "focal+family")


def build_loss(
    name: str = "bce", *, pos_weight: torch.Tensor | None = None, label_smoothing: float = 0.0, labels=LABELS
) -> nn.Module:
    base_name, _, family = name.partition("+")
    if base_name == "bce":
        base = BCELoss(pos_weight, label_smoothing)
    elif base_name == "focal":
        base = FocalLoss(label_smoothing=label_smoothing)
    else:
        raise ConfigError(f"unknown loss {name!r}; choose one of {', '.join(LOSSES)}")
    if family and family != "family":
        raise ConfigError(f"unknown loss {name!r}; choose one of {', '.join(LOSSES)}")
    return FamilyAuxLoss(base, labels) if family else base
