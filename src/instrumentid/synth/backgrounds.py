"""Real recordings without IRMAS instruments (speech, animals, drums, bass...) from
``shared/data/real-train`` (rows of ``labels.csv`` with empty labels), used as backgrounds and
as negative clips. ``labels-extended.csv`` names the extended instruments in them (``dru``,
``bas``, ``dbl``), so a class set that has those codes does not get them as negatives."""

from __future__ import annotations

import csv
from collections.abc import Collection
from pathlib import Path

import numpy as np

from instrumentid import audio
from instrumentid.errors import InstrumentIdError


class RealNegatives:
    """Lazily decoded negative recordings at ``sample_rate`` (mono), cached per process.

    ``hold_out`` lists path prefixes inside ``real-train/`` that are never used (a validation
    set's sources must not reach training data as backgrounds). ``exclude`` (of
    :meth:`available` and :meth:`excerpt`) leaves out recordings holding any of those codes.
    """

    def __init__(
        self, shared_data: str | Path | None, sample_rate: int = 44100, *, hold_out: tuple[str, ...] = ()
    ) -> None:
        self.sample_rate = sample_rate
        self.root = Path(shared_data) / "real-train" if shared_data else None
        self.entries: list[tuple[str, str]] = []  # (relative path, note)
        table = self.root / "labels.csv" if self.root else None
        if table is not None and table.is_file():
            with open(table, newline="") as handle:
                for row in csv.DictReader(handle):
                    held = any(row["path"].startswith(prefix) for prefix in hold_out)
                    if not held and not (row.get("labels") or "").strip() and (self.root / row["path"]).is_file():
                        self.entries.append((row["path"], row.get("note", "")))
        self.codes = self._extended_codes(self.root / "labels-extended.csv" if self.root else None)
        self._cache: dict[str, np.ndarray] = {}

    @staticmethod
    def _extended_codes(table: Path | None) -> dict[str, set[str]]:
        """Path -> extended codes heard in it (``labels-extended.csv``; empty when absent)."""
        if table is None or not table.is_file():
            return {}
        with open(table, newline="") as handle:
            return {
                row["path"]: set(filter(None, (row.get("labels_extended") or "").split(";")))
                for row in csv.DictReader(handle)
            }

    def __bool__(self) -> bool:
        return bool(self.entries)

    def available(self, exclude: Collection[str] = ()) -> list[str]:
        """Paths of the negatives holding no code of ``exclude``."""
        return [rel for rel, _ in self.entries if not self.codes.get(rel, set()) & set(exclude)]

    def excerpt(
        self, rng: np.random.Generator, n_samples: int, exclude: Collection[str] = ()
    ) -> tuple[np.ndarray, str]:
        """A random ``(n_samples,)`` stretch of a random negative (looped if short) and its name."""
        # pick a source folder first, so 17 bass notes of one folder do not outweigh the dog
        paths = self.available(exclude)
        folders = sorted({str(Path(rel).parent) for rel in paths})
        folder = folders[int(rng.integers(len(folders)))]
        members = [rel for rel in paths if str(Path(rel).parent) == folder]
        rel = members[int(rng.integers(len(members)))]
        if rel not in self._cache:
            try:
                wave, _ = audio.load(self.root / rel, sample_rate=self.sample_rate, mono=True)
            except InstrumentIdError:
                wave = np.zeros(1, np.float32)
            self._cache[rel] = wave[: 60 * self.sample_rate]
        wave = self._cache[rel]
        if wave.size < n_samples:
            wave = np.tile(wave, n_samples // max(wave.size, 1) + 1)
        start = int(rng.integers(0, wave.size - n_samples + 1))
        return wave[start : start + n_samples].astype(np.float32), Path(rel).stem
