"""Torch datasets and the LightningDataModule used by ``instrumentid train``.

Audio is decoded once (mono, model sample rate) and kept in memory: a 3 s clip at 16 kHz is
192 kB, so the 6,705 IRMAS training clips take about 1.3 GB. Training draws a random
``window_s`` crop of each file (short files are tiled, like the predictor); which files an
epoch draws and where they are cropped depend on ``(seed, epoch)`` alone (:class:`CropSampler`),
so a resumed run sees the epochs an uninterrupted one sees. Validation uses the predictor's
own fixed windows (at most ``max_val_windows`` per file): the model's
:class:`~instrumentid.inference.contract.Framing`, short files tiled unless the model takes any length.
"""

from __future__ import annotations

from collections.abc import Sequence

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from instrumentid import audio
from instrumentid.data.datasets import Example, label_matrix
from instrumentid.errors import DataError
from instrumentid.fileio import progress_bar
from instrumentid.inference.contract import Framing
from instrumentid.inference.windows import tile


def decode_all(
    examples: Sequence[Example], sample_rate: int, *, desc: str = "decoding", progress: bool = True
) -> list[np.ndarray]:
    """Decode every example to mono float32 at ``sample_rate``; bad files raise DataError."""
    waveforms = []
    for example in progress_bar(examples, desc=desc, unit="file", quiet=not progress, leave=False):
        try:
            waveform, _ = audio.load(example.path, sample_rate=sample_rate)
        except audio.AudioError as exc:
            raise DataError(str(exc)) from None
        waveforms.append(waveform)
    return waveforms


class CropDataset(Dataset):
    """Random ``window`` crops of in-memory waveforms with multi-hot targets (training)."""

    def __init__(
        self, waveforms: Sequence[np.ndarray], targets: np.ndarray, window: int, weights: Sequence[float] | None = None
    ) -> None:
        self.waveforms, self.targets, self.window = list(waveforms), np.asarray(targets, np.float32), window
        self.weights = np.ones(len(self.waveforms)) if weights is None else np.asarray(weights, dtype=np.float64)

    def __len__(self) -> int:
        return len(self.waveforms)

    def __getitem__(self, item: int | tuple[int, float]):
        """``item`` is ``(index, position)`` from :class:`CropSampler` (``position`` in [0, 1) places
        the crop), or a bare index for a crop drawn from numpy's global generator."""
        index, position = item if isinstance(item, tuple) else (item, np.random.random())
        waveform = self.waveforms[index]
        if waveform.size <= self.window:
            offset = int(position * max(1, waveform.size))
            crop = tile(np.roll(waveform, -offset), self.window)
        else:
            start = int(position * (waveform.size - self.window + 1))
            crop = waveform[start : start + self.window]
        return torch.from_numpy(np.ascontiguousarray(crop, dtype=np.float32)), torch.from_numpy(self.targets[index])


class CropSampler(Sampler):
    """The ``(index, position)`` pairs of one training epoch, drawn from ``(seed, epoch)`` alone.

    With ``weights`` the ``size`` clips are drawn with replacement in proportion to them
    (balanced sampling); without, they are shuffled passes over all ``n_items`` clips, cut or
    repeated to ``size``. ``position`` in [0, 1) places each clip's random crop. Lightning calls
    :meth:`set_epoch` before every epoch, so an epoch repeats exactly after a resume, and data
    loader workers draw nothing themselves.
    """

    def __init__(
        self, n_items: int, size: int, *, weights: np.ndarray | None = None, seed: int = 0, epoch: int = 0
    ) -> None:
        if n_items < 1 or size < 1:
            raise ValueError(f"n_items and size must be positive, got {n_items} and {size}")
        self.n_items, self.size, self.seed, self.epoch = n_items, size, seed, epoch
        self.weights = None if weights is None else np.asarray(weights, dtype=np.float64) / np.sum(weights)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.size

    def __iter__(self):
        rng = np.random.default_rng([self.seed, self.epoch])
        if self.weights is None:
            passes = -(-self.size // self.n_items)
            indices = np.concatenate([rng.permutation(self.n_items) for _ in range(passes)])[: self.size]
        else:
            indices = rng.choice(self.n_items, size=self.size, replace=True, p=self.weights)
        yield from zip(indices.tolist(), rng.random(self.size).tolist(), strict=True)


class WindowDataset(Dataset):
    """The predictor's fixed windows of each file, each with its file's targets (validation)."""

    def __init__(
        self, waveforms: Sequence[np.ndarray], targets: np.ndarray, framing: Framing, max_windows: int = 8
    ) -> None:
        self.items: list[tuple[np.ndarray, int]] = []
        self.file_index: list[int] = []
        for i, waveform in enumerate(waveforms):
            windows = [w for _, w in framing.windows([waveform])]
            if len(windows) > max_windows:
                keep = np.linspace(0, len(windows) - 1, max_windows).round().astype(int)
                windows = [windows[k] for k in keep]
            self.items.extend((w, i) for w in windows)
        self.targets = np.asarray(targets, np.float32)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int):
        window, file_index = self.items[index]
        return torch.from_numpy(window), torch.from_numpy(self.targets[file_index]), file_index


def balanced_weights(targets: np.ndarray, example_weights: np.ndarray | None = None) -> np.ndarray:
    """Per-example sampling weights that give every label (and 'no label') equal mass.

    Within a label, examples share its mass in proportion to ``example_weights``.
    """
    targets = np.asarray(targets)
    n_labels = targets.shape[1]
    weights = np.ones(len(targets)) if example_weights is None else np.asarray(example_weights, dtype=np.float64)
    keys = np.where(targets.sum(1) > 0, targets.argmax(1), n_labels)  # first label, or 'none'
    mass = np.bincount(keys, weights=weights, minlength=n_labels + 1)
    return weights / mass[keys]


class InstrumentDataModule(L.LightningDataModule):
    """Train/validation loaders over decoded examples, read as ``framing`` says.

    The validation windows follow ``framing`` when the first validation loader is made, so a
    trainer that learns ``variable_length`` from the built model sets :attr:`framing` before that.
    """

    def __init__(
        self,
        train: Sequence[Example],
        val: Sequence[Example],
        *,
        labels: Sequence[str],
        framing: Framing,
        batch_size: int = 32,
        balanced: bool = True,
        epoch_size: int | None = None,
        num_workers: int = 0,
        max_val_windows: int = 8,
        progress: bool = True,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if not train:
            raise DataError("no training examples")
        self.train_examples, self.val_examples = list(train), list(val)
        self.labels = tuple(labels)
        self.framing = framing
        self.batch_size, self.balanced, self.epoch_size = batch_size, balanced, epoch_size
        self.num_workers, self.max_val_windows, self.progress = num_workers, max_val_windows, progress
        self.seed = seed
        self.train_set: CropDataset | None = None
        self.val_set: WindowDataset | None = None
        self._val_waveforms: list[np.ndarray] | None = None

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is None:
            waveforms = decode_all(
                self.train_examples, self.framing.sample_rate, desc="decoding train", progress=self.progress
            )
            self.train_set = CropDataset(
                waveforms,
                label_matrix(self.train_examples, self.labels),
                self.framing.window_samples,
                [e.weight for e in self.train_examples],
            )
        if self._val_waveforms is None and self.val_examples:
            self._val_waveforms = decode_all(
                self.val_examples, self.framing.sample_rate, desc="decoding val", progress=self.progress
            )

    def train_dataloader(self) -> DataLoader:
        """``epoch_size`` clips per epoch (balanced or uniform), drawn by a :class:`CropSampler`."""
        assert self.train_set is not None
        size = self.epoch_size or len(self.train_set)
        weights = balanced_weights(self.train_set.targets, self.train_set.weights) if self.balanced else None
        epoch = self.trainer.current_epoch if self.trainer is not None else 0  # a resumed run starts mid-way
        sampler = CropSampler(len(self.train_set), size, weights=weights, seed=self.seed, epoch=epoch)
        return DataLoader(
            self.train_set,
            batch_size=self.batch_size,
            sampler=sampler,
            drop_last=size > self.batch_size,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )

    def val_dataloader(self) -> DataLoader | list:
        if self.val_set is None and self._val_waveforms is not None:
            self.val_set = WindowDataset(
                self._val_waveforms, label_matrix(self.val_examples, self.labels), self.framing, self.max_val_windows
            )
        if self.val_set is None:
            return []
        return DataLoader(self.val_set, batch_size=self.batch_size * 2, shuffle=False, num_workers=self.num_workers)
