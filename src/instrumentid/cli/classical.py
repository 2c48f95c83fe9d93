"""``instrumentid classical train|evaluate``: the hand-crafted-features + SVM baseline."""

from __future__ import annotations

import argparse

from instrumentid.cli import options

EXAMPLES = """\
examples:
  instrumentid classical train data/IRMAS-TrainingData --out svm.npz
  instrumentid classical evaluate data/IRMAS-TestingData --model svm.npz --out svm-report/
  instrumentid classical train train.csv --embedding-model cnn.iid --head logistic --out stack.npz  # stacking
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EXAMPLES
    sub = parser.add_subparsers(dest="action", metavar="<action>", required=True)
    train = sub.add_parser("train", help="extract features and fit one SVM (or logistic head) per instrument")
    options.add_dataset(train)
    train.add_argument("--out", required=True, help="model file to write (.npz: arrays and JSON)")
    train.add_argument("--C", type=float, default=1.0, help="SVM regularisation C (1.0)")
    train.add_argument("--kernel", choices=("rbf", "linear", "poly", "sigmoid"), default="rbf", help="SVM kernel")
    train.add_argument(
        "--head",
        choices=("svm", "logistic"),
        default="svm",
        help="one per label: calibrated SVM (default) or logistic regression",
    )
    train.add_argument(
        "--embedding-model",
        metavar="BUNDLE",
        default=None,
        help="stacking: append this bundle's mean window embedding to the hand-made features",
    )
    evaluate = sub.add_parser("evaluate", help="metrics, predictions, report and feature-variance ranking")
    options.add_dataset(evaluate)
    options.add_model(evaluate, "model file from 'classical train'", required=True)
    evaluate.add_argument("--out", required=True, help="output folder")
    evaluate.add_argument("--no-plots", action="store_true", help="skip the plots")


def run(args: argparse.Namespace) -> int:
    import sys

    from instrumentid.analysis.classical import evaluate_classical, train_classical

    if args.action == "train":
        model = train_classical(
            args.data,
            args.out,
            labels_file=args.labels_file,
            C=args.C,
            kernel=args.kernel,
            head=args.head,
            embedding_model=args.embedding_model,
            progress=True,
        )
        meta = model["metadata"]
        print(
            f"trained {len(model['labels'])} {model['head']} heads on {meta['n_files']} files "
            f"({len(model['feature_names'])} features); wrote {args.out}"
        )
        print("highest-variance features: " + ", ".join(r["feature"] for r in model["feature_variance"][:5]))
        errors = meta["errors"]
    else:
        from instrumentid.evaluation.report import format_table

        metrics = evaluate_classical(
            args.data, args.model, args.out, labels_file=args.labels_file, plots=not args.no_plots, progress=True
        )
        print(format_table(metrics, levels=("file",)))
        print(f"\nwrote {args.out}/metrics.json, predictions.csv, report.html, feature_variance.csv")
        errors = metrics["errors"]
    for error in errors:
        print(f"instrumentid classical: skipped {error['file']}: {error['error']}", file=sys.stderr)
    return 1 if errors else 0
