"""``instrumentid tune-thresholds DATA --model BUNDLE --out NEW_BUNDLE``."""

from __future__ import annotations

import argparse

from instrumentid.cli import options

EXAMPLES = """\
examples:
  instrumentid tune-thresholds val.csv --model my.iid --out my-tuned.iid
  instrumentid tune-thresholds data/val --labels-file val.csv --model my.iid --out tuned.iid --grid fine

Tune on a validation set, then evaluate the new bundle on a different (test) set.
"""


def configure(parser: argparse.ArgumentParser) -> None:
    from instrumentid.evaluation.thresholds import GRIDS

    parser.epilog = EXAMPLES
    options.add_dataset(parser, "validation set: " + options.DATASET_HELP)
    options.add_model(parser, "model bundle to tune (default: the packaged model)")
    parser.add_argument("--out", required=True, help="path of the new bundle with tuned thresholds")
    parser.add_argument(
        "--grid",
        choices=GRIDS,
        default="coarse-to-fine",
        help="search: coarse 0.05..0.95, then refined in 0.005 steps (default)",
    )
    options.add_aggregation(parser, "window aggregation used while tuning (default: the bundle's)")


def run(args: argparse.Namespace) -> int:
    from instrumentid.evaluation.thresholds import tune_bundle

    result = tune_bundle(
        args.data, args.model, args.out, labels_file=args.labels_file, grid=args.grid, aggregation=args.aggregation
    )
    print(f"{'label':<8}{'threshold':>10}{'F1 before':>11}{'F1 after':>10}")
    for code, t in result["thresholds"].items():
        print(f"{code:<8}{t:>10.3f}{result['f1_before'][code]:>11.3f}{result['f1_after'][code]:>10.3f}")
    macro = [f"{v:.3f}" if v is not None else "-" for v in (result["f1_macro_before"], result["f1_macro_after"])]
    print(
        f"macro F1 {macro[0]} -> {macro[1]}, "
        f"micro F1 {result['f1_micro_before']:.3f} -> {result['f1_micro_after']:.3f} (on the tuning set)"
    )
    print(f"wrote {result['out']}")
    return 0
