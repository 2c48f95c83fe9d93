"""``instrumentid evaluate DATA --model BUNDLE --out DIR``."""

from __future__ import annotations

import argparse
import sys

from instrumentid.cli import options

EXAMPLES = """\
examples:
  instrumentid evaluate data/IRMAS-TestingData --model my.iid --out report/
  instrumentid evaluate val.csv --model my.iid --out report/ --aggregation max
  instrumentid evaluate clips/ --labels-file labels.csv --model my.iid --out report/ --threshold 0.4
  instrumentid evaluate data/IRMAS-TestingData --labels irmas --out report/   # the default, on the 11 IRMAS labels
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EXAMPLES
    options.add_dataset(parser)
    options.add_model(parser)
    parser.add_argument("--out", required=True, help="output folder: metrics.json, predictions.csv, report.html")
    parser.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="one threshold for every label instead of the bundle's per-label thresholds",
    )
    options.add_aggregation(parser, "how window scores become file scores (default: the bundle's)")
    options.add_labels(parser)
    parser.add_argument("--no-plots", action="store_true", help="skip the plots (faster; report has tables only)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from instrumentid.evaluation.evaluate import evaluate
    from instrumentid.evaluation.report import format_table
    from instrumentid.inference.decision import check_threshold

    if args.threshold is not None:
        check_threshold(args.threshold, "--threshold")
    metrics = evaluate(
        args.data,
        args.model,
        args.out,
        labels_file=args.labels_file,
        threshold=args.threshold,
        aggregation=args.aggregation,
        plots=not args.no_plots,
        progress=not args.quiet,
        labels=args.labels,
    )
    print(format_table(metrics))
    print(
        f"\n{metrics['n_files']} files, {metrics['n_windows']} windows; aggregation {metrics['aggregation']}, "
        f"thresholds from {metrics['threshold_source']}; wrote {args.out}/metrics.json, predictions.csv, report.html"
    )
    for error in metrics["errors"]:
        print(f"instrumentid evaluate: skipped {error['file']}: {error['error']}", file=sys.stderr)
    return 1 if metrics["errors"] else 0
