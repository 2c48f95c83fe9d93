"""Recipe of the bundled ``fast`` model (the small CNN; the default until v3).

render → split → train → tune → evaluate → ship

    python recipes/fast_model.py                 # full recipe (<= 90 min on 2 CPU cores)
    python recipes/fast_model.py --quick         # the same steps at toy size (CI)
    python recipes/fast_model.py --variant soundfont-only --epochs 8 --out runs/soundfont-only/model.iid

Steps
1. ``instrumentid synth`` renders IRMAS-format data (SoundFonts + the real-note sampler, rooms,
   microphones, noise, guitar effects, ensembles) and all-negative clips into ``--work``,
   among them test tones (sines, sweeps, dial tones, beeps): a quarter of those join the
   validation set, so the tuned thresholds stay above what the model gives a test signal.
2. Real recordings from ``../shared/data/real-train`` are split **by source**: a fixed list of
   sources (REAL_VALIDATION below) never reaches training; they join the validation set with
   a grouped split of the rendered multi-instrument excerpts. Without ``../shared`` the recipe
   says so and trains on rendered data alone.
3. ``instrumentid train`` with ``configs/fast.yaml``: Lightning, balanced sampling, sum-N
   mixing with real negatives under positives, noise, EQ, SpecAugment, checkpoint of the best
   validation macro-F1, per-label thresholds tuned on validation.
4. ``instrumentid evaluate`` on the validation set writes metrics.json and report.html.
5. Unless ``--out`` is given, the bundle (``work/model.iid``) ships as its ONNX graph
   ``src/instrumentid/assets/fast.onnx`` (``export.ship``; parity checked on export).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from shared_data import (
    DEFAULT_SHARED,
    REAL_VALIDATION,
    REPO,
    instrumentid,
    is_held_out,
    real_note_files,
    source_of,
    synth_command,
)

#: Sampling weight of real recordings relative to rendered clips of the same label: they are
#: scarce, and they are what the model is judged on.
REAL_WEIGHT = 3.0

#: Variants compared in the model card (docs/model-card.md).
VARIANTS = {
    "full": {},
    "soundfont-only": {"real": False},
    "no-negatives": {"negatives": 0, "tones": 0, "real_negatives": False},
}

SIZES = {
    # train clips per class, test excerpts, negative clips, test tones
    "full": (420, 360, 600, 240),
    "quick": (4, 12, 6, 4),
}
#: Share of the test tones (sines, sweeps, dial tones, beeps) kept for validation, where the
#: thresholds are tuned: a threshold must stay above what the model gives a test signal.
TONE_VALIDATION = 0.25


def real_notes(shared: Path) -> list:
    from instrumentid.data.datasets import Example

    return [
        Example(path, (code,), f"real-notes:{folder}", None, REAL_WEIGHT)
        for path, code, folder in real_note_files(shared)
    ]


def real_split(shared: Path, *, keep_negatives: bool = True):
    from instrumentid.data.datasets import Example, read_dataset

    root = shared / "real-train"
    train, val = [], []
    for example in read_dataset(root):
        relative = example.path.relative_to(root).as_posix()
        held = is_held_out(relative)
        if not example.labels and not keep_negatives and not held:
            continue
        source = source_of(relative)
        if held:
            val.append(Example(example.path, example.labels, f"real:{source}", None))
        else:
            train.append(Example(example.path, example.labels, f"real:{source}", None, REAL_WEIGHT))
    return train, val


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="toy sizes and one short epoch (minutes, for CI)")
    parser.add_argument("--variant", choices=sorted(VARIANTS), default="full", help="data variant (model card table)")
    parser.add_argument("--work", type=Path, help="work folder (default: runs/<variant> or runs/quick)")
    parser.add_argument("--out", type=Path, help="bundle path (default: ship into the package)")
    parser.add_argument("--shared", type=Path, default=DEFAULT_SHARED, help="shared data folder (real recordings)")
    parser.add_argument("--jobs", type=int, default=2, help="rendering processes")
    parser.add_argument("--minutes", type=float, help="training time limit (default: the config's)")
    parser.add_argument(
        "--epochs",
        type=int,
        help="training epochs (default: the config's); the model card's "
        "variant table uses --epochs 8 for every variant",
    )
    parser.add_argument("--seed", type=int, default=20261125)
    return parser.parse_args()


def sizes(args, variant: dict) -> tuple[int, int, int, int]:
    """Rendered (clips per class, test excerpts, negative clips, test tones) of this run."""
    per_class, excerpts, negatives, tones = SIZES["quick" if args.quick else "full"]
    return per_class, excerpts, variant.get("negatives", negatives), variant.get("tones", tones)


def render(args, work: Path, variant: dict, uses_real: bool) -> Path:
    """Step 1: rendered clips, negatives and test tones; real sources held out of the sampler
    (``REAL_VALIDATION``) when the real data is used at all."""
    per_class, excerpts, negatives, tones = sizes(args, variant)
    synth_dir = work / "synth"
    command = synth_command(
        synth_dir,
        (per_class, excerpts, negatives),
        seed=args.seed,
        jobs=args.jobs,
        shared=args.shared if uses_real else None,
        hold_out=REAL_VALIDATION if uses_real else (),
        extra=("--test-tones", str(tones)),
    )
    instrumentid(*command)
    return synth_dir


def datasets(args, work: Path, synth_dir: Path, variant: dict, uses_real: bool) -> tuple[list[str], list]:
    """Step 2: ``(training sets, validation examples)``; rendered excerpts split by group, a share
    of the test tones and the real ``REAL_VALIDATION`` sources validate."""
    from instrumentid.data.datasets import read_dataset, write_csv
    from instrumentid.data.split import grouped_split

    rendered_test = read_dataset(synth_dir / "IRMAS-TestingData")
    test_train, test_val = grouped_split(rendered_test, val_fraction=0.5, seed=args.seed)
    train_sets = [str(synth_dir / "IRMAS-TrainingData"), str(write_csv(test_train, work / "excerpts_train.csv"))]
    val_examples = list(test_val)
    if any(sizes(args, variant)[2:]):  # negatives or test tones were rendered
        rendered_negatives = [e for e in read_dataset(synth_dir / "manifest.csv") if e.path.parent.name == "negatives"]
        tone_clips = [e for e in rendered_negatives if e.path.name.startswith("tone_")]
        held_tones = tone_clips[: round(TONE_VALIDATION * len(tone_clips))]
        train_sets.append(
            str(write_csv([e for e in rendered_negatives if e not in held_tones], work / "negatives.csv"))
        )
        val_examples += held_tones
    if uses_real:
        real_train, real_val = real_split(args.shared, keep_negatives=variant.get("real_negatives", True))
        train_sets.append(str(write_csv(real_train, work / "real_train.csv")))
        train_sets.append(str(write_csv(real_notes(args.shared), work / "real_notes.csv")))
        val_examples += real_val
        write_csv(real_val, work / "validation_real.csv")
    return train_sets, val_examples


def train(args, work: Path, train_sets: list[str], val_csv: Path, out: Path) -> None:
    """Step 3: ``instrumentid train`` with configs/fast.yaml (thresholds tuned on validation)."""
    train_args = [
        "train",
        "--config",
        str(REPO / "configs" / "fast.yaml"),
        "--val-data",
        str(val_csv),
        "--out",
        str(out),
        "--run-dir",
        str(work / "run"),
        "--seed",
        str(args.seed),
        "--recipe",
        f"recipes/fast_model.py --variant {args.variant}" + (" --quick" if args.quick else ""),
    ]
    for data in train_sets:
        train_args += ["--data", data]
    if args.quick:
        train_args += ["--epochs", "1", "--epoch-size", "64", "--progress", "false"]
    if args.minutes:
        train_args += ["--max-minutes", str(args.minutes)]
    if args.epochs:
        train_args += ["--epochs", str(args.epochs)]
    instrumentid(*train_args)


def evaluate(work: Path, val_csv: Path, out: Path) -> None:
    """Step 4: on the validation set (thresholds were tuned there: the numbers are optimistic for
    thresholded metrics, exact for AUC/AP; the model card says so), then on its real recordings
    alone, the number that matters."""
    instrumentid("evaluate", str(val_csv), "--model", str(out), "--out", str(work / "evaluate"))
    if (work / "validation_real.csv").is_file():
        instrumentid(
            "evaluate", str(work / "validation_real.csv"), "--model", str(out), "--out", str(work / "evaluate-real")
        )


def ship(out: Path) -> None:
    """Step 5: the model's ONNX graph into the package (the shipped file; it carries the bundle,
    which stays in the work folder), checked against PyTorch."""
    from instrumentid.inference import export

    report = export.ship(out, "fast")
    print(f"shipped {report['path']} ({report['bytes'] / 1e6:.1f} MB, parity {report['max_abs_diff']:.1e})")


def main() -> int:
    from instrumentid.data.datasets import write_csv

    args = parse_args()
    variant = VARIANTS[args.variant]
    work = args.work or REPO / "runs" / ("quick" if args.quick else args.variant)
    work.mkdir(parents=True, exist_ok=True)
    started = time.time()
    has_shared = (args.shared / "real-train" / "labels.csv").is_file()
    if not has_shared:
        print(f"note: no real recordings at {args.shared}: training and validating on rendered data only")
    uses_real = has_shared and variant.get("real", True)
    synth_dir = render(args, work, variant, uses_real)
    train_sets, val_examples = datasets(args, work, synth_dir, variant, uses_real)
    val_csv = write_csv(val_examples, work / "validation.csv")
    out = args.out or (work / "model.iid")
    train(args, work, train_sets, val_csv, out)
    evaluate(work, val_csv, out)
    if args.out is None and not args.quick:
        ship(out)
    summary = {
        "variant": args.variant,
        "quick": args.quick,
        "minutes": round((time.time() - started) / 60, 1),
        "bundle": str(out),
        "validation_files": len(val_examples),
    }
    (work / "recipe.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
