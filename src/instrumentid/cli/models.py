"""``instrumentid models``: the architectures ``train --model`` can build."""

from __future__ import annotations

import argparse
import importlib.util


def configure(parser: argparse.ArgumentParser) -> None:
    parser.epilog = "example:\n  instrumentid train --data IRMAS-TrainingData --model cnn-wide --out wide.iid"


def run(args: argparse.Namespace) -> int:
    from instrumentid.models import available

    entries = available()
    width = max(len(name) for name in entries)
    for name, entry in sorted(entries.items()):
        note = ""
        if entry.requires and importlib.util.find_spec(entry.requires.split(":")[0]) is None:
            note = f"  [needs: pip install 'instrumentid[{entry.requires.split(':')[-1]}]']"
        print(f"{name:<{width}}  {entry.description}{note}")
    return 0
