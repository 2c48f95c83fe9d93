"""``instrumentid gradcam FILE [--label CODE] --model BUNDLE --out PNG``."""

from __future__ import annotations

import argparse

from instrumentid.cli import options

EXAMPLES = """\
examples:
  instrumentid gradcam song.wav --label gac --model my.iid --out song-gac.png
  instrumentid gradcam song.wav --model my.iid          # top-scoring instrument
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EXAMPLES
    parser.add_argument("file", help="audio file")
    parser.add_argument("--label", default=None, help="instrument code or name (default: the top-scoring one)")
    options.add_model(parser)
    parser.add_argument("--out", default=None, help="PNG to write (default: <stem>.gradcam.<label>.png)")


def run(args: argparse.Namespace) -> int:
    from instrumentid.analysis.gradcam import gradcam_file

    result = gradcam_file(args.file, args.model, args.label, args.out)
    empty = "" if result["heatmap"].max() > 0 else " (nothing in the file raises this score, so the map is empty)"
    print(f"{result['label']}: file score {result['score']:.3f}; wrote {result['png']}{empty}")
    return 0
