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
contiguous runs of such windows as ``[start_s, end_s]`` pairs (:func:`activity`;
windows below the noise floor never count); it is ``{}`` when nothing plays. A label can be
active in a few windows without being ``present`` for the whole file.

Records in a resumable log (``predict -o out.jsonl --resume``) also carry
``"source": {"size": bytes, "mtime_ns": ns}`` of the file (see :mod:`instrumentid.inference.sinks`).
CSV: one row per file (:func:`to_csv`), or with ``--segments`` one row per window
(:func:`to_segments_csv`, long format). Text cells that a spreadsheet would run as a formula
(``= + - @``, tab, CR) get a ``'`` prefix, and every cell with a CR or LF is quoted.

A file that fails yields ``{"file": ..., "error": "..."}``.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from instrumentid.inference.decision import is_present

SCORE_DECIMALS = 4


def scores_dict(labels: Sequence[str], scores: Sequence[float] | np.ndarray) -> dict[str, float]:
    return {code: round(float(s), SCORE_DECIMALS) for code, s in zip(labels, scores, strict=True)}


def present_labels(labels: Sequence[str], scores, thresholds) -> list[str]:
    """The codes whose score reaches their threshold, in label order.

    Presence is :func:`instrumentid.inference.decision.is_present`.
    """
    return [code for code, present in zip(labels, is_present(scores, thresholds), strict=True) if present]


def activity(
    starts_s: np.ndarray,
    window_scores: np.ndarray,
    thresholds,
    *,
    window_s: float,
    duration_s: float,
    labels,
    keep: np.ndarray | None = None,
) -> dict[str, list[list[float]]]:
    """When each label plays: ``{code: [[start_s, end_s], ...]}``, the contiguous runs of windows
    whose score reaches the label's threshold (overlapping or touching windows merge); silent
    windows (``keep`` False) never count. Labels that never reach it are left out."""
    on = is_present(window_scores, thresholds)
    if keep is not None:
        on &= np.asarray(keep, dtype=bool)[:, None]
    found: dict[str, list[list[float]]] = {}
    for j, code in enumerate(labels):
        runs: list[list[float]] = []
        for start in np.asarray(starts_s, dtype=np.float64)[on[:, j]]:
            end = min(start + window_s, duration_s)
            if runs and start <= runs[-1][1] + 1e-6:
                runs[-1][1] = max(runs[-1][1], end)
            else:
                runs.append([start, end])
        if runs:
            found[code] = [[round(float(a), 3), round(float(b), 3)] for a, b in runs]
    return found


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
        return {
            "file": record["file"],
            **{c: None for c in labels},
            "present": "",
            "duration_s": None,
            "warnings": "",
            "error": record["error"],
        }
    return {
        "file": record["file"],
        **{c: record["scores"][c] for c in labels},
        "present": ";".join(record["present"]),
        "duration_s": record["duration_s"],
        "warnings": ";".join(record.get("warnings", [])),
        "error": "",
    }


#: What a spreadsheet takes as the start of a formula (CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value):
    """``value`` safe for a spreadsheet: a text starting a formula gets a ``'`` prefix."""
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_START) else value


def _write_row(buffer: io.StringIO, row: Iterable) -> None:
    """One CSV row (``\n``-terminated) of :func:`csv_cell` cells; a row with a bare CR in a cell is
    quoted whole (the csv module quotes only the line terminator's characters, here LF)."""
    cells = ["" if cell is None else csv_cell(cell) for cell in row]
    carriage_return = any(isinstance(cell, str) and "\r" in cell for cell in cells)
    csv.writer(buffer, lineterminator="\n", quoting=csv.QUOTE_ALL if carriage_return else csv.QUOTE_MINIMAL).writerow(
        cells
    )


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
            _write_row(
                buffer,
                [
                    record["file"],
                    segment["start_s"],
                    segment["end_s"],
                    *(segment["scores"][c] for c in labels),
                    ";".join(segment["present"]),
                    "",
                ],
            )
    return buffer.getvalue()


def to_audacity(record: Mapping) -> str:
    """A file's ``activity`` as an Audacity label track: one ``start<TAB>end<TAB>code`` line per
    contiguous run, sorted by start (File > Import > Labels opens it as is)."""
    runs = sorted((start, end, code) for code, spans in record.get("activity", {}).items() for start, end in spans)
    return "".join(f"{start:.6f}\t{end:.6f}\t{code}\n" for start, end, code in runs)


#: Scores shown per row of the table (every score stays in JSON, JSONL and CSV).
TABLE_TOP = 5


def escape(text: str) -> str:
    """``text`` with control and other unprintable characters written as Python escapes (a newline
    in a file name is ``\\n``), so one record stays one line of the terminal."""
    return "".join(
        c if c.isprintable() else c.encode("unicode_escape", "backslashreplace").decode("ascii") for c in text
    )


def display_width(text: str) -> int:
    """Terminal cells of ``text``: wide and full-width characters (CJK) take 2, combining marks 0."""
    import unicodedata

    return sum(0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def display_names(files: Sequence[str]) -> dict[str, str]:
    """Each file name as the table shows it: relative to the files' common folder (distinct files
    keep distinct names), escaped; ``-`` (standard input) stays ``-``."""
    import os

    real = [f for f in files if f != "-"]
    root = os.path.commonpath([os.path.dirname(os.path.abspath(f)) for f in real]) if real else ""
    names = {f: escape(os.path.relpath(os.path.abspath(f), root)) for f in real}
    return {**names, **({"-": "-"} if "-" in files else {})}


def thresholds_line(labels: Sequence[str], thresholds, source: str) -> str:
    """The thresholds in force, in words: one for every label, or each label's."""
    values = np.broadcast_to(np.asarray(thresholds, dtype=float), (len(labels),))
    if np.allclose(values, values[0]):
        return f"present = score at or above {values[0]:.2f} ({source}, every label)"
    return f"present = score at or above its label's threshold ({source}): " + " ".join(
        f"{c} {t:.2f}" for c, t in zip(labels, values, strict=True)
    )


class Table:
    """The terminal table, written a row at a time as files finish (so an interrupted run keeps
    the rows it printed): file (relative to the common folder, escaped, padded by display
    width), duration, the present labels with their names, and the top :data:`TABLE_TOP` scores ×100.

    Parameters
    ----------
    files : every file name the records will carry (the first column's width and root come from them).
    labels, thresholds, source : the model's labels and the thresholds in force, and where they
        come from (``"the model's"``, ``"--threshold"``), for the line above the table.
    """

    def __init__(self, files: Sequence[str], labels: Sequence[str], thresholds, source: str) -> None:
        self.names = display_names(list(files))
        # at least 10: a window's span (`  9999.0-10000.0 s`) fits across this and the duration column
        self.width = max([10, *(display_width(n) for n in self.names.values())])
        self.labels, self.thresholds, self.source = list(labels), thresholds, source

    def _cell(self, text: str) -> str:
        return text + " " * (self.width - display_width(text))

    def header(self) -> str:
        """The thresholds line and the column heads."""
        shown = min(TABLE_TOP, len(self.labels))
        head = f"{self._cell('file')} {'dur_s':>7}  {f'top {shown} scores (x100)':<{9 * shown - 2}}  present"
        return f"{thresholds_line(self.labels, self.thresholds, self.source)}\n{head}\n{'-' * display_width(head)}\n"

    def row(self, record: Mapping) -> str:
        """One file's line (plus one per window with ``segments``), or its error."""
        name = self._cell(self.names.get(record["file"], escape(record["file"])))
        if is_error(record):
            return f"{name} ERROR: {escape(record['error'])}\n"
        notes = f"  ({', '.join(record['warnings'])})" if record.get("warnings") else ""
        lines = [f"{name} {record['duration_s']:>7.1f}  {self._scores(record)}{notes}"]
        for segment in record.get("segments", []):
            span = f"  {segment['start_s']:.1f}-{segment['end_s']:.1f} s"  # across the name and duration columns
            lines.append(f"{span:<{self.width + 8}}  {self._scores(segment)}")
        return "\n".join(lines) + "\n"

    def _scores(self, scored: Mapping) -> str:
        """The top scores, highest first (``gac  91``), then the present labels by name
        (``acoustic guitar (gac)``)."""
        from instrumentid.labels import NAMES

        top = sorted(self.labels, key=lambda c: -scored["scores"][c])[:TABLE_TOP]
        cells = "  ".join(f"{c:<3} {round(scored['scores'][c] * 100):>3d}" for c in top)
        present = ", ".join(f"{NAMES.get(c, c)} ({c})" for c in scored["present"]) or "-"
        return f"{cells}  {present}"
