"""The shipped models give the same records for the same files across refactors (issue 18).

``tests/data/records.json`` holds the records of the bundled models (``fast`` in PyTorch and in
onnxruntime, ``default`` in PyTorch) on a few generated files, with the SHA-256 of each model's
file (one per model: the graph, which PyTorch rebuilds the bundle from). A model
file that changed (a retrained model) makes its case skip with a reason: re-record with
``python tests/test_same_records.py`` after checking the change is the model's, not the code's.
Only the public API is used, so the test survives moves inside the package.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from instrumentid import load_model
from instrumentid.inference.shipped import bundled_path

FIXTURE = Path(__file__).parent / "data" / "records.json"
#: (case, bundled name, runtime)
CASES = (("fast-torch", "fast", "torch"), ("fast-onnx", "fast", "onnxruntime"), ("default", "default", "torch"))


def write_files(folder: Path) -> list[Path]:
    """Fixed audio: a chord with noise (4.5 s), a short burst (0.4 s), a quiet swept tone (7 s)
    with a silent gap, all at 22.05 kHz (so every model resamples)."""
    rate = 22_050
    rng = np.random.default_rng(18)
    t = np.arange(int(4.5 * rate)) / rate
    chord = 0.2 * sum(np.sin(2 * np.pi * f * t) for f in (196.0, 247.0, 294.0)) + 0.02 * rng.standard_normal(t.size)
    burst = 0.5 * np.sin(2 * np.pi * 880.0 * t[: int(0.4 * rate)]) * np.exp(-6 * t[: int(0.4 * rate)])
    t7 = np.arange(7 * rate) / rate
    sweep = 0.01 * np.sin(2 * np.pi * (110.0 + 60.0 * t7) * t7)
    sweep[2 * rate : 3 * rate] = 0.0
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for name, signal in (("chord.wav", chord), ("burst.wav", burst), ("sweep.wav", sweep)):
        sf.write(str(folder / name), signal.astype(np.float32), rate)
        files.append(folder / name)
    return files


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def records_of(name: str, runtime: str, files: list[Path]) -> list[dict]:
    model = load_model(name, runtime=runtime)
    out = []
    for path in files:
        record = model.predict_file(path, segments=True, name=path.name)
        out.append(record)
    return out


def _close(expected, actual, where: str = "") -> None:
    if isinstance(expected, float) or isinstance(actual, float):
        assert actual == pytest.approx(expected, abs=2e-4), where
    elif isinstance(expected, dict):
        assert sorted(expected) == sorted(actual), where
        for key in expected:
            _close(expected[key], actual[key], f"{where}.{key}")
    elif isinstance(expected, list):
        assert len(expected) == len(actual), where
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            _close(e, a, f"{where}[{i}]")
    else:
        assert expected == actual, where


@pytest.mark.parametrize(("case", "name", "runtime"), CASES)
def test_records_are_unchanged(tmp_path, case, name, runtime):
    fixture = json.loads(FIXTURE.read_text())[case]
    model_file = bundled_path(name)
    if not model_file.is_file():
        pytest.skip(f"{model_file} is not installed")
    if _sha256(model_file) != fixture["sha256"]:
        pytest.skip(f"{model_file.name} changed since the records were made (re-record: python {__file__})")
    if runtime == "onnxruntime":
        pytest.importorskip("onnxruntime")
    actual = json.loads(json.dumps(records_of(name, runtime, write_files(tmp_path))))
    _close(fixture["records"], actual, case)


def main() -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        files = write_files(Path(folder))
        cases = {
            case: {"sha256": _sha256(bundled_path(name)), "records": records_of(name, runtime, files)}
            for case, name, runtime in CASES
        }
    FIXTURE.parent.mkdir(exist_ok=True)
    FIXTURE.write_text(json.dumps(cases, indent=1) + "\n")
    print(f"wrote {FIXTURE}", file=sys.stderr)


if __name__ == "__main__":
    main()
