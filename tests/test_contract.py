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


def test_concurrent_scoring_keeps_the_stream_order_and_bounds_what_is_in_flight():
    """Batches that finish out of order still come back in order, and the windows read ahead of
    the oldest unfinished batch stay within 2 x concurrency batches (memory bounded by construction)."""
    import threading
    import time

    rng = np.random.default_rng(0)
    windows = [(i, rng.standard_normal(4).astype(np.float32)) for i in range(50)]
    read, unfinished, most = [0], set(), [0]
    lock = threading.Lock()

    def stream():
        for pair in windows:
            with lock:
                read[0] += 1
                most[0] = max(most[0], len(unfinished))
            yield pair

    def score(batch):
        with lock:
            unfinished.add(id(batch))
        time.sleep(float(rng.uniform(0, 0.004)))  # finish in a shuffled order
        with lock:
            unfinished.discard(id(batch))
        return batch * 2

    starts, scores, _ = score_batches(score, stream(), 3, concurrency=3)
    np.testing.assert_array_equal(starts, np.arange(50))
    np.testing.assert_array_equal(scores, 2 * np.stack([w for _, w in windows]))
    assert most[0] <= 2 * 3


def test_a_failing_batch_fails_the_stream_and_stops_the_threads():
    import threading

    def score(batch):
        if batch[0, 0] >= 6:
            raise RuntimeError("graph failed")
        return batch

    windows = [(i, np.full(2, float(i), dtype=np.float32)) for i in range(20)]
    with pytest.raises(RuntimeError, match="graph failed"):
        score_batches(score, windows, 2, concurrency=2)
    assert not [t for t in threading.enumerate() if t.name.startswith("instrumentid-score")]


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
