"""Hostile model files and model failures (issue 17, Low): bundles must carry their checksum, and
a graph failing at run time costs one file's record, not the batch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from helpers import write_tone

from instrumentid.inference.bundle import load_bundle
from instrumentid.errors import BundleError
from instrumentid.inference.predictor import Predictor
from instrumentid.inference.runtimes import OnnxRuntime


def test_a_bundle_without_its_checksum_is_refused_with_one_line_naming_it(tmp_path, tiny_bundle):
    bundle = torch.load(tiny_bundle, weights_only=True)
    del bundle["checksum"]
    stripped = tmp_path / "stripped.iid"
    torch.save(bundle, stripped)
    with pytest.raises(BundleError, match=r"stripped\.iid: bundle has no checksum") as refused:
        load_bundle(stripped)
    assert "\n" not in str(refused.value)


class _FailingSession:
    def run(self, *_args):
        raise RuntimeError("[ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION : Non-zero status code returned")


def test_an_onnx_failure_at_run_time_is_an_error_record_and_the_batch_goes_on(tmp_path, tiny_bundle):
    runtime = OnnxRuntime.__new__(OnnxRuntime)  # a loaded graph whose session fails on some input
    runtime.session = _FailingSession()
    with pytest.raises(BundleError, match="the ONNX graph failed on this audio .*RUNTIME_EXCEPTION"):
        runtime(np.zeros((1, 16_000), dtype=np.float32))
    predictor = Predictor.from_bundle(tiny_bundle)
    scores = predictor.score_windows
    predictor.score_windows = lambda windows: runtime(windows) if windows.shape[0] == 2 else scores(windows)
    short, long = write_tone(tmp_path / "short.wav", seconds=1.0), write_tone(tmp_path / "long.wav", seconds=2.0)
    failed, scored = predictor.predict_files([long, short])
    assert failed["error"].startswith(f"{long}: the ONNX graph failed") and "scores" in scored
