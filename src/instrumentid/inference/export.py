"""ONNX export: a bundle → one graph from waveform windows to label scores, metadata included.

The graph's contract (:mod:`instrumentid.inference.runtimes` reads it):

- input ``waveform``: float32 ``(batch, samples)``, mono at the bundle's ``sample_rate``;
  ``samples`` is the bundle's window (``window_s · sample_rate``), or any length for models
  that take any length (``variable_length``: the YAMNet family scores a short file whole);
- output ``scores``: float32 ``(batch, n_labels)``, sigmoid scores in the bundle's label order;
- metadata ``instrumentid``: the bundle's header as JSON (labels, thresholds, window, hop,
  aggregation, features, …) plus ``variable_length`` and ``exported_from`` (the bundle's
  weight checksum, torch version, opset, and where each weight is), so decoding, windowing,
  aggregation and thresholds happen exactly as for the bundle;
- initialisers: every weight of the bundle, unfolded (BatchNorm not fused into convolutions,
  Linear weights not transposed), so the graph is the bundle too: the torch runtime rebuilds it
  bit for bit (:func:`instrumentid.inference.bundle.read_graph`), and the bundled models ship as
  their graphs alone (:func:`ship`).

The front-end is inside the graph: its STFT is Gather and two MatMuls (a four-step DFT,
:func:`instrumentid.frontends.dsp.stft_power`; ONNX's ``STFT`` operator of opset 17 only above
``MATMUL_DFT_MAX`` points), and so is the per-window level of front-ends with ``level_dbfs``, so
any ONNX runtime needs only decoded, resampled mono audio. Weights that float16 holds exactly
(every weight of a ``half`` bundle) are stored as float16 and cast to float32 when the session
loads: half the file, the same scores, float32 compute. After writing, the graph is checked
against PyTorch on test windows (loud, quiet, silent), and the bundle it carries against the
bundle's checksum.
"""

from __future__ import annotations

import io
import json
import os
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from instrumentid.errors import BundleError, ConfigError, ExportError
from instrumentid.extras import need
from instrumentid.fileio import atomic_path
from instrumentid.inference.bundle import graph_weight_map, header, load_bundle, read_bundle
from instrumentid.inference.runtimes import ONNX_INPUT, ONNX_METADATA_KEY, ONNX_OUTPUT, OnnxRuntime, TorchRuntime
from instrumentid.inference.shipped import BUNDLED, bundled_path

OPSET = 17  # the first opset with STFT (used above MATMUL_DFT_MAX points)
#: Largest |torch − onnxruntime| score difference the export accepts.
PARITY_TOLERANCE = 1e-4
#: Initialisers smaller than this stay float32 (a Cast node would cost more than it saves).
HALF_MIN_ELEMENTS = 1024


class ScoringGraph(nn.Module):
    """Waveform windows → sigmoid scores: the front-end and the model as one module."""

    def __init__(self, frontend: nn.Module, model: nn.Module) -> None:
        super().__init__()
        self.frontend, self.model = frontend, model

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.model(self.frontend(waveform)))


def export_onnx(model: str | os.PathLike | None, out: str | os.PathLike, *, check: bool = True) -> dict:
    """Export a bundle (path, bundled name, or None for the default) to an ONNX file.

    Returns a report: ``{"path", "bytes", "variable_length", "max_abs_diff"}`` (the last is
    None when ``check=False``).
    """
    onnx = need("onnx", "exporting to ONNX")
    bundle = load_bundle(model)
    runtime = TorchRuntime(bundle)
    about = runtime.info
    variable_length = about.framing.variable_length
    graph = ScoringGraph(runtime.frontend, runtime.model).eval()
    window = about.framing.window_samples
    axes = {0: "batch", 1: "samples"} if variable_length else {0: "batch"}
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer notes about constants and the real-valued STFT
        try:
            torch.onnx.export(
                graph,
                (torch.randn(2, window),),
                buffer,
                dynamo=False,
                # keep every weight as its own initialiser, named after the module path: folding
                # would fuse BatchNorm into the convolutions and store Linear weights transposed,
                # and the graph would no longer hold the bundle (onnxruntime folds all of that
                # itself when it loads the graph)
                do_constant_folding=False,
                opset_version=OPSET,
                input_names=[ONNX_INPUT],
                output_names=[ONNX_OUTPUT],
                dynamic_axes={ONNX_INPUT: axes, ONNX_OUTPUT: {0: "batch"}},
            )
        except Exception as exc:  # noqa: BLE001 - the exporter's failures are untyped
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ExportError(f"model {about.model_name!r} cannot be exported to ONNX: {reason[:300]}") from None
    proto = onnx.load_from_string(buffer.getvalue())
    store_exact_halves(proto)
    exported_from = {"checksum": bundle["checksum"], "torch": torch.__version__.split("+")[0], "opset": OPSET}
    exported_from["weights"] = graph_weight_map(proto, bundle["state_dict"])
    meta = {**header(bundle), "variable_length": variable_length, "exported_from": exported_from}
    onnx.helper.set_model_props(proto, {ONNX_METADATA_KEY: json.dumps(meta)})
    out = Path(out)
    report = {"path": str(out), "bytes": 0, "variable_length": variable_length, "max_abs_diff": None}
    # checked before it replaces anything: `out` may be the only copy of a shipped model
    with atomic_path(out, suffix=".onnx") as tmp:
        onnx.save(proto, str(tmp))
        if check:
            report["max_abs_diff"] = check_graph(runtime, tmp, window, out)
    report["bytes"] = out.stat().st_size
    return report


def check_graph(reference: TorchRuntime, graph: Path, window: int, out: Path) -> float:
    """The graph's largest score difference from PyTorch (:func:`parity`); an ExportError when it
    is over :data:`PARITY_TOLERANCE` or the graph does not give its bundle back bit for bit."""
    worst = parity(reference, OnnxRuntime(graph), window)
    if worst > PARITY_TOLERANCE:
        raise ExportError(
            f"{out}: onnxruntime scores differ from PyTorch by {worst:.2g} (> {PARITY_TOLERANCE}); "
            "the graph was not kept"
        )
    try:
        read_bundle(graph)  # every weight, bit for bit (the checksum)
    except BundleError as exc:
        raise ExportError(f"{out}: the graph does not give its bundle back ({exc}); the graph was not kept") from None
    return worst


def ship(model: str | os.PathLike, name: str) -> dict:
    """Export a bundle (a path, or a bundled name to re-export) as the shipped model ``name``:
    ``assets/<name>.onnx``, parity-checked, the one file the name runs in onnxruntime and
    rebuilds in PyTorch. The recipes that write shipped models call this."""
    if name not in BUNDLED:
        raise ConfigError(f"unknown shipped model {name!r}; choose one of {', '.join(BUNDLED)}")
    return export_onnx(model, bundled_path(name))


def store_exact_halves(proto) -> int:
    """Store each large float32 initialiser that float16 represents exactly as float16, cast back
    to float32 by a node ahead of the graph (onnxruntime folds it at load). Lossless by
    construction; returns how many initialisers were converted."""
    from onnx import TensorProto, helper, numpy_helper

    graph, kept, casts = proto.graph, [], []
    for tensor in graph.initializer:
        values = numpy_helper.to_array(tensor)
        half = values.astype(np.float16)
        if (
            values.dtype != np.float32
            or values.size < HALF_MIN_ELEMENTS
            or not np.array_equal(half.astype(np.float32), values)
        ):
            kept.append(tensor)
            continue
        kept.append(numpy_helper.from_array(half, f"{tensor.name}.f16"))
        casts.append(helper.make_node("Cast", [f"{tensor.name}.f16"], [tensor.name], to=TensorProto.FLOAT))
    nodes = casts + list(graph.node)
    del graph.initializer[:], graph.node[:]
    graph.initializer.extend(kept)
    graph.node.extend(nodes)
    return len(casts)


def parity(reference: TorchRuntime, candidate: OnnxRuntime, window: int, *, seed: int = 0) -> float:
    """Largest score difference of two runtimes on noise and tone windows, a quiet one, a silent
    one (front-ends that level each window scale these most), and short ones when the model
    takes any length."""
    rng = np.random.default_rng(seed)
    t = np.arange(window) / reference.info.sample_rate
    batch = np.stack(
        [
            0.1 * rng.standard_normal(window),
            0.5 * np.sin(2 * np.pi * 440 * t),
            0.3 * np.sign(np.sin(2 * np.pi * 220 * t)),
            3e-4 * np.sin(2 * np.pi * 1000 * t),
            np.zeros(window),
        ]
    ).astype(np.float32)
    inputs = [batch]
    if reference.info.framing.variable_length:
        inputs += [batch[:, : window // 3], batch[:1, : max(window // 9, 1)]]
    return max(float(np.abs(reference(x) - candidate(x)).max()) for x in inputs)
