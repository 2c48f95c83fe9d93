"""Fixtures of the analysis tests."""

from pathlib import Path

import pytest

from instrumentid.evaluation import plots


@pytest.fixture
def saved_figures(monkeypatch) -> dict:
    """``{file name: Figure}`` of every figure saved through ``plots.save``, so a test can check
    what a plot shows (axes, labels, bars, curves); the PNGs are still written."""
    figures = {}
    save = plots.save

    def keep(fig, path, **kwargs):
        figures[Path(path).name] = fig
        return save(fig, path, **kwargs)

    monkeypatch.setattr(plots, "save", keep)
    return figures
