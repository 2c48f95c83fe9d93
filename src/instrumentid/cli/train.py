"""``instrumentid train``: Lightning training of any registry model; writes a bundle."""

from __future__ import annotations

import argparse

EXAMPLES = """\
examples:
  instrumentid train --data IRMAS-TrainingData --val-data IRMAS-TestingData --out irmas.iid
  instrumentid train --data data/synth/IRMAS-TrainingData --data extra.csv --model cnn-wide --epochs 30
  instrumentid train --config configs/fast.yaml --epochs 2             # flags override the YAML
  instrumentid train --data tiny/ --fast-dev-run                        # check the pipeline
  instrumentid train --config configs/fast.yaml --out fast.iid --resume # continue after a crash or kill -9

Datasets: an IRMAS training folder (<code>/[code][genre]NNNN__K.wav), an IRMAS testing folder
(*.wav + .txt), a CSV (file + one 0/1 column per label, or file + ';'-joined labels) or a
folder with labels.csv. Without --val-data, a grouped split keeps all excerpts of a song on
one side. The run folder gets the resolved config and CSV (and TensorBoard, if installed) logs;
--out gets the bundle, with thresholds tuned on the validation set, and <out>.ckpt/ the
checkpoints: last.ckpt (every epoch) and the best by validation macro-F1. --resume continues
from last.ckpt (same config and seed: the weights of an uninterrupted run). A model whose
validation is at chance gets a warning, also kept in the bundle's metadata["warnings"].
Every config field is a flag; --config YAML sets many at once.
"""


def configure(parser: argparse.ArgumentParser) -> None:
    from instrumentid.training.config import add_config_arguments

    parser.epilog = EXAMPLES
    parser.add_argument("--config", metavar="YAML", help="YAML file of config fields (flags override it)")
    add_config_arguments(parser)
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="show Lightning's own notes and the libraries' deprecation warnings (off by default)",
    )


def run(args: argparse.Namespace) -> int:
    import sys

    from instrumentid.training import train
    from instrumentid.training.config import config_from_args

    config = config_from_args(args)
    if not args.verbose:
        from instrumentid.training.run import quiet_lightning

        quiet_lightning()
    out = train(config)
    if out is not None:
        print(f"wrote {out}", file=sys.stderr)
    return 0
