"""Issue 12's comparison: every front-end, architecture, ensemble and stacking option trained
with ONE small recipe on the same data, evaluated on the same real recordings (docs/experiments.md).

    python recipes/experiments.py                          # everything (about 33 CPU-minutes)
    python recipes/experiments.py --only cnn-logmel lstm-attention-logmel
    python recipes/experiments.py --quick                  # toy sizes: checks the pipeline in minutes

Data (all options see exactly the same files; nothing real in the test set reaches training):
- rendered: ``instrumentid synth --no-shared-data`` (SoundFonts + the voice synthesiser; the real
  notes stay out of the sampler because they are the test set), small sizes (SIZES);
- real: ``../shared/data/real-train`` minus the sources in ``REAL_VALIDATION`` (weight 3, as
  the fast model's recipe does);
- validation (checkpoint choice, thresholds, ensemble weights): half of the rendered
  multi-instrument excerpts, split by song;
- test: real recordings held out by source: the ``REAL_VALIDATION`` files of real-train and the
  real single notes of ``real-notes/`` except tonejs' clean electric guitar (real-train holds
  the same recordings via the lofi player).

Recipe (RECIPE): the same epochs, clips per epoch, batch, optimiser, loss, augmentation and
seed for every option; model sizes are each architecture's defaults. Ensembles combine three
members fixed in advance (ENSEMBLE_MEMBERS); stacking appends ``cnn-logmel``'s embedding to
the classical features. Bundles already in ``--work`` are reused (delete one to retrain it).
Results: ``<work>/results.json`` and ``<work>/results.md``; times are CPU minutes (user + system
of this script and every command it runs), which do not depend on who else uses the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from functools import partial
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fast_model import real_split
from shared_data import (
    DEFAULT_SHARED,
    REAL_VALIDATION,
    REPO,
    instrumentid,
    real_note_files,
    synth_command,
)

#: name → (what it is, train flags beyond RECIPE)
OPTIONS: dict[str, tuple[str, list[str]]] = {
    "cnn-logmel": ("CNN on log-mel (the fast model's architecture)", ["--model", "cnn"]),
    "cnn-mfcc": (
        "CNN on 20 MFCCs + deltas + delta-deltas (3 channels)",
        ["--model", "cnn", "--features", "mfcc", "--feature-params", "{n_mfcc: 20, deltas: 2}"],
    ),
    "cnn-wavelet": (
        "CNN on the constant-Q wavelet filterbank (84 bins, dB)",
        ["--model", "cnn", "--features", "wavelet"],
    ),
    "cnn-multi": ("CNN on mel + MFCC + harmonic + percussive (4 channels)", ["--model", "cnn", "--features", "multi"]),
    "lstm-logmel": ("bi-LSTM on log-mel, mean+max pooling", ["--model", "lstm"]),
    "lstm-attention-logmel": (
        "bi-LSTM on log-mel, additive attention",
        ["--model", "lstm", "--model-params", "{attention: true}"],
    ),
    "lstm-attention-mfcc": (
        "bi-LSTM on MFCCs + deltas, additive attention",
        [
            "--model",
            "lstm",
            "--model-params",
            "{attention: true}",
            "--features",
            "mfcc",
            "--feature-params",
            "{n_mfcc: 20, deltas: 2}",
        ],
    ),
    "parallel-mobilenet-logmel": (
        "4 parallel MobileNets (3+3+3+2 labels) on log-mel",
        ["--model", "parallel-mobilenet"],
    ),
}
#: The same for every option (and for the ensembles' members).
#: ``--pos-weight``: at this budget unweighted BCE keeps every score under 0.5 for the first
#: epochs, the validation macro-F1 at 0.5 that picks the checkpoint stays 0, and the tie keeps
#: the first epoch's weights (a first run of this recipe shipped epoch-0 models that way).
RECIPE = [
    "--window-s",
    "3.0",
    "--hop-s",
    "3.0",
    "--batch-size",
    "32",
    "--lr",
    "0.003",
    "--loss",
    "bce+family",
    "--label-smoothing",
    "0.02",
    "--pos-weight",
    "true",
    "--aggregation",
    "mean",
    "--progress",
    "false",
]
#: (epochs, clips per epoch) of the full and quick runs
BUDGET = {"full": (6, 640), "quick": (1, 32)}
#: rendered training clips per class, multi-instrument excerpts, negative clips
SIZES = {"full": (40, 60, 40), "quick": (3, 8, 4)}
ENSEMBLE_MEMBERS = ("cnn-logmel", "cnn-mfcc", "lstm-attention-logmel")
#: real-notes folders that share recordings with real-train (tonejs via the lofi player)
SHARED_WITH_TRAINING = ("tonejs-instruments/guitar-electric",)


def datasets(work: Path, shared: Path, quick: bool, seed: int, jobs: int) -> tuple[list[str], Path, Path]:
    """Render, split and write the CSVs: ``(training sets, validation csv, test csv)``."""
    from instrumentid.data.datasets import Example, read_dataset, write_csv
    from instrumentid.data.split import grouped_split

    synth = work / "synth"
    sizes = SIZES["quick" if quick else "full"]
    instrumentid(
        *synth_command(synth, sizes, seed=seed, jobs=jobs, shared=None, hold_out=REAL_VALIDATION, extra=("--quiet",))
    )
    excerpts_train, excerpts_val = grouped_split(read_dataset(synth / "IRMAS-TestingData"), val_fraction=0.5, seed=seed)
    rendered_negatives = [e for e in read_dataset(synth / "manifest.csv") if e.path.parent.name == "negatives"]
    real_train, real_held_out = real_split(shared)
    notes = [
        Example(path, (code,), f"real-notes:{folder}")
        for path, code, folder in real_note_files(shared)
        if folder not in SHARED_WITH_TRAINING
    ]
    if quick:
        real_train, notes = real_train[::10], notes[::30]
    train = [
        str(synth / "IRMAS-TrainingData"),
        str(write_csv(excerpts_train, work / "excerpts_train.csv")),
        str(write_csv(rendered_negatives, work / "negatives.csv")),
        str(write_csv(real_train, work / "real_train.csv")),
    ]
    return train, write_csv(excerpts_val, work / "validation.csv"), write_csv(real_held_out + notes, work / "test.csv")


def _cpu_seconds() -> float:
    """User + system CPU time of this process and of its finished children (the commands it ran)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _timed(step) -> float:
    """CPU minutes ``step`` took (what the budget is about: the machine may be shared, wall time is not)."""
    started = _cpu_seconds()
    step()
    return round((_cpu_seconds() - started) / 60, 2)


#: Labels with fewer real test positives than this are left out of the headline means (one or
#: two files say nothing about a label); every label's numbers stay in results.json.
MIN_POSITIVES = {"full": 10, "quick": 1}


def _metrics(folder: Path, min_positives: int) -> dict:
    metrics = json.loads((folder / "metrics.json").read_text())
    file = metrics["file"]
    supported = {c: v for c, v in file["per_label"].items() if v["support"] >= min_positives}
    return {
        "files": metrics["n_files"],
        "labels": sorted(supported),
        "roc_auc": float(np.mean([v["roc_auc"] for v in supported.values()])),
        "map": float(np.mean([v["average_precision"] for v in supported.values()])),
        "f1_macro": float(np.mean([v["f1"] for v in supported.values()])),
        "roc_auc_all_labels": file["roc_auc_macro"],
        "f1_micro": file["f1_micro"],
        "per_label": {
            c: {k: v[k] for k in ("support", "roc_auc", "average_precision", "f1")}
            for c, v in file["per_label"].items()
        },
    }


def train_and_evaluate(
    name: str, flags: list[str], train: list[str], val: Path, test: Path, work: Path, budget: tuple[int, int], seed: int
) -> dict:
    bundle = work / "models" / f"{name}.iid"
    epochs, epoch_size = budget
    minutes = None
    if not bundle.is_file():
        args = [
            "train",
            *flags,
            *RECIPE,
            "--epochs",
            str(epochs),
            "--epoch-size",
            str(epoch_size),
            "--seed",
            str(seed),
            "--val-data",
            str(val),
            "--out",
            str(bundle),
            "--run-dir",
            str(work / "runs" / name),
            "--recipe",
            f"recipes/experiments.py ({name})",
        ]
        for data in train:
            args += ["--data", data]
        minutes = _timed(partial(instrumentid, *args))
    evaluate_minutes = _timed(
        partial(
            instrumentid,
            "evaluate",
            str(test),
            "--model",
            str(bundle),
            "--out",
            str(work / "evaluate" / name),
            "--no-plots",
            "--quiet",
        )
    )
    from instrumentid.inference.bundle import load_bundle

    chosen = load_bundle(bundle)["metadata"].get("best_val_f1_macro_at_0.5")
    return {"train_cpu_minutes": minutes, "evaluate_cpu_minutes": evaluate_minutes, "val_f1_at_0.5": chosen}


def ensembles(work: Path, val: Path, test: Path) -> dict:
    members = [str(work / "models" / f"{m}.iid") for m in ENSEMBLE_MEMBERS]
    results = {}
    for name, extra in (("ensemble-mean", []), ("ensemble-fitted", ["--fit-weights", str(val)])):
        bundle = work / "models" / f"{name}.iid"
        build = _timed(partial(instrumentid, "ensemble", *members, *extra, "--out", str(bundle)))
        evaluate = _timed(
            partial(
                instrumentid,
                "evaluate",
                str(test),
                "--model",
                str(bundle),
                "--out",
                str(work / "evaluate" / name),
                "--no-plots",
                "--quiet",
            )
        )
        results[name] = {"train_cpu_minutes": build, "evaluate_cpu_minutes": evaluate}
    return results


def stacking(work: Path, train: list[str], test: Path) -> dict:
    from instrumentid.data.datasets import read_dataset, write_csv

    every = write_csv([e for data in train for e in read_dataset(data)], work / "train_all.csv")
    results = {}
    for name, extra in (
        ("classical-svm", []),
        ("stacked-svm", ["--embedding-model", str(work / "models" / "cnn-logmel.iid")]),
    ):
        model = work / "models" / f"{name}.npz"
        fit = _timed(partial(instrumentid, "classical", "train", str(every), "--out", str(model), *extra))
        evaluate = _timed(
            partial(
                instrumentid,
                "classical",
                "evaluate",
                str(test),
                "--model",
                str(model),
                "--out",
                str(work / "evaluate" / name),
                "--no-plots",
            )
        )
        results[name] = {"train_cpu_minutes": fit, "evaluate_cpu_minutes": evaluate}
    return results


def table(results: dict) -> str:
    def number(value):
        return "–" if value is None else f"{value:.3f}"

    labels = next(iter(results.values()))["labels"]
    rows = [
        "| option | ROC-AUC | mAP | F1 | " + " | ".join(f"AUC {c}" for c in labels) + " | train CPU min | "
        "eval CPU min |",
        "|---|" + "---:|" * (len(labels) + 5),
    ]
    for name, r in results.items():
        per_label = " | ".join(number(r["per_label"][c]["roc_auc"]) for c in labels)
        rows.append(
            f"| `{name}` | {number(r['roc_auc'])} | {number(r['map'])} | {number(r['f1_macro'])} | "
            f"{per_label} | {number(r['train_cpu_minutes'])} | {number(r['evaluate_cpu_minutes'])} |"
        )
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="toy sizes, one short epoch (checks the pipeline)")
    parser.add_argument(
        "--only",
        nargs="+",
        choices=sorted(OPTIONS),
        help="train these options only (no ensembles or stacking unless their members are in)",
    )
    parser.add_argument("--work", type=Path, help="work folder (default: runs/experiments or runs/experiments-quick)")
    parser.add_argument("--shared", type=Path, default=DEFAULT_SHARED, help="shared data folder (real recordings)")
    parser.add_argument("--jobs", type=int, default=2, help="rendering processes")
    parser.add_argument("--seed", type=int, default=20261212)
    args = parser.parse_args()
    if not (args.shared / "real-train" / "labels.csv").is_file():
        sys.exit(f"experiments need the real recordings (their test set): none at {args.shared}; give --shared")
    work = args.work or REPO / "runs" / ("experiments-quick" if args.quick else "experiments")
    (work / "models").mkdir(parents=True, exist_ok=True)
    started, load_before = time.time(), os.getloadavg()[1]
    paths: list = []
    render_minutes = _timed(lambda: paths.extend(datasets(work, args.shared, args.quick, args.seed, args.jobs)))
    train, val, test = paths
    budget = BUDGET["quick" if args.quick else "full"]
    results = {
        name: train_and_evaluate(name, flags, train, val, test, work, budget, args.seed)
        for name, (_, flags) in OPTIONS.items()
        if not args.only or name in args.only
    }
    if set(ENSEMBLE_MEMBERS) <= set(results):
        results.update(ensembles(work, val, test))
    if "cnn-logmel" in results:
        results.update(stacking(work, train, test))
    for name, row in results.items():
        row.update(_metrics(work / "evaluate" / name, MIN_POSITIVES["quick" if args.quick else "full"]))
    summary = {
        "quick": args.quick,
        "budget": {"epochs": budget[0], "clips_per_epoch": budget[1]},
        "sizes": SIZES["quick" if args.quick else "full"],
        "render_cpu_minutes": render_minutes,
        "total_cpu_minutes": round(_cpu_seconds() / 60, 1),
        "wall_minutes": round((time.time() - started) / 60, 1),
        "load_average_5min": [round(load_before, 2), round(os.getloadavg()[1], 2)],
        "results": results,
    }
    (work / "results.json").write_text(json.dumps(summary, indent=2))
    (work / "results.md").write_text(table(results) + "\n")
    print(table(results))
    print(
        f"CPU {summary['total_cpu_minutes']} min (rendering {render_minutes}), wall {summary['wall_minutes']} min; "
        f"{work / 'results.json'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
