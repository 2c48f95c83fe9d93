"""Where ``predict`` records go: stdout, a file replaced atomically, or a resumable JSONL log.

:class:`ResumableLog` is for corpus-scale runs: every record is appended as one line the moment
it exists (one ``write`` on an ``O_APPEND`` descriptor), so a ``kill -9`` loses at most the files
in flight; the next run with ``--resume`` reads the log back, drops a torn last line, and skips
every file whose record is already there with the same size and modification time. Records
in such a log carry ``"source": {"size": bytes, "mtime_ns": ns}`` for that check.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path

from instrumentid.errors import ConfigError
from instrumentid.extras import need
from instrumentid.fileio import atomic_path, is_special_output
from instrumentid.inference import schema


def source_stat(path: str | os.PathLike) -> dict:
    """``{"size", "mtime_ns"}`` of a file (both None when it cannot be read)."""
    try:
        stat = os.stat(path)
    except OSError:
        return {"size": None, "mtime_ns": None}
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _record_prefix(line: bytes) -> bool:
    """Could ``line`` be the start of a record line (a torn one)?"""
    return line.startswith(RECORD_START) or RECORD_START.startswith(line)


def _key(file: str, source: Mapping | None) -> tuple:
    source = source or {}
    return str(file), source.get("size"), source.get("mtime_ns")


class TextSink:
    """stdout (flushed per write, so JSONL streams) or a file that replaces ``output`` atomically
    when the run completes (nothing is left behind when it fails); an existing FIFO or device
    (``/dev/stdout``) is written in place."""

    def __init__(self, output: str | os.PathLike | None) -> None:
        self.output = Path(output) if output else None
        self._stack = contextlib.ExitStack()
        self.handle = sys.stdout

    def __enter__(self) -> TextSink:
        if self.output is not None:
            with self._stack.pop_all() as stack:  # undone if opening fails half-way
                # a FIFO or /dev/stdout is written in place: replacing it would break the reader or the device
                target = (
                    self.output if is_special_output(self.output) else stack.enter_context(atomic_path(self.output))
                )
                self.handle = stack.enter_context(open(target, "w", encoding="utf-8", newline=""))
                self._stack = stack.pop_all()
        return self

    def write(self, text: str) -> None:
        self.handle.write(text)
        self.handle.flush()

    def __exit__(self, *exc) -> bool:
        return self._stack.__exit__(*exc)


#: Longest line read back from a resume log (bytes); a record with a 10-h timeline is about 10 MB.
MAX_LOG_LINE = 2**26
#: How every line of a resume log starts (:func:`schema.to_jsonl_line` of a record: ``file`` first).
RECORD_START = b'{"file": '


class ResumableLog:
    """An append-only JSONL file of records that a later run can resume from.

    Only a log of records is touched: a symlink, a special file, or any line that is not one of
    this log's records (or a torn last line that is not the start of one) is refused, not truncated.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            raise ConfigError(f"{self.path}: is a folder; give a file name for the output")
        if self.path.is_symlink() or (self.path.exists() and not self.path.is_file()):
            raise ConfigError(
                f"{self.path}: is a symlink or not a regular file; a resumable log appends only to a plain file"
            )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.done: set[tuple] = self._read_back() if self.path.exists() else set()
        try:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o666)
        except OSError as exc:
            raise ConfigError(f"{self.path}: cannot write the output ({exc.strerror})") from None
        self.written = 0

    def _read_back(self) -> set[tuple]:
        done, good = set(), 0
        with open(self.path, "rb") as handle:
            for number, line in enumerate(iter(lambda: handle.readline(MAX_LOG_LINE + 1), b""), 1):
                if len(line) <= MAX_LOG_LINE and not line.endswith(b"\n") and _record_prefix(line):
                    break  # the last line, torn by a kill: dropped, its file is predicted again
                done.add(self._parse(line, number))
                good += len(line)
        if good < self.path.stat().st_size:
            os.truncate(self.path, good)
        return done

    def _parse(self, line: bytes, number: int) -> tuple:
        """The resume key of line ``number``; ConfigError when it is not one of this log's records."""
        try:
            record = json.loads(line) if len(line) <= MAX_LOG_LINE and line.endswith(b"\n") else None
        except ValueError:
            record = None
        if not (
            isinstance(record, dict) and isinstance(record.get("file"), str) and isinstance(record.get("source"), dict)
        ):
            raise ConfigError(
                f"{self.path}: line {number} is not a predict record (or is longer than "
                f"{MAX_LOG_LINE} bytes); is this a resumable predict log? Nothing was changed"
            )
        return _key(record["file"], record["source"])

    def seen(self, path: str | os.PathLike) -> bool:
        """Is the record of this file (same size and modification time) already in the log?"""
        return _key(str(path), source_stat(path)) in self.done

    def write(self, record: Mapping) -> None:
        record = {**record, "source": source_stat(record["file"])}
        data = memoryview(schema.to_jsonl_line(record).encode("utf-8"))
        while data:  # one write() in practice; a short write continues where it stopped
            data = data[os.write(self._fd, data) :]
        self.written += 1

    def close(self) -> None:
        os.fsync(self._fd)
        os.close(self._fd)

    def __enter__(self) -> ResumableLog:
        return self

    def __exit__(self, *exc) -> bool:
        self.close()
        return False


class ParquetShards:
    """Records as flat rows (:func:`schema.flat_row`) in Parquet files ``part-00000.parquet``, …
    under a folder, ``rows_per_shard`` rows each; every shard is written atomically as it fills,
    so memory holds at most one shard. Needs pyarrow (the ``scale`` extra)."""

    def __init__(self, folder: str | os.PathLike, labels, *, rows_per_shard: int = 10_000) -> None:
        need("pyarrow", "Parquet output")
        self.folder = Path(folder)
        if self.folder.exists() and not self.folder.is_dir():
            raise ConfigError(f"{self.folder}: Parquet shards go into a folder; this is a file")
        if self.folder.is_dir() and any(self.folder.glob("part-*.parquet")):
            raise ConfigError(f"{self.folder}: already holds part-*.parquet shards; give an empty or new folder")
        self.labels, self.rows_per_shard = tuple(labels), int(rows_per_shard)
        self.rows: list[dict] = []
        self.shards = 0

    def write(self, record: Mapping) -> None:
        self.rows.append(schema.flat_row(record, self.labels))
        if len(self.rows) >= self.rows_per_shard:
            self._flush()

    def _flush(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if not self.rows and self.shards:
            return
        columns = schema.csv_header(self.labels)
        table = pa.table(
            {c: [row[c] for row in self.rows] for c in columns},
            schema=pa.schema(
                [(c, pa.float64() if c in self.labels or c == "duration_s" else pa.string()) for c in columns]
            ),
        )
        with atomic_path(self.folder / f"part-{self.shards:05d}.parquet") as tmp:
            pq.write_table(table, tmp)
        self.shards += 1
        self.rows = []

    def __enter__(self) -> ParquetShards:
        return self

    def __exit__(self, exc_type, *exc) -> bool:
        if exc_type is None:
            self._flush()
        return False
