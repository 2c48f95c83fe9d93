"""``instrumentid predict``: scores, present labels and an optional timeline per audio file."""

from __future__ import annotations

import argparse

from instrumentid.cli import options
import os
import sys
import tempfile
from pathlib import Path

from instrumentid import schema

FORMATS = ("table", "json", "jsonl", "csv")

EXAMPLES = """\
examples:
  instrumentid predict song.mp3
  instrumentid predict a.wav b.flac --format json --segments
  instrumentid predict music/ --recursive --format jsonl > predictions.jsonl
  instrumentid predict music/ -r --format csv --output predictions.csv   # written atomically
  instrumentid predict take.wav --model my.iid --threshold 0.3

output: one record per file: file, duration_s, scores (all labels), present (scores at or
above the bundle's per-label thresholds, or --threshold), segments (with --segments). A file
that cannot be read gets {"file", "error"}; the others are still processed and the exit
code is 1.
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EXAMPLES
    parser.add_argument("paths", nargs="+", metavar="PATH", help="audio files or folders")
    options.add_model(parser)
    parser.add_argument("--format", "-f", choices=FORMATS, default="table", help="output format (default: table)")
    parser.add_argument("--output", "-o", metavar="FILE", help="write to FILE atomically instead of stdout")
    parser.add_argument("--segments", action="store_true", help="add per-window scores (a timeline)")
    parser.add_argument("--threshold", type=float, metavar="X", help="one threshold in [0, 1] for every label")
    options.add_aggregation(parser)
    parser.add_argument("--recursive", "-r", action="store_true", help="walk folders recursively")
    parser.add_argument("--batch-size", type=int, default=64, help="windows per forward pass (default: 64)")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from instrumentid.errors import ConfigError
    from instrumentid.predict import Predictor, find_audio_files

    if args.threshold is not None and not 0.0 <= args.threshold <= 1.0:
        raise ConfigError(f"--threshold must be between 0 and 1, got {args.threshold}")
    predictor = Predictor.from_bundle(args.model, batch_size=args.batch_size)
    paths = find_audio_files(args.paths, recursive=args.recursive)
    if not paths:
        print("instrumentid predict: no audio files found in " + ", ".join(args.paths), file=sys.stderr)
        return 1
    show_progress = not args.quiet and sys.stderr.isatty()
    records = predictor.predict_files(
        tqdm(paths, desc="predicting", unit="file", disable=not show_progress),
        segments=args.segments, threshold=args.threshold, aggregation=args.aggregation,
    )
    failed = 0
    with _Sink(args.output) as sink:
        collected = []
        for record in records:
            if schema.is_error(record):
                failed += 1
                print(f"instrumentid predict: {record['error']}", file=sys.stderr)
            if args.format == "jsonl":
                sink.write(schema.to_jsonl_line(record))
            else:
                collected.append(record)
        if args.format == "json":
            sink.write(schema.to_json(collected))
        elif args.format == "csv":
            sink.write(schema.to_csv(collected, predictor.labels))
        elif args.format == "table":
            sink.write(schema.to_table(collected, predictor.labels))
    return 1 if failed else 0


class _Sink:
    """stdout (flushed per write, so jsonl streams) or a file replaced atomically on success."""

    def __init__(self, output: str | None) -> None:
        self.output = Path(output) if output else None
        self.handle = sys.stdout
        self.tmp: str | None = None

    def __enter__(self):
        if self.output is not None:
            self.output.parent.mkdir(parents=True, exist_ok=True)
            fd, self.tmp = tempfile.mkstemp(prefix=f".{self.output.name}.", dir=self.output.parent)
            self.handle = os.fdopen(fd, "w", encoding="utf-8", newline="")
        return self

    def write(self, text: str) -> None:
        self.handle.write(text)
        self.handle.flush()

    def __exit__(self, exc_type, exc, tb):
        if self.output is None:
            return False
        self.handle.close()
        if exc_type is None:
            os.replace(self.tmp, self.output)
        else:
            Path(self.tmp).unlink(missing_ok=True)
        return False
