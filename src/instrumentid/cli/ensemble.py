"""``instrumentid ensemble A.iid B.iid [...] --out E.iid``: one bundle that combines several."""

from __future__ import annotations

import argparse

from instrumentid.cli import options

EXAMPLES = """\
examples:
  instrumentid ensemble cnn.iid lstm.iid --out both.iid                  # mean of the members' probabilities
  instrumentid ensemble cnn.iid lstm.iid --weights 0.7,0.3 --out both.iid
  instrumentid ensemble cnn.iid lstm.iid mfcc.iid --fit-weights val.csv --out three.iid
  instrumentid predict song.wav --model three.iid                         # like any other bundle

Members must share labels, window_s and hop_s; front-ends and sample rates may differ. With
--fit-weights each label gets its own weights (minimising cross-entropy on the validation
set) and thresholds tuned on that set; otherwise thresholds are the members' weighted mean.
"""


def _weights(text: str) -> list[float]:
    try:
        return [float(w) for w in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def configure(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EXAMPLES
    parser.add_argument("models", nargs="+", metavar="BUNDLE", help="member bundles (files or bundled names)")
    parser.add_argument("--out", required=True, help="path of the ensemble bundle to write")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--weights", type=_weights, metavar="W1,W2,...", help="one weight per member (default: equal)")
    group.add_argument(
        "--fit-weights",
        metavar="DATA",
        help="labelled validation set to fit per-label weights on: " + options.DATASET_HELP,
    )
    parser.add_argument("--labels-file", default=None, metavar="CSV", help="CSV of labels for the files in DATA")
    options.add_aggregation(parser, "window aggregation of the ensemble (default: the members', when they agree)")


def run(args: argparse.Namespace) -> int:
    import sys

    from instrumentid.inference.bundle import save_bundle
    from instrumentid.training.ensembling import assemble

    bundle = assemble(
        args.models,
        weights=args.weights,
        val_data=args.fit_weights,
        labels_file=args.labels_file,
        aggregation=args.aggregation,
        progress=sys.stderr.isatty(),
    )
    weights = bundle["model"]["params"]["weights"]
    print("label  " + "  ".join(f"w{i + 1:<5}" for i in range(len(weights))) + "  threshold")
    for j, code in enumerate(bundle["labels"]):
        print(f"{code:<6} " + "  ".join(f"{row[j]:.3f} " for row in weights) + f"  {bundle['thresholds'][j]:.3f}")
    save_bundle(bundle, args.out)
    print(f"wrote {args.out} ({len(weights)} members, weights {bundle['metadata']['weights']})")
    return 0
