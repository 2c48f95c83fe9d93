"""The typed reading contract (issue 18): one Framing per load, read alike by every engine."""

import numpy as np
import pytest

from helpers import tiny_bundle_dict
from instrumentid.inference.contract import BundleInfo, Framing, score_batches
from instrumentid.inference.predictor import Predictor
from instrumentid.inference.runtimes import open_runtime


def test_framing_tiles_short_audio_unless_the_model_takes_any_length():
    short = [np.ones(100, dtype=np.float32)]
    tiled = list(Framing(1000, 0.5, 0.25).windows(short))
    whole = list(Framing(1000, 0.5, 0.25, variable_length=True).windows(short))
    assert [w.size for _, w in tiled] == [500] and [w.size for _, w in whole] == [100]


def test_score_batches_scores_in_batches_and_keeps_starts_and_levels():
    windows = [(i * 10, np.full(8, 0.5 if i % 2 else 0.0, dtype=np.float32)) for i in range(7)]
    sizes = []

    def score(batch):
        sizes.append(len(batch))
        return batch[:, :2]

    starts, scores, levels = score_batches(score, windows, 3)
    assert sizes == [3, 3, 1] and list(starts) == [i * 10 for i in range(7)] and scores.shape == (7, 2)
    assert np.isneginf(levels[0]) and levels[1] == pytest.approx(20 * np.log10(0.5))


def test_a_runtime_builds_the_contract_once_and_the_predictor_reads_it(tiny_bundle, monkeypatch):
    from instrumentid.inference import bundle as bundle_module
    from instrumentid.inference import runtimes

    calls = []
    resolve = runtimes.resolve
    monkeypatch.setattr(runtimes, "resolve", lambda *a, **k: calls.append("resolve") or resolve(*a, **k))
    validate = bundle_module.validate
    monkeypatch.setattr(bundle_module, "validate", lambda *a, **k: calls.append("validate") or validate(*a, **k))
    predictor = Predictor(open_runtime(tiny_bundle, "torch"))
    assert calls == ["resolve", "validate"]
    assert predictor.info is predictor.runtime.info and predictor.framing is predictor.info.framing
    assert predictor.info == BundleInfo.of(tiny_bundle_dict())
    assert predictor.runtime.path == tiny_bundle
