"""``instrumentid label-issues DATA [--features model|classical] [--model BUNDLE] --out DIR``."""

from __future__ import annotations

import argparse

from instrumentid.cli import options

EXAMPLES = """\
examples:
  instrumentid label-issues data/IRMAS-TrainingData --model my.iid --out issues/
  instrumentid label-issues data/IRMAS-TrainingData --out issues/                      # the default model
  instrumentid label-issues data/IRMAS-TrainingData --features classical --out issues/  # no model
  # review issues/label_issues.csv, then train with issues/label_overrides.csv
"""


def configure(parser: argparse.ArgumentParser) -> None:
    from instrumentid.analysis.label_issues import FEATURES

    parser.epilog = EXAMPLES
    options.add_dataset(parser)
    parser.add_argument(
        "--features",
        choices=FEATURES,
        default="model",
        help="what represents a file: 'model', the embeddings of --model (default), or "
        "'classical', hand-crafted features (no model)",
    )
    options.add_model(
        parser,
        "with --features model: the bundle whose embeddings represent the files "
        "(a file or a bundled name; default: default)",
    )
    parser.add_argument("--out", required=True, help="folder for label_issues.csv and label_overrides.csv")
    parser.add_argument("--folds", type=int, default=5, help="cross-validation folds (5)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (0)")


def run(args: argparse.Namespace) -> int:
    from instrumentid.analysis.label_issues import label_issues
    from instrumentid.errors import ConfigError

    if args.folds < 2:
        raise ConfigError(f"--folds must be at least 2, got {args.folds}")
    result = label_issues(
        args.data,
        args.out,
        features=args.features,
        model=args.model,
        labels_file=args.labels_file,
        n_splits=args.folds,
        seed=args.seed,
        progress=True,
    )
    print(f"{result['n_issues']} of {result['n_files']} files have suspect labels (features: {result['features']})")
    for row in result["top"][:10]:
        print(f"  {row['quality']}  {row['file']}  given {row['given'] or '-'} -> suggested {row['suggested'] or '-'}")
    print(f"wrote {result['issues_csv']} and {result['overrides_csv']}")
    return 0
