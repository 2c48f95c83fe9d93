"""The ``predict`` output record (the contract) and its serialisations.

One record per audio file, the same for the CLI, the Python API and the server::

    {"file": "songs/a.wav", "duration_s": 12.4,
     "scores": {"cel": 0.02, ..., "voi": 0.88},        # every label of the bundle
     "present": ["gac", "voi"],                        # scores >= per-label thresholds
     "activity": {"gac": [[0.0, 12.4]], "voi": [[3.8, 9.6]]},  # when each label plays (always)
     "segments": [{"start_s": 0.0, "end_s": 3.0, "scores": {...}, "present": [...]}],  # --segments
     "warnings": ["short"]}                            # only when there is something to say:
                                                       # all-silent / near-silent (present is then
                                                       # empty), short (under one window)

``activity`` holds, for every label whose window scores reach its threshold somewhere, the
contiguous runs of such windows as ``[start_s, end_s]`` pairs (:func:`instrumentid.windows.activity`;
windows below the noise floor never count); it is ``{}`` when nothing plays. A label can be
active in a few windows without being ``present`` for the whole file.

Records in a resumable log (``predict -o out.jsonl --resume``) also carry
``"source": {"size": bytes, "mtime_ns": ns}`` of the file (see :mod:`instrumentid.sinks`).
CSV: one row per file (:func:`to_csv`), or with ``--segments`` one row per window
(:func:`to_segments_csv`, long format). Text cells that a spreadsheet would run as a formula
(``= + - @``, tab, CR) get a ``'`` prefix, and every cell with a CR or LF is quoted.

A file that fails yields ``{"file": ..., "error": "..."}``.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from instrumentid.thresholds import is_present

SCORE_DECIMALS = 4


def scores_dict(labels: Sequence[str], scores: Sequence[float] | np.ndarray) -> dict[str, float]:
    return {code: round(float(s), SCORE_DECIMALS) for code, s in zip(labels, scores)}


def present_labels(labels: Sequence[str], scores, thresholds) -> list[str]:
    """The codes whose score reaches their threshold (:func:`instrumentid.thresholds.is_present`), in label order."""
    return [code for code, present in zip(labels, is_present(scores, thresholds)) if present]


def make_record(
    file: str,
    duration_s: float,
    labels: Sequence[str],
    scores,
    thresholds,
    *,
    activity: Mapping[str, list] | None = None,
    segments: list[dict] | None = None,
    warnings: list[str] | None = None,
    abstain: bool = False,
) -> dict:
    """One file's record; ``abstain`` (silence) keeps the scores but names no instrument."""
    record = {
        "file": file,
        "duration_s": round(float(duration_s), 3),
        "scores": scores_dict(labels, scores),
        "present": [] if abstain else present_labels(labels, scores, thresholds),
        "activity": {} if abstain or activity is None else dict(activity),
    }
    if segments is not None:
        record["segments"] = segments
    if warnings:
        record["warnings"] = list(warnings)
    return record


def make_segment(start_s: float, end_s: float, labels, scores, thresholds, *, abstain: bool = False) -> dict:
    return {
        "start_s": round(float(start_s), 3),
        "end_s": round(float(end_s), 3),
        "scores": scores_dict(labels, scores),
        "present": [] if abstain else present_labels(labels, scores, thresholds),
    }


def error_record(file: str, message: str) -> dict:
    return {"file": file, "error": message}


def is_error(record: Mapping) -> bool:
    return "error" in record


def to_json(records: Sequence[Mapping]) -> str:
    return json.dumps(list(records), indent=2, ensure_ascii=False) + "\n"


def to_jsonl_line(record: Mapping) -> str:
    return json.dumps(record, ensure_ascii=False) + "\n"


def csv_header(labels: Sequence[str]) -> list[str]:
    return ["file", *labels, "present", "duration_s", "warnings", "error"]


def flat_row(record: Mapping, labels: Sequence[str]) -> dict:
    """One file's record as a flat row (the CSV and Parquet shape): ``file``, one score per label,
    ``present`` and ``warnings`` (``;``-joined), ``duration_s``, ``error`` (scores None for an error)."""
    if is_error(record):
        return {"file": record["file"], **{c: None for c in labels}, "present": "", "duration_s": None,
                "warnings": "", "error": record["error"]}
    return {"file": record["file"], **{c: record["scores"][c] for c in labels}, "present": ";".join(record["present"]),
            "duration_s": record["duration_s"], "warnings": ";".join(record.get("warnings", [])), "error": ""}


#: What a spreadsheet takes as the start of a formula (CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
#: Characters a terminal may act on: C0 and C1 controls, DEL.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def csv_cell(value):
    """``value`` safe for a spreadsheet: a text starting a formula gets a ``'`` prefix."""
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_START) else value


def _write_row(buffer: io.StringIO, row: Iterable) -> None:
    """One CSV row (``\n``-terminated) of :func:`csv_cell` cells; a row with a bare CR in a cell is
    quoted whole (the csv module quotes only the line terminator's characters, here LF)."""
    cells = ["" if cell is None else csv_cell(cell) for cell in row]
    carriage_return = any(isinstance(cell, str) and "\r" in cell for cell in cells)
    csv.writer(buffer, lineterminator="\n", quoting=csv.QUOTE_ALL if carriage_return else csv.QUOTE_MINIMAL
               ).writerow(cells)


def for_terminal(text: str) -> str:
    """``text`` with control characters (escape sequences) and undecodable bytes shown as escapes."""
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return _CONTROL.sub(lambda match: match.group().encode("unicode_escape").decode("ascii"), text)


def to_csv(records: Iterable[Mapping], labels: Sequence[str]) -> str:
    """``file`` + one score column per label (the Lumen/IRMAS CSV shape), then present,
    duration_s, warnings (``;``-joined) and error: :func:`flat_row` per file."""
    buffer, header = io.StringIO(), csv_header(labels)
    _write_row(buffer, header)
    for record in records:
        row = flat_row(record, labels)
        _write_row(buffer, (row[column] for column in header))
    return buffer.getvalue()


def segments_csv_header(labels: Sequence[str]) -> list[str]:
    return ["file", "start_s", "end_s", *labels, "present", "error"]


def to_segments_csv(records: Iterable[Mapping], labels: Sequence[str]) -> str:
    """The timeline in long format: one row per window (``file, start_s, end_s``, one score
    column per label, ``present``); a file that failed gets one row with its ``error``."""
    buffer = io.StringIO()
    _write_row(buffer, segments_csv_header(labels))
    for record in records:
        if is_error(record):
            _write_row(buffer, [record["file"], "", "", *([""] * len(labels)), "", record["error"]])
            continue
        for segment in record.get("segments", []):
            _write_row(buffer, [record["file"], segment["start_s"], segment["end_s"],
                                *(segment["scores"][c] for c in labels), ";".join(segment["present"]), ""])
    return buffer.getvalue()


def to_audacity(record: Mapping) -> str:
    """A file's ``activity`` as an Audacity label track: one ``start<TAB>end<TAB>code`` line per
    contiguous run, sorted by start (File > Import > Labels opens it as is)."""
    runs = sorted((start, end, code) for code, spans in record.get("activity", {}).items() for start, end in spans)
    return "".join(f"{start:.6f}\t{end:.6f}\t{code}\n" for start, end, code in runs)


def to_table(records: Sequence[Mapping], labels: Sequence[str]) -> str:
    """A fixed-width table for terminals: one row per file, scores ×100, present codes."""
    name_width = min(40, max([4, *(len(_short(for_terminal(r["file"]))) for r in records)]))
    header = f"{'file':<{name_width}} {'dur_s':>7} " + " ".join(f"{c:>4}" for c in labels) + "  present"
    lines = [header, "-" * len(header)]
    for record in records:
        name = _short(for_terminal(record["file"]))[-name_width:]
        if is_error(record):
            lines.append(f"{name:<{name_width}} ERROR: {for_terminal(record['error'])}")
            continue
        cells = " ".join(f"{round(record['scores'][c] * 100):>4d}" for c in labels)
        present = ",".join(record["present"]) or "-"
        notes = f"  ({', '.join(record['warnings'])})" if record.get("warnings") else ""
        lines.append(f"{name:<{name_width}} {record['duration_s']:>7.1f} {cells}  {present}{notes}")
        for segment in record.get("segments", []):
            span = f"  {segment['start_s']:.1f}-{segment['end_s']:.1f} s"
            cells = " ".join(f"{round(segment['scores'][c] * 100):>4d}" for c in labels)
            lines.append(f"{span:<{name_width}} {'':>7} {cells}  {','.join(segment['present']) or '-'}")
    lines.append("(scores x100; present = at or above the bundle's per-label thresholds)")
    return "\n".join(lines) + "\n"


def _short(path: str) -> str:
    return path.rsplit("/", 1)[-1] if len(path) > 40 else path
