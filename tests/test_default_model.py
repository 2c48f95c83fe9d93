"""The shipped default model and its recipe (issue: a default model that works on real audio)."""

import importlib.util
import json
import subprocess
import sys

import pytest

from instrumentid import load_model
from instrumentid.bundle import default_bundle_path, load_bundle
from instrumentid.labels import LABELS

from helpers import REPO, shared_data_or_skip


def _recipe():
    spec = importlib.util.spec_from_file_location("default_model_recipe", REPO / "recipes" / "default_model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_shipped_bundle_is_complete_and_small():
    path = default_bundle_path()
    bundle = load_bundle(path)
    assert path.stat().st_size < 5e6
    assert bundle["labels"] == list(LABELS)
    assert all(0 < t < 1 for t in bundle["thresholds"])
    assert bundle["metadata"]["recipe"].startswith("recipes/default_model.py")
    assert bundle["metadata"]["validation"]["files"] > 0
    assert bundle["aggregation"] in ("mean", "max", "topk")


def test_bundled_example_is_recognised():
    """The demo file (rendered, labels beside it): the model finds its instruments on top."""
    example = REPO / "src" / "instrumentid" / "assets" / "example.ogg"
    expected = (example.with_suffix(".txt")).read_text().split()
    record = load_model().predict(example)
    ranked = sorted(record["scores"], key=record["scores"].get, reverse=True)
    assert set(ranked[: len(expected)]) & set(expected), (expected, record["scores"])


#: Real recordings whose sources the recipe holds out of training (REAL_VALIDATION), with
#: the label the model must rank first.
SINGING_LIMIT = pytest.mark.xfail(strict=True, reason="known limit (docs/model-card.md): real singing is ranked "
                                                    "below instruments; rendered voices do not carry it yet")
HELD_OUT_POSITIVES = [
    ("mirdata_fixtures/filosax/Participant 2/01/Sax.flac", "sax"),
    ("mirdata_fixtures/filosax/Participant 2/02/Sax.flac", "sax"),
    ("mirdata_fixtures/filosax/Backing/02/Piano_Drums.flac", "pia"),
    ("essentia_audio/recorded/Guitar-A4-432-1.flac", "gac"),
    pytest.param("mirdata_fixtures/multivox/C1/C1_01042025_S1_VAMOSAREMAR_P17_S16/S1_Song1_VAMOSAREMAR.flac", "voi",
                 marks=SINGING_LIMIT),
]
HELD_OUT_NEGATIVES = ("librosa_data/audio/198-209-0000.hq.flac", "librosa_data/audio/pibble.hq.flac")


def test_test_files_are_held_out_by_the_recipe():
    held = _recipe().REAL_VALIDATION
    positives = [p.values[0] if hasattr(p, "values") else p[0] for p in HELD_OUT_POSITIVES]
    for relative in (*positives, *HELD_OUT_NEGATIVES):
        assert any(relative.startswith(prefix) for prefix in held), relative


@pytest.mark.shared
@pytest.mark.parametrize("relative,code", HELD_OUT_POSITIVES)
def test_top_label_on_held_out_real_recordings(relative, code):
    root = shared_data_or_skip() / "real-train"
    record = load_model().predict(root / relative)
    top = max(record["scores"], key=record["scores"].get)
    assert top == code, record["scores"]


@pytest.mark.shared
@pytest.mark.parametrize("relative", HELD_OUT_NEGATIVES)
def test_low_scores_on_held_out_real_negatives(relative):
    root = shared_data_or_skip() / "real-train"
    model = load_model()
    record = model.predict(root / relative)
    assert max(record["scores"].values()) < 0.5, record["scores"]


@pytest.mark.slow
def test_recipe_quick_runs_end_to_end(tmp_path):
    out = tmp_path / "quick.iid"
    result = subprocess.run([sys.executable, str(REPO / "recipes" / "default_model.py"), "--quick", "--jobs", "1",
                             "--work", str(tmp_path / "work"), "--out", str(out)],
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    bundle = load_bundle(out)
    assert bundle["metadata"]["recipe"] == "recipes/default_model.py --variant full --quick"
    metrics = json.loads((tmp_path / "work" / "evaluate" / "metrics.json").read_text())
    assert metrics["n_files"] > 0 and metrics["n_errors"] == 0
    assert set(metrics["file"]["per_label"]) == set(LABELS)
