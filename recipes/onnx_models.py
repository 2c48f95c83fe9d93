"""Re-export every shipped model's ONNX graph with this instrumentid's exporter, and check it.

    python recipes/onnx_models.py                      # all bundled names (make onnx-models)
    python recipes/onnx_models.py default              # one of them
    python recipes/onnx_models.py default=work/m.iid   # ship another bundle under a name

A shipped model is one file, ``src/instrumentid/assets/<name>.onnx``: the scoring graph (front-end
inside, the bundle's header as metadata, weights float16 where that is exact), which also holds
the bundle itself. For each name, ``export.ship`` rebuilds that bundle from the graph (or reads
the ``.iid`` given), exports it again in place, refuses a graph whose scores differ from PyTorch
by more than ``export.PARITY_TOLERANCE`` on test windows (loud, quiet, silent, short) and checks
that the new graph carries the same weights (the bundle's checksum). This script then compares
the records of both runtimes on the bundled example at its own level and 40 dB down (where a
front-end with ``level_dbfs`` scales the most): the same present labels and scores within the
same tolerance, or it fails. Run it after a change to the exporter. Needs the ``train`` extra.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import soundfile as sf

from instrumentid.inference import export
from instrumentid.inference.predictor import Predictor
from instrumentid.inference.shipped import BUNDLED, bundled_path

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
    parser.add_argument("names", nargs="*", metavar="NAME[=BUNDLE]", help="bundled names (default: all)")
    names = parser.parse_args(argv).names or list(BUNDLED)
    with tempfile.TemporaryDirectory() as tmp:
        files = test_files(Path(tmp))
        for name, _, source in (entry.partition("=") for entry in names):
            report = export.ship(source or name, name)
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
