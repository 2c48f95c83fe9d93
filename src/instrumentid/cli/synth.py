"""``instrumentid synth``: render an IRMAS-format dataset (see docs/synth.md)."""

from __future__ import annotations

import argparse
import sys

from instrumentid.labels import parse_label_set


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out", required=True, help="output folder (IRMAS-TrainingData/, IRMAS-TestingData/, manifest.csv)"
    )
    parser.add_argument(
        "--train-per-class", type=int, default=100, metavar="N", help="3 s training clips per class (default 100)"
    )
    parser.add_argument(
        "--test-excerpts", type=int, default=20, metavar="M", help="multi-instrument test excerpts (default 20)"
    )
    parser.add_argument(
        "--negatives",
        "--mix-negatives",
        type=int,
        default=0,
        metavar="N",
        help="also write N clips with no IRMAS instrument into negatives/ (default 0)",
    )
    parser.add_argument(
        "--test-tones",
        type=int,
        default=0,
        metavar="N",
        help="also write N test signals with no instrument (sines, sweeps, dial tones, beeps) "
        "into negatives/tone_NNNN.wav (default 0)",
    )
    parser.add_argument("--seed", type=int, default=0, help="same seed, same bytes (default 0)")
    parser.add_argument("--jobs", type=int, default=1, metavar="J", help="worker processes (default 1)")
    parser.add_argument("--sample-rate", type=int, default=44100, help="Hz (default 44100, like IRMAS)")
    parser.add_argument(
        "--soundfont",
        action="append",
        metavar="PATH",
        help="SoundFont .sf2/.sf3 to use (repeatable); default: search installed ones",
    )
    shared = parser.add_mutually_exclusive_group()
    shared.add_argument(
        "--shared-data",
        metavar="PATH",
        help="folder with real-notes/ and real-train/ (default: <repo>/../shared/data if present)",
    )
    shared.add_argument("--no-shared-data", action="store_true", help="SoundFonts and the voice synthesiser only")
    parser.add_argument(
        "--hold-out",
        action="append",
        default=[],
        metavar="PREFIX",
        help="real-train/ path prefix never used as background or negative (repeatable; "
        "keeps validation sources out of the rendered training data)",
    )
    parser.add_argument(
        "--classes",
        default="irmas",
        metavar="SET",
        help="irmas (default: the 11 IRMAS codes), extended, all, or comma-separated vocabulary "
        "codes; codes General MIDI cannot play (man, uke, tab) are skipped with a message",
    )
    parser.add_argument(
        "--test-seconds",
        type=float,
        nargs=2,
        default=(5.0, 20.0),
        metavar=("MIN", "MAX"),
        help="test excerpt length range (default 5 20)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _classes(text: str) -> list[str]:
    """The renderable codes of ``--classes``; one line on stderr names those that cannot be."""
    from instrumentid.errors import SynthError
    from instrumentid.synth.dataset import unrenderable_message
    from instrumentid.synth.soundfonts import renderable

    try:
        codes = parse_label_set(text)
    except ValueError as exc:
        raise SynthError(str(exc).replace("--labels", "--classes")) from None
    kept = [c for c in codes if renderable(c)]
    skipped = [c for c in codes if c not in kept]
    if skipped:
        print(f"synth: {unrenderable_message(skipped)}; {'skipped' if kept else 'nothing to render'}", file=sys.stderr)
    return kept


def run(args: argparse.Namespace) -> int:
    from instrumentid.synth import render_dataset

    classes = _classes(args.classes)
    if not classes:
        return 2
    out = render_dataset(
        args.out,
        train_per_class=args.train_per_class,
        test_excerpts=args.test_excerpts,
        negatives=args.negatives,
        seed=args.seed,
        jobs=args.jobs,
        sample_rate=args.sample_rate,
        soundfonts=args.soundfont,
        shared_data=False if args.no_shared_data else args.shared_data,
        classes=classes,
        progress=not args.quiet,
        test_seconds=tuple(args.test_seconds),
        hold_out=tuple(args.hold_out),
        tones=args.test_tones,
    )
    print(f"wrote {out}/manifest.csv", file=sys.stderr)
    return 0
