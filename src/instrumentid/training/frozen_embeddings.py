"""Heads on a frozen backbone: embed every window once, cache, then train heads in seconds.

With ``fine_tune_blocks=0`` the backbone's output for a window never changes, so running it
once per window and training only the head on the cached patch embeddings gives the same
result as end-to-end training without waveform augmentation, hundreds of times faster —
which is what makes comparing heads, data mixes, aggregations and thresholds by grouped
cross-validation affordable on a CPU. (Fine-tuning keeps the full Lightning path with its
augmentations: ``instrumentid train --model yamnet --model-params '{fine_tune_blocks: 2}'``.)

>>> cache = EmbeddingCache(model, feature_config("yamnet"), window_s=0.975, hop_s=0.48, folder="runs/cache")
>>> # windows exactly as the predictor cuts them: the same Framing (tiling unless the model takes any length)
>>> table = cache.embed(examples)              # one entry per file: (windows, time steps, 1024) feature maps
>>> fit_head(model, table, epochs=20)          # trains the head in place; the backbone is untouched
>>> scores = file_scores(model, table, "max")  # (files, labels), as the predictor aggregates
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from instrumentid import audio
from instrumentid.data.datasets import Example
from instrumentid.errors import InstrumentIdError
from instrumentid.fileio import atomic_path, progress_bar
from instrumentid.frontends.core import build_frontend
from instrumentid.inference.contract import Framing, score_batches, takes_any_length
from instrumentid.inference.windows import aggregate, audible
from instrumentid.labels import LABELS, encode


@dataclass
class FileEmbeddings:
    """The cached feature maps of one file: ``fmaps`` is ``(windows, time steps, dim)`` float16;
    ``levels`` the RMS of each window in dBFS (silent windows are left out, as the predictor does)."""

    example: Example
    fmaps: np.ndarray
    levels: np.ndarray

    def target(self, labels: Sequence[str] = LABELS) -> np.ndarray:
        return encode(self.example.labels, labels)

    @property
    def keep(self) -> np.ndarray:
        """Windows above the noise floor (:func:`instrumentid.inference.windows.audible`)."""
        return audible(self.levels)


class EmbeddingCache:
    """Backbone feature maps of every analysis window of a file, computed once and kept on disk.

    ``model`` is a :class:`~instrumentid.models.yamnet.YamnetClassifier` (anything with
    ``feature_map``, ``pool`` and ``head_logits``); ``features`` its front-end config.
    Files are keyed by path, size, modification time, the window geometry and the backbone's weights.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        features: dict,
        *,
        window_s: float,
        hop_s: float,
        folder: str | os.PathLike,
        batch_size: int = 32,
    ) -> None:
        self.model = model.eval()
        self.frontend = build_frontend(features).eval()
        #: the windows the predictor scores for a bundle of this model
        self.framing = Framing(
            int(features["sample_rate"]), float(window_s), float(hop_s), variable_length=takes_any_length(model)
        )
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.batch_size = batch_size
        from instrumentid.inference.bundle import state_checksum

        weights = state_checksum(model.backbone.state_dict())[:16]  # a re-imported or rounded backbone re-embeds
        front = hashlib.sha1(repr(sorted(features.items())).encode()).hexdigest()[:8]
        self.tag = f"{window_s}-{hop_s}-{weights}-{front}-{'tile' if self.framing.tile_short else 'own-length'}"

    def _key(self, path: Path) -> Path:
        stat = path.stat()
        digest = hashlib.sha1(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{self.tag}".encode()).hexdigest()
        return self.folder / f"{digest[:20]}.npz"

    @torch.inference_mode()
    def _compute(self, path: Path) -> tuple[np.ndarray, np.ndarray]:
        blocks = audio.stream(path, sample_rate=self.framing.sample_rate)

        def feature_maps(batch: np.ndarray) -> np.ndarray:
            return self.model.feature_map(self.frontend(torch.from_numpy(batch))).numpy()

        _, fmaps, levels = score_batches(feature_maps, self.framing.windows(blocks), self.batch_size)
        return fmaps.astype(np.float16), levels.astype(np.float32)

    def get(self, path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
        """``(feature maps, window levels in dBFS)`` of a file, from the cache or computed once."""
        path = Path(path)
        key = self._key(path)
        if key.is_file():
            with np.load(key) as stored:
                return stored["fmaps"], stored["levels"]
        fmaps, levels = self._compute(path)
        with atomic_path(key, suffix=".npz") as tmp:  # np.savez would add ".npz" to any other suffix
            np.savez(tmp, fmaps=fmaps, levels=levels)
        return fmaps, levels

    def embed(self, examples: Sequence[Example], *, desc: str = "embedding") -> list[FileEmbeddings]:
        """Embeddings of every example (files that fail to decode are reported and skipped)."""
        table = []
        for example in progress_bar(examples, desc=desc, unit="file", mininterval=5):
            try:
                table.append(FileEmbeddings(example, *self.get(example.path)))
            except InstrumentIdError as exc:
                print(f"skipped: {exc}")
        return table


def _window_arrays(table: Sequence[FileEmbeddings], labels: Sequence[str]):
    """Per-window tensors of the audible windows: feature maps ``(n, steps, dim)``, targets
    ``(n, labels)``, weights, file index (a note's silent tail is not an example of its instrument)."""
    patches, targets, weights, files = [], [], [], []
    for index, item in enumerate(table):
        keep = item.keep if item.keep.any() else np.ones(len(item.levels), dtype=bool)
        n = int(keep.sum())
        patches.append(item.fmaps[keep])
        targets.append(np.repeat(item.target(labels)[None], n, axis=0))
        weights.append(np.full(n, item.example.weight / n, dtype=np.float32))  # every file weighs its weight
        files.append(np.full(n, index))
    width = max(p.shape[1] for p in patches)
    padded = [np.pad(p, ((0, 0), (0, width - p.shape[1]), (0, 0)), mode="edge") for p in patches]
    return (
        torch.from_numpy(np.concatenate(padded).astype(np.float32)),
        torch.from_numpy(np.concatenate(targets)),
        torch.from_numpy(np.concatenate(weights)),
        np.concatenate(files),
    )


def window_logits(model: torch.nn.Module, fmaps: torch.Tensor) -> torch.Tensor:
    """Label logits of windows from their cached feature maps (the model's own pooling)."""
    return model.head_logits(model.pool(fmaps)).amax(dim=1)


@torch.no_grad()
def _head_inputs(model: torch.nn.Module, fmaps: torch.Tensor, batch_size: int = 1024):
    """Pooled embeddings and zero-shot logits of every window: both are fixed while the head trains."""
    pooled, zeroshot = [], []
    for start in range(0, len(fmaps), batch_size):
        emb = model.pool(fmaps[start : start + batch_size])
        pooled.append(emb)
        zeroshot.append(model.zeroshot(emb))
    return torch.cat(pooled), (torch.cat(zeroshot) if zeroshot[0] is not None else None)


def fit_head(
    model: torch.nn.Module,
    table: Sequence[FileEmbeddings],
    *,
    epochs: int = 40,
    lr: float = 1e-3,
    weight_decay: float = 1e-3,
    batch_size: int = 256,
    balanced: bool = True,
    seed: int = 0,
    label_smoothing: float = 0.0,
) -> torch.nn.Module:
    """Train the model's head (the backbone is untouched) on cached embeddings with weighted BCE.

    ``balanced`` reweights windows so that every label's positives and the all-negative
    windows carry equal total weight (scarce classes are not drowned by common ones).
    """
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    fmaps, targets, weights, _ = _window_arrays(table, model.labels)
    model.eval()
    embeddings, zeroshot = _head_inputs(model, fmaps)
    del fmaps
    if balanced:
        groups = torch.cat([targets, (targets.sum(1, keepdim=True) == 0).float()], dim=1)
        group_weight = (weights[:, None] * groups).sum(0)
        inverse = torch.where(group_weight > 0, 1.0 / group_weight.clamp_min(1e-12), torch.zeros_like(group_weight))
        weights = weights * (groups * inverse).sum(1) / groups.sum(1).clamp_min(1)
    weights = weights / weights.mean()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    steps = epochs * math.ceil(len(targets) / batch_size)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=max(1, steps), pct_start=0.1)
    soft = targets * (1 - label_smoothing) + 0.5 * label_smoothing
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(targets), generator=generator)
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            logits = model.head_logits(embeddings[idx], None if zeroshot is None else zeroshot[idx]).amax(dim=1)
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, soft[idx], reduction="none")
            loss = (loss.mean(1) * weights[idx]).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
    return model.eval()


@torch.inference_mode()
def file_scores(model: torch.nn.Module, table: Sequence[FileEmbeddings], aggregation: str = "mean") -> np.ndarray:
    """File scores ``(files, labels)``: window sigmoid scores aggregated as the predictor does."""
    model.eval()
    rows = []
    for item in table:
        window_scores = torch.sigmoid(window_logits(model, torch.from_numpy(item.fmaps.astype(np.float32))))
        rows.append(aggregate(window_scores.numpy(), aggregation, item.keep))
    return np.stack(rows) if rows else np.zeros((0, len(model.labels)), dtype=np.float32)


def targets_of(table: Sequence[FileEmbeddings], labels: Sequence[str] = LABELS) -> np.ndarray:
    """``(files, labels)`` multi-hot targets of a table."""
    return np.stack([item.target(labels) for item in table]) if table else np.zeros((0, len(labels)), np.float32)
