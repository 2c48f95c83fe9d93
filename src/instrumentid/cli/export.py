"""``instrumentid export``: a bundle as one ONNX graph (front-end included) for onnxruntime and friends."""

from __future__ import annotations

import argparse

EXAMPLES = """\
examples:
  instrumentid export default --out default.onnx
  instrumentid export my.iid --out my.onnx
  instrumentid predict song.mp3 --model default.onnx          # onnxruntime; torch is never imported

The graph takes float32 mono windows (batch, samples) at the bundle's sample rate and returns
sigmoid scores (batch, labels); its metadata carries the labels, thresholds, window, hop and
aggregation, so 'predict --model X.onnx' gives the bundle's records. It holds every weight too:
'--runtime torch', gradcam, embed, tune-thresholds and export itself take the .onnx as they take
the bundle (the same weights, bit for bit). After writing, the graph is checked against PyTorch
on test signals (scores within 1e-4) and the bundle it carries against the bundle's checksum.
Needs the train extra: pip install 'instrumentid[train]'.
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EXAMPLES
    parser.add_argument(
        "model", metavar="BUNDLE", help="a bundle file (.iid or .onnx) or a bundled model name (default, fast, ...)"
    )
    parser.add_argument("--out", "-o", required=True, metavar="FILE", help="file to write (atomically)")
    parser.add_argument("--no-check", action="store_true", help="skip the onnxruntime-vs-PyTorch parity check")


def run(args: argparse.Namespace) -> int:
    from instrumentid.inference.export import export_onnx

    report = export_onnx(args.model, args.out, check=not args.no_check)
    check = (
        "parity not checked (onnxruntime not installed)"
        if report["max_abs_diff"] is None
        else f"max |onnxruntime - torch| = {report['max_abs_diff']:.1e} on test signals"
    )
    length = "any length" if report["variable_length"] else "one window"
    print(f"wrote {report['path']} ({report['bytes'] / 1e6:.1f} MB; input: {length} of mono audio); {check}")
    return 0
