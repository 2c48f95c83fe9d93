"""``instrumentid synth``: render an IRMAS-format dataset (see docs/synth.md)."""

from __future__ import annotations

import argparse
import sys

from instrumentid.labels import LABELS


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="output folder (IRMAS-TrainingData/, IRMAS-TestingData/, manifest.csv)")
    parser.add_argument("--train-per-class", type=int, default=100, metavar="N", help="3 s training clips per class (default 100)")
    parser.add_argument("--test-excerpts", type=int, default=20, metavar="M", help="multi-instrument test excerpts (default 20)")
    parser.add_argument("--negatives", "--mix-negatives", type=int, default=0, metavar="N",
                        help="also write N clips with no IRMAS instrument into negatives/ (default 0)")
    parser.add_argument("--test-tones", type=int, default=0, metavar="N",
                        help="also write N test signals with no instrument (sines, sweeps, dial tones, beeps) "
                             "into negatives/tone_NNNN.wav (default 0)")
    parser.add_argument("--seed", type=int, default=0, help="same seed, same bytes (default 0)")
    parser.add_argument("--jobs", type=int, default=1, metavar="J", help="worker processes (default 1)")
    parser.add_argument("--sample-rate", type=int, default=44100, help="Hz (default 44100, like IRMAS)")
    parser.add_argument("--soundfont", action="append", metavar="PATH",
                        help="SoundFont .sf2/.sf3 to use (repeatable); default: search installed ones")
    shared = parser.add_mutually_exclusive_group()
    shared.add_argument("--shared-data", metavar="PATH",
                        help="folder with real-notes/ and real-train/ (default: <repo>/../shared/data if present)")
    shared.add_argument("--no-shared-data", action="store_true", help="SoundFonts and the voice synthesiser only")
    parser.add_argument("--hold-out", action="append", default=[], metavar="PREFIX",
                        help="real-train/ path prefix never used as background or negative (repeatable; "
                             "keeps validation sources out of the rendered training data)")
    parser.add_argument("--classes", default=",".join(LABELS), help="comma-separated codes (default: all 11)")
    parser.add_argument("--test-seconds", type=float, nargs=2, default=(5.0, 20.0), metavar=("MIN", "MAX"),
                        help="test excerpt length range (default 5 20)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from instrumentid.synth import render_dataset

    classes = [c.strip() for c in args.classes.split(",") if c.strip()]
    out = render_dataset(
        args.out, train_per_class=args.train_per_class, test_excerpts=args.test_excerpts, negatives=args.negatives,
        seed=args.seed, jobs=args.jobs, sample_rate=args.sample_rate, soundfonts=args.soundfont,
        shared_data=False if args.no_shared_data else args.shared_data, classes=classes,
        progress=not args.quiet, test_seconds=tuple(args.test_seconds), hold_out=tuple(args.hold_out),
        tones=args.test_tones,
    )
    print(f"wrote {out}/manifest.csv", file=sys.stderr)
    return 0
