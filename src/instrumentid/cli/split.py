"""``instrumentid split DATA --out DIR [--val-fraction 0.2]``."""

from __future__ import annotations

import argparse

from instrumentid.cli import options

EXAMPLES = """\
examples:
  instrumentid split data/IRMAS-TestingData --out splits/ --val-fraction 0.3
  instrumentid train --data splits/train.csv ...   # and validate on splits/val.csv
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EXAMPLES
    options.add_dataset(parser)
    parser.add_argument("--out", required=True, help="folder for train.csv and val.csv")
    parser.add_argument("--val-fraction", type=float, default=0.2, help="share of songs in validation (0.2)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (0)")


def run(args: argparse.Namespace) -> int:
    from instrumentid.data.split import split_dataset

    result = split_dataset(
        args.data, args.out, labels_file=args.labels_file, val_fraction=args.val_fraction, seed=args.seed
    )
    print(f"{'label':<8}{'train':>8}{'val':>8}   (fraction of files)")
    for code, (a, b) in result["proportions"].items():
        print(f"{code:<8}{a:>8.3f}{b:>8.3f}")
    print(f"train: {result['n_train']} files in {result['n_train_groups']} songs -> {result['train']}")
    print(f"val:   {result['n_val']} files in {result['n_val_groups']} songs -> {result['val']}")
    print("no song is on both sides")
    return 0
