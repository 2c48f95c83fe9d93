"""Dataset statistics: label distribution, instruments per file, audio duration."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from instrumentid.labels import LABELS


def dataset_summary(examples: Sequence, *, durations: bool = True) -> dict:
    """Label matrix ``y`` (n, n_labels), per-label counts, instruments-per-file counts and the
    total audio duration (from file headers; unreadable files are counted in ``unreadable``)."""
    from instrumentid import audio
    from instrumentid.data.datasets import label_matrix
    from instrumentid.errors import AudioError

    y = label_matrix(examples, LABELS)
    total, unreadable = 0.0, 0
    if durations:
        for example in examples:
            try:
                total += audio.info(example.path).duration_seconds
            except AudioError:
                unreadable += 1
    return {
        "y": y,
        "n_files": len(examples),
        "n_groups": len({e.group for e in examples}),
        "counts": dict(zip(LABELS, map(int, y.sum(axis=0)), strict=True)),
        "instruments_per_file": dict(enumerate(np.bincount(y.sum(axis=1), minlength=1).tolist())),
        "duration_s": total if durations else None,
        "unreadable": unreadable,
    }


def distribution_report(
    datasets: Sequence, out, *, names: Sequence[str] | None = None, labels_files: Sequence | None = None
) -> dict:
    """Label distribution of one or several datasets side by side.

    Writes ``label_distribution.png`` (counts), ``label_distribution_fraction.png`` (fraction of
    files), ``instrument_count.png`` per dataset and ``distribution.csv`` into ``out``.
    """
    from instrumentid.data.datasets import load_examples
    from instrumentid.evaluation import plots as P

    names = list(names) if names else [Path(d).name or str(d) for d in datasets]
    if len(set(names)) < len(names):
        names = [f"{i + 1}:{n}" for i, n in enumerate(names)]
    labels_files = list(labels_files) if labels_files else [None] * len(datasets)
    summaries = {
        n: dataset_summary(load_examples(d, labels_file=lf))
        for n, d, lf in zip(names, datasets, labels_files, strict=True)
    }
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ys = {n: s["y"] for n, s in summaries.items()}
    files = {
        "counts": P.label_distribution(ys, LABELS, out / "label_distribution.png"),
        "fractions": P.label_distribution(ys, LABELS, out / "label_distribution_fraction.png", normalize=True),
    }
    for i, (n, y) in enumerate(ys.items()):
        files[f"instrument_count_{i}"] = P.instrument_count_histogram(
            y,
            out / ("instrument_count.png" if len(ys) == 1 else f"instrument_count_{i + 1}.png"),
            title=f"Instruments per file: {n}",
        )
    with (out / "distribution.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["dataset", "files", "songs", "duration_s", *LABELS])
        for n, s in summaries.items():
            writer.writerow([n, s["n_files"], s["n_groups"], f"{s['duration_s']:.1f}", *s["counts"].values()])
    files["csv"] = out / "distribution.csv"
    return {"summaries": {n: {k: v for k, v in s.items() if k != "y"} for n, s in summaries.items()}, "files": files}
