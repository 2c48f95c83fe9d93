"""The LightningModule: wires front-end, augmentation, model and loss; nothing else.

Augmentation runs on the batch's device in ``training_step`` (waveform chain, then
SpecAugment on features), so CPU, one GPU and DDP share one code path. Validation scores
the predictor's windows, aggregates them per file with the bundle's aggregation, and logs
file-level ``val/f1_macro`` (at 0.5) and ``val/auroc_macro``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import lightning as L
import numpy as np
import torch
from torchmetrics.functional.classification import multilabel_auroc, multilabel_f1_score

from instrumentid.frontends.core import build_frontend
from instrumentid.training.augment import SpecAugment, build_waveform_augment
from instrumentid.training.config import AugmentConfig
from instrumentid.training.losses import build_loss


class InstrumentModule(L.LightningModule):
    def __init__(
        self,
        model: torch.nn.Module,
        *,
        features: dict,
        normalization: dict,
        labels: Sequence[str],
        lr: float = 2e-3,
        weight_decay: float = 1e-2,
        loss: str = "bce",
        pos_weight: torch.Tensor | None = None,
        label_smoothing: float = 0.0,
        augment: AugmentConfig | None = None,
        aggregation: str = "mean",
    ) -> None:
        super().__init__()
        self.model = model
        self.frontend = build_frontend(features, normalization)
        augment = AugmentConfig() if augment is None else augment
        self.augment = build_waveform_augment(
            mix_p=augment.mix_p,
            noise_p=augment.noise_p,
            eq_p=augment.eq_p,
            gain_p=augment.gain_p,
            lowpass_p=augment.lowpass_p,
            sample_rate=int(features["sample_rate"]),
        )
        self.spec_augment = SpecAugment() if augment.specaugment else torch.nn.Identity()
        self.criterion = build_loss(loss, pos_weight=pos_weight, label_smoothing=label_smoothing, labels=labels)
        self.n_labels, self.lr, self.weight_decay, self.aggregation = len(labels), lr, weight_decay, aggregation
        self._val: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        return self.model(self.frontend(waveform))

    def on_fit_start(self) -> None:
        """Report what trains: a frozen backbone with adapters shows a small trainable share."""
        total = sum(p.numel() for p in self.model.parameters())
        trainable = sum(p.numel() for p in self.model.parameters() if p.requires_grad)
        if self.trainer.is_global_zero:
            print(
                f"parameters: {trainable:,} trainable of {total:,} ({trainable / max(total, 1):.1%})",
                file=sys.stderr,
                flush=True,
            )
        for logger in self.loggers:
            logger.log_hyperparams({"parameters_total": total, "parameters_trainable": trainable})

    def training_step(self, batch, batch_idx):
        waveform, targets = batch
        waveform, targets = self.augment(waveform, targets)
        with torch.no_grad():
            features = self.frontend(waveform)
        logits = self.model(self.spec_augment(features))
        loss = self.criterion(logits, targets)
        self.log("train/loss", loss, prog_bar=True, on_step=True, on_epoch=True, batch_size=len(targets))
        return loss

    def validation_step(self, batch, batch_idx):
        waveform, targets, file_index = batch
        logits = self(waveform)
        self.log("val/loss", self.criterion(logits, targets), on_epoch=True, batch_size=len(targets), sync_dist=True)
        self._val.append((torch.sigmoid(logits).detach(), targets, file_index))

    def on_validation_epoch_end(self) -> None:
        if not self._val:
            return
        scores, targets, files = (torch.cat(parts) for parts in zip(*self._val, strict=True))
        self._val.clear()
        if self.trainer.world_size > 1:
            scores, targets, files = (self.all_gather(t).flatten(0, 1) for t in (scores, targets, files))
        file_scores, file_targets = aggregate_by_file(scores, targets, files, self.aggregation)
        y = file_targets.long()
        f1 = multilabel_f1_score(file_scores, y, num_labels=self.n_labels, average="macro", threshold=0.5)
        self.log("val/f1_macro", f1, prog_bar=True, sync_dist=False)
        present = (y.sum(0) > 0) & (y.sum(0) < len(y))
        if present.any():
            auroc = multilabel_auroc(
                file_scores[:, present], y[:, present], num_labels=int(present.sum()), average="macro"
            )
            self.log("val/auroc_macro", auroc, prog_bar=True, sync_dist=False)

    def configure_optimizers(self):
        trainable = [p for p in self.model.parameters() if p.requires_grad]  # frozen backbone blocks stay out
        optimizer = torch.optim.AdamW(trainable, lr=self.lr, weight_decay=self.weight_decay)
        total = max(1, int(self.trainer.estimated_stepping_batches))
        scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=self.lr, total_steps=total, pct_start=0.1)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


def aggregate_by_file(scores: torch.Tensor, targets: torch.Tensor, files: torch.Tensor, method: str):
    """Window scores → one row per file (the predictor's aggregation)."""
    from instrumentid.inference.windows import aggregate

    order = torch.unique(files)
    rows, labels = [], []
    for index in order:
        mask = files == index
        rows.append(torch.from_numpy(aggregate(scores[mask].float().cpu().numpy(), method)))
        labels.append(targets[mask][0].cpu())
    return torch.stack(rows), torch.stack(labels)


def pos_weight_from(targets: np.ndarray) -> torch.Tensor:
    """negative/positive ratio per label (1 for labels with no positives)."""
    positives = targets.sum(0)
    negatives = len(targets) - positives
    return torch.tensor(np.where(positives > 0, negatives / np.maximum(positives, 1), 1.0), dtype=torch.float32)
