"""``instrumentid models``: the bundled models, and the architectures ``train --model`` can build."""

from __future__ import annotations

import argparse

from instrumentid.extras import missing


def configure(parser: argparse.ArgumentParser) -> None:
    parser.epilog = (
        "examples:\n  instrumentid predict song.wav --model fast\n"
        "  instrumentid train --data IRMAS-TrainingData --model cnn-wide --out wide.iid"
    )


def run(args: argparse.Namespace) -> int:
    from instrumentid.inference.shipped import BUNDLED, bundled_path

    print("bundled models (predict --model NAME; each one ONNX graph, run in onnxruntime or --runtime torch):")
    width = max(len(name) for name in BUNDLED)
    for name, (_, description) in BUNDLED.items():
        path = bundled_path(name)
        size = f"{path.name}, {path.stat().st_size / 1e6:.1f} MB" if path.is_file() else "not installed"
        print(f"  {name:<{width}}  {description} [{size}]")
    print("\narchitectures (train --model NAME):")
    try:
        from instrumentid.models import available
    except ModuleNotFoundError as exc:  # the slim install: training is an extra
        error = missing(exc, "training")
        if error is None:
            raise
        print(f"  ({error})")
        return 0
    entries = available()
    width = max(len(name) for name in entries)
    for name, entry in sorted(entries.items()):
        extra = entry.missing_extra()
        note = f"  [needs: pip install 'instrumentid[{extra}]']" if extra else ""
        print(f"  {name:<{width}}  {entry.description}{note}")
    return 0
