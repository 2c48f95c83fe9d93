"""Fixtures for the synth tests: SoundFonts (fail on CI, skip elsewhere), shared data, one small dataset."""

from __future__ import annotations

import os

import pytest

from instrumentid.synth.dataset import default_shared_data
from instrumentid.synth.soundfonts import INSTALL_HINT, find_soundfonts


@pytest.fixture(scope="session")
def soundfonts():
    """The fast (sf2) SoundFonts; the slow-to-load sf3 is left out to keep tests short."""
    fonts = find_soundfonts()
    try:
        import fluidsynth  # noqa: F401
    except (ImportError, OSError):
        fonts = []
    if not fonts:
        message = f"no SoundFont / pyfluidsynth installed ({INSTALL_HINT})"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + " — CI must install them")
        pytest.skip(message)
    sf2 = [f for f in fonts if f.suffix.lower() == ".sf2"]
    return sf2 or fonts[:1]


@pytest.fixture(scope="session")
def shared_data():
    path = default_shared_data()
    if path is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI must have ../shared/data (real notes and recordings) beside the checkout")
        pytest.skip("../shared/data (real notes and recordings) is not present in this checkout")
    return path


@pytest.fixture(scope="session")
def small_dataset(tmp_path_factory, soundfonts):
    """2 training clips per class, 3 short test excerpts, 3 negatives and 2 test tones (uses shared
    data if present)."""
    from instrumentid.synth import render_dataset

    out = tmp_path_factory.mktemp("synth") / "data"
    render_dataset(
        out,
        train_per_class=2,
        test_excerpts=3,
        negatives=3,
        seed=7,
        jobs=1,
        soundfonts=soundfonts,
        progress=False,
        test_seconds=(5.0, 6.0),
        tones=2,
    )
    return out
