"""``instrumentid plot timing|distribution``: speed and dataset plots."""

from __future__ import annotations

import argparse

from instrumentid.cli import options

EXAMPLES = """\
examples:
  instrumentid plot timing --model my.iid --durations 10,30,60,120,300,600 --out timing/
  instrumentid plot distribution data/train data/IRMAS-TestingData --out dist/
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EXAMPLES
    sub = parser.add_subparsers(dest="action", metavar="<plot>", required=True)
    timing = sub.add_parser("timing", help="prediction time vs audio duration on synthetic audio")
    options.add_model(timing)
    timing.add_argument("--durations", default=None, help="seconds, comma-separated (default: 10,30,60,120,300,600)")
    timing.add_argument("--repeats", type=int, default=1, help="time each duration N times, keep the best (1)")
    timing.add_argument("--out", required=True, help="folder for timing.png and timing.csv")
    dist = sub.add_parser("distribution", help="label distribution of one or more datasets side by side")
    dist.add_argument("data", nargs="+", help="datasets: IRMAS folders or labels CSVs")
    dist.add_argument("--names", default=None, help="comma-separated display names (default: folder names)")
    dist.add_argument("--out", required=True, help="folder for the plots and distribution.csv")


def parse_durations(text: str) -> list[float]:
    """``--durations "10,30,60"`` → ``[10.0, 30.0, 60.0]``; a :class:`ConfigError` naming the flag otherwise."""
    from instrumentid.errors import ConfigError

    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"--durations must be comma-separated seconds like 10,30,60, not {text!r}") from None
    if not values or any(v <= 0 for v in values):
        raise ConfigError(f"--durations must be positive seconds, got {text!r}")
    return values


def run(args: argparse.Namespace) -> int:
    from instrumentid.errors import ConfigError

    if args.action == "timing":
        from instrumentid.analysis.timing import DEFAULT_DURATIONS, timing_report

        durations = DEFAULT_DURATIONS if args.durations is None else parse_durations(args.durations)
        result = timing_report(args.model, durations, args.out, repeats=args.repeats)
        print(f"{'duration_s':>10}{'seconds':>10}{'x realtime':>12}")
        for row in result["rows"]:
            print(f"{row['duration_s']:>10g}{row['seconds']:>10.3f}{1 / row['real_time_factor']:>12.1f}")
        print(f"wrote {result['png']} and {result['csv']}")
        return 0
    from instrumentid.analysis.statistics import distribution_report

    names = [n.strip() for n in args.names.split(",")] if args.names else None
    if names and len(names) != len(args.data):
        raise ConfigError(f"--names has {len(names)} names for {len(args.data)} datasets")
    result = distribution_report(args.data, args.out, names=names)
    for name, s in result["summaries"].items():
        counts = " ".join(f"{c}={v}" for c, v in s["counts"].items())
        print(f"{name}: {s['n_files']} files, {s['n_groups']} songs, {s['duration_s']:.0f} s; {counts}")
    print(f"wrote {args.out}/label_distribution.png, label_distribution_fraction.png, distribution.csv")
    return 0
