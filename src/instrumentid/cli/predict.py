"""``instrumentid predict``: scores, present labels and an optional timeline per audio file."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterable, Iterator

from instrumentid.cli import options
from instrumentid.inference import schema
from instrumentid.inference.runtimes import RUNTIMES

FORMATS = ("table", "json", "jsonl", "csv", "parquet", "audacity")
ENGINES = ("local", "ray")
#: The path that means standard input.
STDIN = "-"

EXAMPLES = """\
examples:
  instrumentid predict song.mp3
  curl -s https://example.org/take.ogg | instrumentid predict -          # '-' reads standard input
  instrumentid predict a.wav b.flac --format json --segments
  instrumentid predict music/ --recursive --format jsonl > predictions.jsonl
  instrumentid predict music/ -r --format csv --output predictions.csv   # written atomically
  instrumentid predict take.wav --model my.iid --threshold 0.3
  instrumentid predict archive/ -r -f jsonl -o archive.jsonl --resume    # re-run after a crash: skips done files
  instrumentid predict archive/ -r -f jsonl -o archive.jsonl --resume --engine ray --ray-address auto
  instrumentid predict archive/ -r -f parquet -o archive-parquet/ --engine ray   # Parquet shards (pyarrow)
  instrumentid predict song.mp3 --model fast.onnx                        # onnxruntime, no torch import
  instrumentid predict music/ -r -f csv --labels irmas                   # only the 11 IRMAS labels
  instrumentid predict take.wav --labels sax,pia,dru                     # only these codes
  instrumentid predict song.mp3 -f audacity -o song.txt                  # an Audacity label track

output: one record per file: file, duration_s, scores (all labels of the model, or --labels),
present (scores at or above the bundle's per-label thresholds, or --threshold), activity (when
each label plays: [start_s, end_s] runs), segments (with --segments; in CSV one row per window).
-f audacity writes the activity as an Audacity label track (start, end, code; tab-separated):
to stdout or -o FILE for one file, one DIR/<name>.txt per file with -o DIR for several. A file
that cannot be read gets {"file", "error"}; the others are still processed and the exit code is
1. The table shows, per file, the present labels and the top scores; every score is in json,
jsonl and csv.
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EXAMPLES
    parser.add_argument(
        "paths",
        nargs="+",
        metavar="PATH",
        help="audio files or folders; '-' reads standard input (any format the decoders recognise)",
    )
    options.add_model(
        parser,
        help="a bundle (.iid), an exported graph (.onnx) or a bundled model name "
        "(default, fast, audioset-zeroshot); default: default",
    )
    parser.add_argument("--format", "-f", choices=FORMATS, default="table", help="output format (default: table)")
    parser.add_argument(
        "--output",
        "-o",
        metavar="FILE",
        help="write to FILE atomically instead of stdout (with -f parquet: a folder of part-*.parquet shards)",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="with -o FILE.jsonl: append each record as it is made and skip files already in "
        "FILE (same path, size and mtime); a killed run resumes where it stopped",
    )
    parser.add_argument("--segments", action="store_true", help="add per-window scores (a timeline)")
    parser.add_argument("--threshold", type=float, metavar="X", help="one threshold in [0, 1] for every label")
    options.add_labels(parser)
    options.add_aggregation(parser)
    parser.add_argument("--recursive", "-r", action="store_true", help="walk folders recursively")
    parser.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="windows per forward pass (default: 64 in PyTorch, 8 in onnxruntime)",
    )
    parser.add_argument(
        "--runtime",
        choices=RUNTIMES,
        default="auto",
        help="auto: onnxruntime for .onnx graphs (see 'instrumentid export'), torch for bundles",
    )
    parser.add_argument(
        "--engine",
        choices=ENGINES,
        default="local",
        help="local: this process; ray: a Ray cluster (extra 'scale'; records in completion order)",
    )
    parser.add_argument(
        "--ray-address",
        metavar="ADDR",
        default=None,
        help="with --engine ray: 'auto' or ray://HOST:10001 joins a cluster (default: start one here)",
    )
    parser.add_argument(
        "--ray-actors",
        type=int,
        metavar="N",
        default=None,
        help="with --engine ray: scoring actors (default: the cluster's CPUs minus one)",
    )
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from instrumentid.fileio import progress_bar
    from instrumentid.inference.predictor import iter_audio_files

    _check(args)
    with contextlib.ExitStack() as stack:
        inputs, aliases = _inputs(args.paths, stack)
        paths = _nonempty(iter_audio_files(inputs, recursive=args.recursive))
        if paths is None:
            print("instrumentid predict: no audio files found in " + ", ".join(args.paths), file=sys.stderr)
            return 1
        if args.resume:
            return _run_resumable(args, paths)
        if args.format == "table":
            paths = list(paths)  # the table's first column is sized and rooted from every name
        records, predictor = _records(args, progress_bar(paths, desc="predicting", unit="file", quiet=args.quiet))
        table = (
            _table(args, predictor, [aliases.get(str(p), str(p)) for p in paths]) if args.format == "table" else None
        )
        return _write(args, _as_given(records, aliases), _in_force(args, predictor)[0], table)


def _inputs(paths: list[str], stack: contextlib.ExitStack) -> tuple[list[str], dict[str, str]]:
    """The paths to read, with standard input (``-``) copied to a temporary file that ``stack``
    removes, and ``{temporary path: "-"}`` to name its record as given."""
    from instrumentid.fileio import stdin_file

    inputs, aliases = [], {}
    for path in paths:
        if path == STDIN and not aliases:
            path = str(stack.enter_context(stdin_file()))
            aliases[path] = STDIN
        inputs.append(path)
    return inputs, aliases


def _as_given(records: Iterable[dict], aliases: dict[str, str]) -> Iterator[dict]:
    """``records`` with a temporary file's name (in ``file`` and its error) replaced by the one given."""
    for record in records:
        given = aliases.get(record["file"])
        if given is not None:
            record = {**record, "file": given}
            if schema.is_error(record):
                record["error"] = record["error"].replace(next(iter(aliases)), given)
        yield record


def _in_force(args: argparse.Namespace, predictor) -> tuple[tuple[str, ...], object]:
    """The labels of the records (the model's, or ``--labels``) and their thresholds in force."""
    columns = predictor.label_columns(args.labels)
    thresholds = args.threshold if args.threshold is not None else predictor.thresholds[columns]
    return tuple(predictor.labels[j] for j in columns), thresholds


def _table(args: argparse.Namespace, predictor, names: list[str]) -> schema.Table:
    """The table for ``names``, stating the thresholds in force (``--threshold`` or the model's)."""
    labels, thresholds = _in_force(args, predictor)
    return schema.Table(names, labels, thresholds, "--threshold" if args.threshold is not None else "the model's")


def _check(args: argparse.Namespace) -> None:
    from instrumentid.errors import ConfigError
    from instrumentid.inference.decision import check_threshold

    if args.threshold is not None:
        check_threshold(args.threshold, "--threshold")
    if args.resume and STDIN in args.paths:
        raise ConfigError("--resume cannot skip standard input ('-'): give file paths")
    if args.resume and (args.output is None or args.format != "jsonl"):
        raise ConfigError("--resume needs --format jsonl and --output FILE (records are appended line by line)")
    if args.format == "audacity" and args.resume:
        raise ConfigError("-f audacity writes label tracks; --resume goes with -f jsonl")
    several = len(args.paths) > 1 or any(os.path.isdir(p) for p in args.paths)
    if args.format == "audacity" and several and not (args.output and os.path.isdir(args.output)):
        raise ConfigError("-f audacity with several files needs -o DIR (an existing folder): one label track per file")
    if args.format == "parquet" and (args.output is None or args.segments):
        raise ConfigError("-f parquet writes one row per file into the folder -o DIR (no --segments; use jsonl)")
    if args.engine != "ray" and (args.ray_address or args.ray_actors):
        raise ConfigError("--ray-address and --ray-actors go with --engine ray")


def _nonempty(items: Iterator) -> Iterator | None:
    """``items`` unchanged, or None when it is empty (looks at the first item only)."""
    for first in items:
        return _chain(first, items)
    return None


def _chain(first, rest: Iterator) -> Iterator:
    yield first
    yield from rest


def _records(args: argparse.Namespace, paths: Iterable) -> tuple[Iterator[dict], object]:
    """The engine's records for ``paths`` and the predictor (its labels and thresholds)."""
    from instrumentid.inference.predictor import Predictor

    predictor = Predictor.from_bundle(args.model, runtime=args.runtime, batch_size=args.batch_size)
    if args.engine == "ray":
        from instrumentid.inference.ray_engine import predict_files

        records = predict_files(
            paths,
            predictor,
            address=args.ray_address,
            actors=args.ray_actors,
            batch_size=args.batch_size,
            segments=args.segments,
            threshold=args.threshold,
            aggregation=args.aggregation,
            labels=args.labels,
        )
    else:
        records = predictor.predict_files(
            paths, segments=args.segments, threshold=args.threshold, aggregation=args.aggregation, labels=args.labels
        )
    return records, predictor


def _report(record: dict) -> bool:
    """Print a failed record's error; True when it failed."""
    if schema.is_error(record):
        print(f"instrumentid predict: {schema.escape(record['error'])}", file=sys.stderr)
        return True
    return False


def _write(
    args: argparse.Namespace, records: Iterable[dict], labels: tuple[str, ...], table: schema.Table | None = None
) -> int:
    """Write ``records`` in ``args.format``: jsonl and table rows as each file finishes, the others
    at the end; the exit code (1 when a file failed)."""
    from instrumentid.inference.sinks import ParquetShards, TextSink

    failed = 0
    if args.format == "audacity":
        return _write_audacity(args, records)
    if args.format == "parquet":
        with ParquetShards(args.output, labels) as shards:
            for record in records:
                failed += _report(record)
                shards.write(record)
        return 1 if failed else 0
    collected = []
    with TextSink(args.output) as sink:
        if table is not None:
            sink.write(table.header())
        for record in records:
            failed += _report(record)
            if args.format == "jsonl":
                sink.write(schema.to_jsonl_line(record))
            elif table is not None:
                sink.write(table.row(record))
            else:
                collected.append(record)
        if args.format == "json":
            sink.write(schema.to_json(collected))
        elif args.format == "csv" and args.segments:
            sink.write(schema.to_segments_csv(collected, labels))
        elif args.format == "csv":
            sink.write(schema.to_csv(collected, labels))
    return 1 if failed else 0


def _write_audacity(args: argparse.Namespace, records: Iterable[dict]) -> int:
    """One label track: to stdout or ``-o FILE`` for one file; ``-o DIR/<name>.txt`` per file for several."""
    from pathlib import Path

    from instrumentid.inference.sinks import TextSink

    records = list(records)
    failed = sum(_report(record) for record in records)
    done = [record for record in records if not schema.is_error(record)]
    if not (args.output and Path(args.output).is_dir()):
        with TextSink(args.output) as sink:
            sink.write(schema.to_audacity(done[0]) if done else "")
        return 1 if failed else 0
    used: set[str] = set()
    for record in done:
        name = _unique(Path(record["file"]).stem, used)
        with TextSink(Path(args.output) / f"{name}.txt") as sink:
            sink.write(schema.to_audacity(record))
    return 1 if failed else 0


def _unique(stem: str, used: set[str]) -> str:
    """``stem``, or ``stem-2``, ``stem-3``… when another file of the run had the same name."""
    name, k = stem or "audio", 1
    while name in used:
        k += 1
        name = f"{stem}-{k}"
    used.add(name)
    return name


def _run_resumable(args: argparse.Namespace, paths: Iterable) -> int:
    from instrumentid.fileio import progress_bar
    from instrumentid.inference.sinks import ResumableLog

    with ResumableLog(args.output) as log:
        skipped = 0

        def todo():
            nonlocal skipped
            for path in progress_bar(paths, desc="predicting", unit="file", quiet=args.quiet):
                if log.seen(path):
                    skipped += 1
                else:
                    yield path

        records, _ = _records(args, todo())
        failed = 0
        for record in records:
            failed += _report(record)
            log.write(record)
    print(
        f"instrumentid predict: {log.written - failed} done, {skipped} skipped (already in {args.output}), "
        f"{failed} failed",
        file=sys.stderr,
    )
    return 1 if failed else 0
