"""``instrumentid <command>``: a thin argparse front over the library.

Each command lives in its own module ``instrumentid.cli.<name>`` exposing
``configure(parser)`` (adds its arguments to its own sub-parser) and ``run(args) -> int``. Commands are
imported lazily, so ``instrumentid --help`` stays fast and a command whose optional extra is
not installed fails with a clear message only when used.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
import threading

from instrumentid import __version__
from instrumentid.errors import InstrumentIdError
from instrumentid.extras import missing

#: command name -> (module, one-line help). Order is the order shown by ``--help``.
COMMANDS: dict[str, tuple[str, str]] = {
    "predict": ("instrumentid.cli.predict", "which instruments play in audio files or folders"),
    "train": ("instrumentid.cli.train", "train a model on IRMAS folders, CSVs or generated data"),
    "models": ("instrumentid.cli.models", "list the bundled models and the architectures train can build"),
    "export": ("instrumentid.cli.export", "export a model bundle to ONNX (runs without torch, in onnxruntime)"),
    "import-weights": ("instrumentid.cli.import_weights", "import pretrained weights (YAMNet) from a local file"),
    "synth": ("instrumentid.cli.synth", "render an IRMAS-format dataset from SoundFonts and real notes"),
    "evaluate": ("instrumentid.cli.evaluate", "metrics, predictions and an HTML report on a labelled set"),
    "tune-thresholds": ("instrumentid.cli.tune_thresholds", "thresholds tuned by a named rule, into a new bundle"),
    "ensemble": (
        "instrumentid.cli.ensemble",
        "combine trained bundles into one (mean, or weights fitted on a validation set)",
    ),
    "embed": ("instrumentid.cli.embed", "export embeddings (TensorBoard projector, t-SNE/PCA plots)"),
    "gradcam": ("instrumentid.cli.gradcam", "Grad-CAM heat map over the spectrogram for a file and a label"),
    "label-issues": ("instrumentid.cli.label_issues", "find suspect labels with cleanlab"),
    "split": ("instrumentid.cli.split", "grouped multilabel-stratified train/validation split"),
    "classical": ("instrumentid.cli.classical", "hand-crafted features + one SVM per instrument"),
    "plot": ("instrumentid.cli.plot", "dataset and speed plots (label distribution, timing)"),
    "serve": ("instrumentid.cli.serve", "HTTP server with a web page"),
}

EPILOG = """\
examples:
  instrumentid predict song.mp3                      # table of scores and present instruments
  instrumentid predict music/ --recursive --format jsonl > out.jsonl
  instrumentid synth --out data/synth --train-per-class 200 --test-excerpts 50
  instrumentid train --data data/synth/IRMAS-TrainingData --model cnn --out my.iid
  instrumentid evaluate data/synth/IRMAS-TestingData --model my.iid --out report/

Run 'instrumentid <command> --help' for the options of one command.
"""


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The command parser. Only the sub-command ``only`` gets its arguments configured (the others
    are listed with their one-line help; ``None`` configures none, enough for the top-level
    ``--help``), so running one command never imports the others' dependencies."""
    parser = argparse.ArgumentParser(
        prog="instrumentid",
        description="Which musical instruments play in a recording, and when: the IRMAS labels "
        "(cel cla flu gac gel org pia sax tru vio voi) and an extended vocabulary of 22 more "
        "(bas dbl dru mal syn epi hpd hrp bjo man uke sit acc hmc tbn hrn tba obo bsn bgp tab stp).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"instrumentid {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="<command>")
    for name, (module, summary) in COMMANDS.items():
        sub = subparsers.add_parser(
            name,
            help=summary,
            description=summary[0].upper() + summary[1:] + ".",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        if name == only:
            importlib.import_module(module).configure(sub)
        sub.set_defaults(_module=module)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    try:
        return _run(argv, command if command in COMMANDS else None)
    except InstrumentIdError as exc:
        print(f"instrumentid {command}: error: {exc}{flag_hint(exc, command)}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as exc:  # an optional extra is not installed: say which one, in one line
        error = missing(exc, f"'{command}'")
        if error is None:
            raise
        print(f"instrumentid {command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return _interrupted()
    except BrokenPipeError:  # the reader went away (`| head`): stop quietly, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


def _interrupted() -> int:
    """Exit code 130 after Ctrl-C. While scoring threads may still be inside onnxruntime, end
    the process here: the interpreter's finalisation would free the session under them and
    abort. What was printed is flushed first; outputs are atomic, so nothing partial is left."""
    if threading.active_count() == 1:
        return 130
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(130)


def flag_hint(error: InstrumentIdError, command: str | None = None) -> str:
    """`` (--val-data)`` for an error about parameter ``val_data`` (every option is the flag of its
    name), when ``command`` has that flag; nothing for a library error whose parameter the command
    does not expose (``split`` has no ``--val-data``)."""
    if not error.option:
        return ""
    flag = f"--{error.option.replace('_', '-')}"
    if command in COMMANDS:
        parser = build_parser(only=command)
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[command]
        if not any(flag in action.option_strings for action in sub._actions):
            return ""
    return f" ({flag})"


def _run(argv: list[str], command: str | None) -> int:
    """Parse ``argv`` (configuring only ``command``'s sub-parser) and run the command."""
    parser = build_parser(only=command)
    args = parser.parse_args(argv)
    if not getattr(args, "_module", None):
        parser.print_help()
        return 0
    return int(importlib.import_module(args._module).run(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
