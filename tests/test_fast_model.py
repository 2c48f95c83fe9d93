"""The recipe of the bundled ``fast`` model still runs end to end (toy size)."""

import json
import subprocess
import sys

import pytest

from helpers import REPO
from instrumentid.inference.bundle import load_bundle
from instrumentid.labels import LABELS


@pytest.mark.slow
def test_fast_recipe_quick_runs_end_to_end(tmp_path):
    out = tmp_path / "fast.iid"
    result = subprocess.run(
        [
            sys.executable,
            str(REPO / "recipes" / "fast_model.py"),
            "--quick",
            "--jobs",
            "1",
            "--work",
            str(tmp_path / "work"),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    bundle = load_bundle(out)
    assert bundle["model"]["name"] == "cnn"
    assert bundle["metadata"]["recipe"] == "recipes/fast_model.py --variant full --quick"
    metrics = json.loads((tmp_path / "work" / "evaluate" / "metrics.json").read_text())
    assert metrics["n_files"] > 0 and metrics["n_errors"] == 0
    assert set(metrics["file"]["per_label"]) == set(LABELS)
