"""Report writers: ``metrics.json``, ``predictions.csv``, a self-contained ``report.html``
(plots embedded as base64 PNG) and the compact text table printed by ``evaluate``.
"""

from __future__ import annotations

import base64
import csv
import html
import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from instrumentid.evaluation.metrics import SUMMARY_KEYS, macro_note


def _fmt(value, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return str(int(value))
    return f"{float(value):.{digits}f}"


def write_json(data: Mapping, path: str | os.PathLike) -> Path:
    """Write ``data`` as indented JSON (NaN is written as ``null``)."""

    def clean(obj):
        if isinstance(obj, Mapping):
            return {str(k): clean(v) for k, v in obj.items()}
        if isinstance(obj, (list, tuple)):
            return [clean(v) for v in obj]
        if isinstance(obj, np.ndarray):
            return clean(obj.tolist())
        if isinstance(obj, np.generic):
            obj = obj.item()
        if isinstance(obj, float) and not math.isfinite(obj):
            return None
        return obj

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(clean(data), indent=2) + "\n", encoding="utf-8")
    return path


def write_predictions_csv(
    path: str | os.PathLike,
    files: Sequence[str],
    y_true,
    y_score,
    y_pred,
    labels: Sequence[str],
    *,
    digits: int = 6,
) -> Path:
    """``file, true, <one score column per label>, predicted`` (label sets joined with ``;``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "true", *labels, "predicted"])
        for name, truth, scores, predicted in zip(
            files, np.asarray(y_true), np.asarray(y_score), np.asarray(y_pred), strict=True
        ):
            writer.writerow(
                [
                    name,
                    ";".join(c for c, t in zip(labels, truth, strict=True) if t),
                    *(f"{s:.{digits}f}" for s in scores),
                    ";".join(c for c, p in zip(labels, predicted, strict=True) if p),
                ]
            )
    return path


def format_table(metrics: Mapping, *, levels: Sequence[str] = ("file", "window")) -> str:
    """Compact text table: headline metrics per level, then per-instrument file-level metrics."""
    present = [lvl for lvl in levels if metrics.get(lvl)]
    lines = [f"{'metric':<24}" + "".join(f"{lvl:>10}" for lvl in present)]
    for key in SUMMARY_KEYS:
        lines.append(f"{key:<24}" + "".join(f"{_fmt(metrics[lvl].get(key)):>10}" for lvl in present))
    if present:
        lines.append(f"({macro_note(metrics[present[0]])})")
    per_label = metrics[present[0]]["per_label"] if present else {}
    if per_label:
        lines.append("")
        header = ["label", "support", "f1", "precision", "recall", "roc_auc", "ap", "thresh"]
        lines.append(f"{header[0]:<8}" + "".join(f"{h:>10}" for h in header[1:]))
        for code, row in per_label.items():
            values = [
                row["support"],
                row["f1"],
                row["precision"],
                row["recall"],
                row["roc_auc"],
                row["average_precision"],
                row["threshold"],
            ]
            lines.append(f"{code:<8}" + "".join(f"{_fmt(v):>10}" for v in values))
    return "\n".join(lines)


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2em auto;max-width:1100px;color:#222}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.9em;margin:.5em 0}
td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}
th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}img{max-width:100%;margin:.5em 0}
.meta{color:#555;font-size:.9em}code{background:#f4f4f4;padding:0 3px}
"""


def _table(header: Sequence[str], rows: Sequence[Sequence]) -> str:
    out = ["<table><tr>" + "".join(f"<th>{html.escape(str(h))}</th>" for h in header) + "</tr>"]
    for row in rows:
        out.append(
            "<tr>" + "".join(f"<td>{html.escape(_fmt(v) if not isinstance(v, str) else v)}</td>" for v in row) + "</tr>"
        )
    return "".join(out) + "</table>"


def embed_png(path: str | os.PathLike, alt: str) -> str:
    """An ``<img>`` tag with the PNG at ``path`` inlined as base64."""
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def write_html_report(
    path: str | os.PathLike,
    metrics: Mapping,
    plots: Mapping[str, str | os.PathLike],
    *,
    title: str = "instrumentid evaluation",
    info: Mapping[str, object] | None = None,
) -> Path:
    """Write a self-contained HTML report (no external files: plots are inlined).

    Parameters
    ----------
    path : output ``.html`` file.
    metrics : ``{"file": compute_metrics(...), "window": compute_metrics(...) or None, ...}``.
    plots : ``{caption: png_path}`` in display order.
    info : extra key/value lines shown under the title (dataset, model, thresholds...).
    """
    levels = [lvl for lvl in ("file", "window") if metrics.get(lvl)]
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>"
    ]
    if info:
        parts.append(
            "<div class='meta'>"
            + "<br>".join(f"<b>{html.escape(str(k))}</b>: {html.escape(str(v))}" for k, v in info.items())
            + "</div>"
        )
    parts.append("<h2>Summary</h2>")
    parts.append(_table(["metric", *levels], [[k, *(metrics[lvl].get(k) for lvl in levels)] for k in SUMMARY_KEYS]))
    if levels:
        parts.append(f"<p class='meta'>{html.escape(macro_note(metrics[levels[0]]))}</p>")
    for lvl in levels:
        per_label = metrics[lvl]["per_label"]
        parts.append(f"<h2>Per instrument ({lvl} level)</h2>")
        cols = ["support", "predicted", "f1", "precision", "recall", "roc_auc", "average_precision", "threshold"]
        parts.append(_table(["label", *cols], [[code, *(row[c] for c in cols)] for code, row in per_label.items()]))
    for caption, png in plots.items():
        parts.append(f"<h2>{html.escape(caption)}</h2>{embed_png(png, caption)}")
    parts.append(
        "<p class='meta'>ROC-AUC is undefined (–) for a label with only one class in the set, average "
        "precision for a label with no positives; precision/recall/F1 with a zero denominator are 0.</p>"
    )
    parts.append("</body></html>\n")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(parts), encoding="utf-8")
    return path
