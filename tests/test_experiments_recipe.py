"""docs/experiments.md's recipe still runs end to end (toy size, three options, ensembles, stacking)."""

import json
import subprocess
import sys

import pytest

from helpers import REPO, shared_data_or_skip
from instrumentid.inference.bundle import load_bundle


@pytest.mark.slow
def test_experiments_recipe_quick_runs_end_to_end(tmp_path):
    shared = shared_data_or_skip()
    work = tmp_path / "work"
    result = subprocess.run(
        [
            sys.executable,
            str(REPO / "recipes" / "experiments.py"),
            "--quick",
            "--jobs",
            "1",
            "--shared",
            str(shared),
            "--work",
            str(work),
            "--only",
            "cnn-logmel",
            "cnn-mfcc",
            "lstm-attention-logmel",
        ],
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((work / "results.json").read_text())
    assert set(summary["results"]) == {
        "cnn-logmel",
        "cnn-mfcc",
        "lstm-attention-logmel",
        "ensemble-mean",
        "ensemble-fitted",
        "classical-svm",
        "stacked-svm",
    }
    for name, row in summary["results"].items():
        assert row["files"] > 0 and 0 <= row["roc_auc"] <= 1, name
    assert load_bundle(work / "models" / "ensemble-mean.iid")["model"]["name"] == "ensemble"
    assert summary["total_cpu_minutes"] > 0 and (work / "results.md").read_text().startswith("| option |")
