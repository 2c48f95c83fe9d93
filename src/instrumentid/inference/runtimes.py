"""Runtimes: what turns a batch of waveform windows ``(n, samples)`` into label scores ``(n, labels)``.

:class:`OnnxRuntime` runs a graph written by ``instrumentid export`` (front-end included) in
onnxruntime, a core dependency, without importing torch: every bundled model runs this way by
default. :class:`TorchRuntime` runs a bundle in PyTorch (the ``train`` extra) — an ``.iid``, or
the bundle an exported graph carries (:func:`~instrumentid.inference.bundle.read_graph`): any
model, and the only runtime that exposes the network itself (Grad-CAM, embeddings). Both expose
the bundle's :func:`~instrumentid.inference.bundle.header` as ``bundle`` and its
:class:`~instrumentid.inference.contract.BundleInfo` as ``info`` (built once, when the model is
opened), so :class:`~instrumentid.inference.predictor.Predictor` treats them alike; ``path`` is
the resolved file (None for a bundle given as a dict).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from instrumentid.errors import BundleError, ConfigError
from instrumentid.extras import need
from instrumentid.inference.contract import BundleInfo, takes_any_length
from instrumentid.inference.shipped import resolve

if TYPE_CHECKING:
    import torch

#: What ``open_runtime`` accepts: auto (onnxruntime for ``.onnx`` graphs, torch for bundles) or one by name.
RUNTIMES = ("auto", "torch", "onnxruntime")
#: Names of the exported graph's input, output and metadata entry (the ONNX contract).
ONNX_INPUT, ONNX_OUTPUT, ONNX_METADATA_KEY = "waveform", "scores", "instrumentid"


class TorchRuntime:
    """A bundle's front-end and model in PyTorch (``torch.inference_mode``)."""

    name = "torch"
    #: forward passes run at once: one (PyTorch spreads a pass over its own threads)
    concurrency = 1
    #: windows per forward pass unless told otherwise (batches of 8/32 took 1.15/1.05x the time of 64)
    batch_size = 64

    def __init__(self, bundle: Mapping, device: str | torch.device = "cpu", *, path: Path | None = None) -> None:
        import torch

        from instrumentid.frontends.core import build_frontend
        from instrumentid.inference.bundle import build_model

        self.bundle = bundle
        self.device = torch.device(device)
        self.frontend = build_frontend(bundle["features"], bundle["normalization"]).to(self.device).eval()
        self.model = build_model(bundle).to(self.device)
        self.path = path
        self.info = BundleInfo.of(bundle, variable_length=takes_any_length(self.model))

    def __call__(self, windows: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            x = torch.as_tensor(windows).to(self.device)
            return torch.sigmoid(self.model(self.frontend(x))).cpu().numpy()

    def features(self, windows: np.ndarray) -> torch.Tensor:
        """The model's input ``(n, 1, n_mels, frames)`` for waveform windows ``(n, samples)``."""
        import torch

        with torch.inference_mode():
            return self.frontend(torch.as_tensor(windows).to(self.device)).cpu()


class OnnxRuntime:
    """An exported graph (``instrumentid export``) in onnxruntime on the CPU; torch is not imported.

    ``threads`` is how many graph runs go at once (default: one per core), each on one
    onnxruntime thread: the session is thread-safe and releases the GIL, and YAMNet's small
    per-window convolutions scale better across windows than inside one run (decoding, in its own
    thread, takes a core only while it has work).
    """

    name = "onnxruntime"
    #: windows per run unless told otherwise: onnxruntime keeps every intermediate of a batch, and
    #: small ones stay in cache (benchmarks/predict_speed.py, 2 cores: batch 64 took 1.07-1.2x the
    #: time of 8 in-process, up to 1.6x as a process, with three times the memory)
    batch_size = 8

    def __init__(self, path: str | os.PathLike, *, threads: int | None = None) -> None:
        import onnxruntime

        from instrumentid.inference.bundle import graph_header

        path = Path(path)
        if not path.is_file():
            raise BundleError(f"{path}: ONNX model not found")
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3  # errors only: no shape-inference chatter on stderr
        # one thread per run, runs side by side (benchmarks/predict_speed.py: two intra-op threads
        # spinning beside the decoder were slower than one)
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        #: graph runs at once (score_batches and the server's batcher run this many)
        self.concurrency = max(1, int(threads) if threads else (os.cpu_count() or 1))
        try:
            self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own untyped failures
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise BundleError(f"{path}: not a readable ONNX model ({reason[:200]})") from None
        self.bundle = graph_header(self.session.get_modelmeta().custom_metadata_map.get(ONNX_METADATA_KEY), path)
        self.path = path
        self.info = BundleInfo.of(self.bundle)  # the header says variable_length

    def __call__(self, windows: np.ndarray) -> np.ndarray:
        """Scores of ``windows``; a failure of the graph at run time is a BundleError (an error
        record for the file being scored, not the end of the batch)."""
        try:
            return self.session.run([ONNX_OUTPUT], {ONNX_INPUT: np.ascontiguousarray(windows, dtype=np.float32)})[0]
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own untyped failures
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[-1]
            raise BundleError(f"the ONNX graph failed on this audio ({reason[:200]})") from None


def is_onnx(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() == ".onnx"


def open_runtime(
    model: str | os.PathLike | None = None, runtime: str = "auto", *, device: str = "cpu", threads: int | None = None
) -> TorchRuntime | OnnxRuntime:
    """A bundle path, an ``.onnx`` graph or a bundled name → its runtime.

    ``auto`` picks onnxruntime for ``.onnx`` files and bundled names and torch for ``.iid`` files;
    ``torch`` runs a graph's weights in PyTorch too (the bundle it carries,
    :func:`~instrumentid.inference.bundle.read_graph`); ``onnxruntime`` on an ``.iid`` is an error
    that says how to convert.
    """
    if runtime not in RUNTIMES:
        raise ConfigError(f"unknown runtime {runtime!r}; choose one of {', '.join(RUNTIMES)}")
    path = resolve(model)
    if is_onnx(path) and runtime != "torch":
        return OnnxRuntime(path, threads=threads)
    if runtime == "onnxruntime":
        raise ConfigError(
            f"{path}: a torch bundle; to run it on onnxruntime, convert it first: "
            f"instrumentid export {path} --out model.onnx"
        )
    need("torch", "the torch runtime")
    from instrumentid.inference.bundle import read_bundle

    return TorchRuntime(read_bundle(path), device=device, path=path)
