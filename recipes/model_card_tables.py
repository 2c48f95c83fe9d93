"""Print the model card's tables (markdown) from evaluation outputs, so every number is re-runnable.

    python recipes/model_card_tables.py runs/full/evaluate [runs/full/evaluate-real ...]
    python recipes/model_card_tables.py --compare runs/full-8ep/evaluate runs/soundfont-only/evaluate ...

Each folder is the ``--out`` of ``instrumentid evaluate`` (it reads ``metrics.json``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def fmt(value) -> str:
    return "–" if value is None else f"{value:.3f}"


def per_instrument(metrics: dict) -> str:
    rows = ["| instrument | support | F1 | precision | recall | ROC-AUC | AP | threshold |",
            "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for code, m in metrics["file"]["per_label"].items():
        rows.append(f"| `{code}` | {m['support']} | {fmt(m['f1'])} | {fmt(m['precision'])} | {fmt(m['recall'])} | "
                    f"{fmt(m['roc_auc'])} | {fmt(m['average_precision'])} | {m['threshold']:.2f} |")
    return "\n".join(rows)


HEADLINE = ("f1_micro", "f1_macro", "precision_macro", "recall_macro", "roc_auc_macro", "mean_average_precision", "lrap",
            "exact_match")


def headline(named: dict[str, dict]) -> str:
    names = list(named)
    rows = ["| metric | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    rows.append("| files | " + " | ".join(str(m["n_files"]) for m in named.values()) + " |")
    for key in HEADLINE:
        rows.append(f"| {key} | " + " | ".join(fmt(m["file"][key]) for m in named.values()) + " |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument("--compare", action="store_true", help="one headline table across folders only")
    args = parser.parse_args()
    named = {str(folder): json.loads((folder / "metrics.json").read_text()) for folder in args.folders}
    print(headline(named))
    if not args.compare:
        for name, metrics in named.items():
            print(f"\n### {name} (aggregation {metrics['aggregation']}, thresholds: {metrics['threshold_source']})\n")
            print(per_instrument(metrics))


if __name__ == "__main__":
    main()
