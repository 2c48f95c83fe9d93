"""Print the model card's tables (markdown) from evaluation outputs, so every number is re-runnable.

    python recipes/model_card_tables.py runs/full/evaluate [runs/full/evaluate-real ...]
    python recipes/model_card_tables.py --compare runs/full-8ep/evaluate runs/soundfont-only/evaluate ...
    python recipes/model_card_tables.py --bundle src/instrumentid/assets/default.onnx

Each folder is the ``--out`` of ``instrumentid evaluate`` (it reads ``metrics.json``). With
``--bundle``, the per-instrument table is the bundle's own validation record (for the default
model: out-of-fold scores of cross-validation grouped by source) and its thresholds.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def fmt(value) -> str:
    return "–" if value is None else f"{value:.3f}"


def per_instrument(metrics: dict) -> str:
    rows = [
        "| instrument | support | F1 | precision | recall | ROC-AUC | AP | threshold |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for code, m in metrics["file"]["per_label"].items():
        rows.append(
            f"| `{code}` | {m['support']} | {fmt(m['f1'])} | {fmt(m['precision'])} | {fmt(m['recall'])} | "
            f"{fmt(m['roc_auc'])} | {fmt(m['average_precision'])} | {m['threshold']:.2f} |"
        )
    return "\n".join(rows)


HEADLINE = (
    "f1_micro",
    "f1_macro",
    "precision_macro",
    "recall_macro",
    "roc_auc_macro",
    "mean_average_precision",
    "lrap",
    "exact_match",
)


def headline(named: dict[str, dict]) -> str:
    names = list(named)
    rows = ["| metric | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    rows.append("| files | " + " | ".join(str(m["n_files"]) for m in named.values()) + " |")
    for key in HEADLINE:
        rows.append(f"| {key} | " + " | ".join(fmt(m["file"][key]) for m in named.values()) + " |")
    return "\n".join(rows)


def evidence(code: str, real_support: int) -> str:
    """What a label's numbers rest on: real recordings, rendered audio only, or AudioSet alone."""
    from instrumentid.labels import BY_CODE

    if real_support:
        return "real"
    return "rendered + AudioSet" if BY_CODE[code].programs else "AudioSet zero-shot only"


def bundle_table(path: Path) -> str:
    """The bundle's own validation record: per label out of fold on all real files, on the real
    mixtures, and on the rendered ensembles; then the macro figures."""
    from instrumentid.inference.bundle import load_bundle

    bundle = load_bundle(path)
    validation = bundle["metadata"]["validation"]
    parts = {
        "all real": validation,
        "real mixtures": validation.get("real_mixes"),
        "rendered ensembles": validation.get("rendered_ensembles"),
    }
    parts = {k: v for k, v in parts.items() if v and "per_label" in v}
    rows = [
        f"{validation.get('method', '')}",
        "",
        "| instrument | evidence | real files | F1 | precision | recall | ROC-AUC | "
        + " | ".join(f"{k}: P / R" for k in list(parts)[1:])
        + " | threshold |",
        "|---|---|---:|---:|---:|---:|---:|" + "---:|" * (len(parts) - 1) + "---:|",
    ]
    for code, threshold in zip(bundle["labels"], bundle["thresholds"], strict=True):
        m = validation["per_label"][code]
        extra = " | ".join(_pr(v["per_label"][code]) for v in list(parts.values())[1:])
        rows.append(
            f"| `{code}` | {evidence(code, m['support'])} | {m['support']} | {fmt(m['f1'])} | "
            f"{fmt(m['precision'])} | {fmt(m['recall'])} | {fmt(m['roc_auc'])} | {extra} | {threshold:.2f} |"
        )
    rows.append("")
    for name, v in parts.items():
        groups = " · ".join(
            f"{k} AUC {fmt(v[k]['roc_auc_macro'])} F1 {fmt(v[k]['f1_macro'])}" for k in ("irmas", "extended") if k in v
        )
        rows.append(
            f"- {name}: macro ROC-AUC {fmt(v['roc_auc_macro'])}, mAP {fmt(v['map'])}, macro-F1 "
            f"{fmt(v['f1_macro'])} over {v['labels_present']} labels present ({groups}); negatives labelled "
            f"{v['negatives_labelled']}; files with only outside instruments given an IRMAS label "
            f"{v.get('outside_given_irmas_label', '–')}"
        )
    return "\n".join(rows)


def _pr(m: dict) -> str:
    return f"{fmt(m['precision'])} / {fmt(m['recall'])}" if m["support"] else "–"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", nargs="*", type=Path)
    parser.add_argument("--compare", action="store_true", help="one headline table across folders only")
    parser.add_argument("--bundle", type=Path, help="print the per-instrument table stored in a bundle")
    args = parser.parse_args()
    if args.bundle:
        print(bundle_table(args.bundle))
        return
    named = {str(folder): json.loads((folder / "metrics.json").read_text()) for folder in args.folders}
    print(headline(named))
    if not args.compare:
        for name, metrics in named.items():
            print(f"\n### {name} (aggregation {metrics['aggregation']}, thresholds: {metrics['threshold_source']})\n")
            print(per_instrument(metrics))


if __name__ == "__main__":
    main()
