"""Resumable training: checkpoints next to the bundle, atomic saves, reproducible random draws.

A run that writes ``model.iid`` keeps its Lightning checkpoints in ``model.iid.ckpt/``:
``last.ckpt`` (saved after every validation), ``best-epoch=N.ckpt`` (the best validation
macro-F1) and ``config.yaml`` (the run's config). ``instrumentid train ... --resume`` continues
from ``last.ckpt``; with the same seed the result equals an uninterrupted run's, because

* checkpoints are written to a temporary file and renamed (a ``kill -9`` mid-save leaves the
  previous one whole),
* which clips an epoch draws and where they are cropped depend on ``(seed, epoch)`` alone
  (:class:`~instrumentid.training.datamodule.CropSampler`), and
* torch, numpy and ``random`` are seeded before every training batch from ``(seed, epoch,
  batch, rank)`` (:class:`ReseedEachBatch`), so augmentation and dropout draw the same values
  (Lightning's checkpoints carry no random-generator states).
"""

from __future__ import annotations

import random
import shutil
import sys
from pathlib import Path

import numpy as np
import torch
import yaml
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.plugins.io import TorchCheckpointIO

from instrumentid.errors import ConfigError
from instrumentid.fileio import atomic_path
from instrumentid.training.config import TrainConfig

#: Config fields that may differ between a run and its resumption (they change no result).
RESUMABLE_CHANGES = frozenset({"resume", "progress", "num_workers", "max_minutes", "run_dir"})


def checkpoint_dir(out: str | Path) -> Path:
    """Where a run writing the bundle ``out`` keeps its checkpoints: ``<out>.ckpt/``."""
    out = Path(out)
    return out.with_name(out.name + ".ckpt")


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint writer, saving to a temporary file renamed into place."""

    def save_checkpoint(self, checkpoint, path, storage_options=None) -> None:
        with atomic_path(path, suffix=".ckpt") as tmp:
            super().save_checkpoint(checkpoint, tmp, storage_options)


class ReseedEachBatch(Callback):
    """Seed torch, numpy and ``random`` before every training batch from its position in the run."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
        sequence = np.random.SeedSequence([self.seed, trainer.current_epoch, batch_idx, trainer.global_rank])
        seed = int(sequence.generate_state(1, dtype=np.uint32)[0])
        torch.manual_seed(seed)
        np.random.seed(seed)
        random.seed(seed)


def _differences(saved: dict, config: TrainConfig) -> list[str]:
    current = yaml.safe_load(yaml.safe_dump(config.to_dict()))  # the same YAML round trip as the saved copy
    keys = (set(saved) | set(current)) - RESUMABLE_CHANGES
    return sorted(key for key in keys if saved.get(key) != current.get(key))


def prepare_checkpoints(config: TrainConfig) -> Path | None:
    """Set up ``<out>.ckpt/`` for a run; returns the checkpoint to resume from, or None.

    A fresh run (or ``--resume`` with no ``last.ckpt`` yet) removes the folder's earlier
    checkpoints and saves the config; a resumed run must have the saved config, apart from
    :data:`RESUMABLE_CHANGES`, else :class:`ConfigError` names the fields that differ.
    """
    folder = checkpoint_dir(config.out)
    last = folder / "last.ckpt"
    saved_config = folder / "config.yaml"
    if config.resume and config.fast_dev_run:
        raise ConfigError(
            "resuming and a fast dev run cannot be combined (a fast dev run keeps no checkpoints)", option="resume"
        )
    if config.resume and last.is_file():
        saved = yaml.safe_load(saved_config.read_text()) if saved_config.is_file() else {}
        changed = _differences(saved, config)
        if changed:
            raise ConfigError(
                f"{last}: cannot resume with a different config ({', '.join(changed)} differ from "
                f"{saved_config}); start over instead of resuming",
                option="resume",
            )
        return last
    if config.resume:
        print(f"note: no checkpoint at {last} to resume from; starting from scratch", file=sys.stderr)
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.ckpt"):  # also temporary files of a save that was killed
        stale.unlink()
    with atomic_path(saved_config) as tmp:
        tmp.write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))
    return None


def discard_if_empty(config: TrainConfig) -> None:
    """Remove ``<out>.ckpt/`` when it holds no checkpoint (a run that stopped before its first save,
    or a fast dev run): there is nothing to resume from, so nothing is left behind."""
    folder = checkpoint_dir(config.out)
    if folder.is_dir() and not any(folder.glob("*.ckpt")):
        shutil.rmtree(folder, ignore_errors=True)
