"""Arguments shared by several commands, spelled and explained once."""

from __future__ import annotations

import argparse

DATASET_HELP = "IRMAS training or testing folder, a labels CSV (file + label columns), or a folder with --labels-file"


def add_dataset(parser: argparse.ArgumentParser, help: str = DATASET_HELP) -> None:
    """Positional ``data`` plus ``--labels-file`` (pairs a folder with a CSV of labels)."""
    parser.add_argument("data", help=help)
    parser.add_argument("--labels-file", default=None, metavar="CSV", help="CSV of labels for the files in DATA")


MODEL_HELP = (
    "model bundle: a file, or a bundled name — default (YAMNet + head), fast (small CNN), "
    "audioset-zeroshot (see 'instrumentid models'); default: default"
)


def add_model(parser: argparse.ArgumentParser, help: str = MODEL_HELP, *, required: bool = False) -> None:
    """``--model/-m BUNDLE`` (a path or a bundled name)."""
    parser.add_argument("--model", "-m", metavar="BUNDLE", default=None, required=required, help=help)


def add_labels(parser: argparse.ArgumentParser) -> None:
    """``--labels SET``: a subset of the model's labels (a name of ``labels.LABEL_SETS`` or codes)."""
    parser.add_argument(
        "--labels",
        metavar="SET",
        type=_label_set,
        default=None,
        help="only these labels in scores, present, activity and columns: 'irmas' (the 11 IRMAS "
        "codes), 'extended', or codes like sax,pia,dru (default: every label of the model)",
    )


def _label_set(text: str) -> tuple[str, ...]:
    from instrumentid.labels import parse_label_set

    try:
        return parse_label_set(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_aggregation(parser: argparse.ArgumentParser, help: str = "override the bundle's window aggregation") -> None:
    """``--aggregation {mean,max,topk,top3}`` (choices from the bundle contract)."""
    from instrumentid.inference.windows import AGGREGATIONS

    parser.add_argument("--aggregation", choices=AGGREGATIONS, default=None, help=help)
