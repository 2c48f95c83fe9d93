"""``instrumentid embed DATA --model BUNDLE --out DIR``."""

from __future__ import annotations

import argparse

from instrumentid.cli import options

EXAMPLES = """\
examples:
  instrumentid embed data/IRMAS-TestingData --model my.iid --out embeddings/
  instrumentid embed ~/Music --out embeddings/    # any folder of audio: coloured by predicted top label
  tensorboard --logdir embeddings/     # Projector tab (or upload the TSVs to projector.tensorflow.org)
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EXAMPLES
    options.add_dataset(parser, help=options.DATASET_HELP + "; or any folder of audio (no labels needed)")
    options.add_model(parser)
    parser.add_argument("--out", required=True, help="folder for tensors.tsv, metadata.tsv, projector config, plots")
    parser.add_argument("--no-tsne", action="store_true", help="skip t-SNE (slow on large sets)")


def run(args: argparse.Namespace) -> int:
    import sys

    from instrumentid.analysis.embed import embed_dataset

    result = embed_dataset(
        args.data, args.model, args.out, labels_file=args.labels_file, with_tsne=not args.no_tsne, progress=True
    )
    print(f"embedded {result['n_files']} files ({result['dim']} dimensions)")
    if not result["labelled"]:
        print("no labels found: points are coloured by each file's predicted top label")
    if result["explained_variance"]:
        top = ", ".join(f"{v:.1%}" for v in result["explained_variance"][:5])
        print(f"PCA explained variance of the first components: {top}")
    for name, path in result["files"].items():
        print(f"  {name:<13} {path}")
    for error in result["errors"]:
        print(f"instrumentid embed: skipped {error['file']}: {error['error']}", file=sys.stderr)
    return 1 if result["errors"] else 0
