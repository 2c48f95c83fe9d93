"""Export every bundled model to the ONNX graph the package runs by default, and check it.

    python recipes/onnx_models.py              # all bundled names (make onnx-models)
    python recipes/onnx_models.py default      # one of them, e.g. after retraining it

For each name, ``instrumentid export`` writes ``src/instrumentid/assets/<name>.onnx`` from
``<name>.iid`` (front-end inside the graph, the bundle's header as metadata, weights float16
where that is exact) and refuses a graph whose scores differ from PyTorch by more than
``export.PARITY_TOLERANCE`` on test windows (loud, quiet, silent, short). This script then
compares the records of both runtimes on the bundled example at its own level and 40 dB down
(where a front-end with ``level_dbfs`` scales the most): the same present labels and scores
within the same tolerance, or it fails. Needs the ``train`` and ``onnx`` extras.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import soundfile as sf

from instrumentid.inference import export
from instrumentid.inference.predictor import Predictor
from instrumentid.inference.shipped import BUNDLED, bundled_path, exported_path

EXAMPLE = bundled_path("default").parent / "example.ogg"


def test_files(folder: Path) -> list[Path]:
    """The bundled example, and a copy 40 dB quieter."""
    audio, rate = sf.read(EXAMPLE, dtype="float32")
    quiet = folder / "example-40dB.wav"
    sf.write(quiet, audio * 0.01, rate)
    return [EXAMPLE, quiet]


def records_differ(name: str, files: list[Path]) -> float:
    """Largest score difference between the ONNX graph and the bundle over ``files``; raises when
    the present labels differ."""
    graph, bundle = Predictor.from_bundle(name), Predictor.from_bundle(name, runtime="torch")
    assert graph.runtime.name == "onnxruntime", graph.runtime.name
    worst = 0.0
    for path in files:
        a, b = graph.predict(path, segments=True), bundle.predict(path, segments=True)
        if a["present"] != b["present"]:
            raise SystemExit(f"{name}: {path.name}: present {a['present']} (onnxruntime) != {b['present']} (torch)")
        worst = max(worst, *(abs(a["scores"][k] - b["scores"][k]) for k in a["scores"]))
    return worst


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", choices=[*BUNDLED, []], help="bundled names (default: all)")
    names = parser.parse_args(argv).names or list(BUNDLED)
    with tempfile.TemporaryDirectory() as tmp:
        files = test_files(Path(tmp))
        for name in names:
            report = export.export_onnx(bundled_path(name), exported_path(name))
            worst = records_differ(name, files)
            print(
                f"{name}: {report['bytes'] / 1e6:.1f} MB; max |onnxruntime - torch| = "
                f"{report['max_abs_diff']:.1e} on test windows, {worst:.1e} on the example's records"
            )
            if worst > export.PARITY_TOLERANCE:
                raise SystemExit(f"{name}: records differ by {worst:.2g} > {export.PARITY_TOLERANCE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
