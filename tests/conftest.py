"""Shared fixtures: seeded rng, generated audio files and folders, a tiny randomly initialised bundle."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from helpers import make_irmas_test, make_irmas_train, tiny_bundle_dict, write_tone
from instrumentid.inference.bundle import save_bundle


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture
def make_tone():
    return write_tone


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory) -> Path:
    """A randomly initialised tiny model bundle (1 s windows, 16 kHz)."""
    return save_bundle(tiny_bundle_dict(), tmp_path_factory.mktemp("bundle") / "tiny.iid")


@pytest.fixture(scope="session")
def irmas_test_dir(tmp_path_factory) -> Path:
    """A tiny IRMAS-test-style folder (songs of 1.5 s excerpts with .txt labels)."""
    return make_irmas_test(tmp_path_factory.mktemp("irmas") / "IRMAS-TestingData")


@pytest.fixture(scope="session")
def irmas_train_dir(tmp_path_factory) -> Path:
    """A tiny IRMAS-training-style folder (3 tones of 1.2 s for each of cel, flu, pia, voi)."""
    return make_irmas_train(tmp_path_factory.mktemp("irmas-train") / "IRMAS-TrainingData")
