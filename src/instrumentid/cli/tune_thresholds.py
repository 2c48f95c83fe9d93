"""``instrumentid tune-thresholds DATA --model BUNDLE --out NEW_BUNDLE [--rule NAME]``."""

from __future__ import annotations

import argparse
import textwrap

from instrumentid.cli import options

EXAMPLES = """\
examples:
  instrumentid tune-thresholds val.csv --model my.iid --out my-tuned.iid
  instrumentid tune-thresholds data/val --labels-file val.csv --model my.iid --out tuned.iid --grid fine
  instrumentid tune-thresholds val.csv --model my.iid --out tuned.iid --rule one-for-all-above-non-music

Tune on a validation set, then evaluate the new bundle on a different (test) set.
"""


def rules_help() -> str:
    """The ``--rule`` section of the epilog: every rule's name and what it does."""
    from instrumentid.evaluation.thresholds import DEFAULT_RULE, RULES

    lines = ["threshold rules (--rule):"]
    for name, rule in RULES.items():
        default = " (default)" if name == DEFAULT_RULE else ""
        lines.append(f"  {name}{default}")
        lines += textwrap.wrap(rule.summary, width=88, initial_indent=" " * 6, subsequent_indent=" " * 6)
    return "\n".join(lines) + "\n"


def configure(parser: argparse.ArgumentParser) -> None:
    from instrumentid.evaluation.thresholds import DEFAULT_RULE, GRIDS, RULES

    parser.epilog = EXAMPLES + "\n" + rules_help()
    options.add_dataset(parser, "validation set: " + options.DATASET_HELP)
    options.add_model(parser, "model bundle to tune (default: the packaged model)")
    parser.add_argument("--out", required=True, help="path of the new bundle with tuned thresholds")
    parser.add_argument(
        "--rule",
        choices=list(RULES),
        default=DEFAULT_RULE,
        metavar="NAME",
        help=f"how the thresholds are chosen: {', '.join(RULES)} (default: {DEFAULT_RULE}; described below)",
    )
    parser.add_argument(
        "--grid",
        choices=GRIDS,
        default="coarse-to-fine",
        help="per-label search: coarse 0.05..0.95, then refined in 0.005 steps (default)",
    )
    options.add_aggregation(parser, "window aggregation used while tuning (default: the bundle's)")


def run(args: argparse.Namespace) -> int:
    import sys

    from instrumentid.evaluation.thresholds import RULES, tune_bundle

    result = tune_bundle(
        args.data,
        args.model,
        args.out,
        labels_file=args.labels_file,
        grid=args.grid,
        aggregation=args.aggregation,
        rule=args.rule,
    )
    print(f"{'label':<8}{'threshold':>10}{'F1 before':>11}{'F1 after':>10}")
    for code, t in result["thresholds"].items():
        print(f"{code:<8}{t:>10.3f}{result['f1_before'][code]:>11.3f}{result['f1_after'][code]:>10.3f}")
    macro = [f"{v:.3f}" if v is not None else "-" for v in (result["f1_macro_before"], result["f1_macro_after"])]
    print(
        f"macro F1 {macro[0]} -> {macro[1]}, "
        f"micro F1 {result['f1_micro_before']:.3f} -> {result['f1_micro_after']:.3f} (on the tuning set)"
    )
    if RULES[args.rule].uses_non_music and not result["non_music_files"]:
        print(
            f"note: no file in {args.data} is without labels: {args.rule} had no non-music to keep above",
            file=sys.stderr,
        )
    print(f"rule {result['rule']}; wrote {result['out']}")
    return 0
