"""ONNX export: a bundle → one graph from waveform windows to label scores, metadata included.

The graph's contract (:mod:`instrumentid.inference.runtimes` reads it):

- input ``waveform``: float32 ``(batch, samples)``, mono at the bundle's ``sample_rate``;
  ``samples`` is the bundle's window (``window_s · sample_rate``), or any length for models
  that take any length (``variable_length``: the YAMNet family scores a short file whole);
- output ``scores``: float32 ``(batch, n_labels)``, sigmoid scores in the bundle's label order;
- metadata ``instrumentid``: the bundle's header as JSON (labels, thresholds, window, hop,
  aggregation, features, …) plus ``variable_length`` and ``exported_from`` (the bundle's
  weight checksum, torch version, opset), so decoding, windowing, aggregation and
  thresholds happen exactly as for the bundle.

The front-end is inside the graph: its STFT is Gather and two MatMuls (a four-step DFT,
:func:`instrumentid.frontends.dsp.stft_power`; ONNX's ``STFT`` operator of opset 17 only above
``MATMUL_DFT_MAX`` points), so the graph needs only decoded, resampled mono audio. After writing,
the graph is checked against PyTorch on noise windows when onnxruntime is installed.
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

from instrumentid.inference.bundle import header, load_bundle
from instrumentid.errors import ConfigError, ExportError
from instrumentid.fileio import atomic_path
from instrumentid.inference.runtimes import ONNX_INPUT, ONNX_METADATA_KEY, ONNX_OUTPUT, OnnxRuntime, TorchRuntime

OPSET = 17  # the first opset with STFT (used above MATMUL_DFT_MAX points)
#: Largest |torch − onnxruntime| score difference the export accepts.
PARITY_TOLERANCE = 1e-3


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
    None when onnxruntime is not installed or ``check=False``).
    """
    try:
        import onnx
    except ImportError:
        raise ConfigError("exporting to ONNX needs the onnx package (pip install 'instrumentid[onnx]')") from None
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
            torch.onnx.export(graph, (torch.randn(2, window),), buffer, dynamo=False, opset_version=OPSET,
                              input_names=[ONNX_INPUT], output_names=[ONNX_OUTPUT],
                              dynamic_axes={ONNX_INPUT: axes, ONNX_OUTPUT: {0: "batch"}})
        except Exception as exc:  # noqa: BLE001 - the exporter's failures are untyped
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ExportError(f"model {about.model_name!r} cannot be exported to ONNX: {reason[:300]}") from None
    proto = onnx.load_from_string(buffer.getvalue())
    meta = {**header(bundle), "variable_length": variable_length,
            "exported_from": {"checksum": bundle.get("checksum"), "torch": torch.__version__.split("+")[0],
                              "opset": OPSET}}
    onnx.helper.set_model_props(proto, {ONNX_METADATA_KEY: json.dumps(meta)})
    out = Path(out)
    with atomic_path(out) as tmp:
        onnx.save(proto, str(tmp))
    report = {"path": str(out), "bytes": out.stat().st_size, "variable_length": variable_length,
              "max_abs_diff": None}
    if check and _has_onnxruntime():
        report["max_abs_diff"] = parity(runtime, OnnxRuntime(out), window)
        if report["max_abs_diff"] > PARITY_TOLERANCE:
            out.unlink()
            raise ExportError(f"{out}: onnxruntime scores differ from PyTorch by {report['max_abs_diff']:.2g} "
                              f"(> {PARITY_TOLERANCE}); the graph was not kept")
    return report


def parity(reference: TorchRuntime, candidate: OnnxRuntime, window: int, *, seed: int = 0) -> float:
    """Largest score difference of two runtimes on noise and tone windows (and short ones when
    the model takes any length)."""
    rng = np.random.default_rng(seed)
    t = np.arange(window) / reference.info.sample_rate
    batch = np.stack([0.1 * rng.standard_normal(window), 0.5 * np.sin(2 * np.pi * 440 * t),
                      0.3 * np.sign(np.sin(2 * np.pi * 220 * t))]).astype(np.float32)
    inputs = [batch]
    if reference.info.framing.variable_length:
        inputs += [batch[:, : window // 3], batch[:1, : max(window // 9, 1)]]
    return max(float(np.abs(reference(x) - candidate(x)).max()) for x in inputs)


def _has_onnxruntime() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True
