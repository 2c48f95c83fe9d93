"""The threads of a prediction (instrumentid.inference.pipeline): order kept, look-ahead bounded,
errors raised in place, and nothing left waiting when the consumer stops."""

import threading
import time

import numpy as np
import pytest

from instrumentid.inference.contract import score_batches
from instrumentid.inference.pipeline import WorkerPool, ordered_map, prefetch


def _alive(prefix: str) -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith(prefix) and t.is_alive()]


def test_ordered_map_keeps_order_and_takes_a_bounded_number_of_items_ahead():
    """Calls that finish out of order come back in order, and never more than ``ahead`` items
    are taken beyond the oldest one not yet handed back (memory bounded by construction)."""
    rng = np.random.default_rng(0)
    pool = WorkerPool(3, "test-pool")
    taken, received, most = [0], [0], [0]

    def items():
        for i in range(60):
            taken[0] += 1
            most[0] = max(most[0], taken[0] - received[0])
            yield i

    def work(i):
        time.sleep(float(rng.uniform(0, 0.003)))  # finish in a shuffled order
        return i * i

    out = []
    for value in ordered_map(work, items(), pool, ahead=4):
        received[0] += 1
        out.append(value)
    pool.close()
    assert out == [i * i for i in range(60)]
    assert most[0] <= 4 + 1  # the ahead items plus the one being taken


def test_score_batches_on_a_pool_equals_one_batch_at_a_time():
    windows = [(i, np.random.default_rng(i).standard_normal(4).astype(np.float32)) for i in range(23)]
    serial = score_batches(lambda b: b * 2, windows, 3)
    pool = WorkerPool(2, "test-score")
    parallel = score_batches(lambda b: b * 2, windows, 3, pool=pool)
    pool.close()
    for a, b in zip(serial, parallel, strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_failing_call_is_raised_in_place_and_later_calls_are_cancelled():
    pool = WorkerPool(2, "test-fail")
    started = []

    def work(i):
        started.append(i)
        if i == 3:
            raise RuntimeError("graph failed")
        return i

    results = []
    with pytest.raises(RuntimeError, match="graph failed"):
        for value in ordered_map(work, range(1000), pool):
            results.append(value)
    pool.close()
    assert results == [0, 1, 2] and len(started) < 20  # the rest never ran


def test_stopping_early_does_not_wait_for_the_running_calls():
    """Ctrl-C or an error in the consumer must not wait for the files in progress: closing the
    map returns while a call is still blocked (here until the test releases it)."""
    pool = WorkerPool(2, "test-stop")
    release = threading.Event()

    def work(i):
        if i > 0:
            release.wait()
        return i

    results = ordered_map(work, range(10), pool)
    assert next(results) == 0
    closer = threading.Thread(target=results.close)
    closer.start()
    closer.join(timeout=30)  # a safety net against a hang, not a timing assertion
    closed = not closer.is_alive()
    release.set()
    pool.close()
    assert closed, "closing the map waited for a running call"


def test_prefetch_thread_ends_when_the_consumer_stops_before_a_late_error():
    """The decoder's last hand-over (its end or its error) must not block once the consumer has
    gone: the thread ends and the consumer's exit does not sit in its join."""

    def source():  # the queue holds one item: the error's hand-over finds it full
        yield from range(2)
        raise RuntimeError("decoder failed after the consumer left")

    for item in prefetch(source(), depth=1):
        assert item == 0
        break
    assert not _alive("instrumentid-decode")


def test_pool_threads_are_daemons_and_end_when_closed():
    pool = WorkerPool(2, "test-close")
    assert all(t.daemon for t in threading.enumerate() if t.name.startswith("test-close"))
    assert pool.submit(lambda: 7).result() == 7
    pool.close()
    for thread in [t for t in threading.enumerate() if t.name.startswith("test-close")]:
        thread.join(timeout=30)
    assert not _alive("test-close")


def test_a_predictors_scoring_threads_end_with_it(tiny_bundle, tmp_path):
    """Each predictor that scores side by side owns a pool; dropping the predictor ends its
    threads (a long session making many predictors must not collect idle threads)."""
    import gc

    from helpers import write_tone
    from instrumentid.inference.predictor import Predictor

    wav = write_tone(tmp_path / "a.wav", 440, 2.5, 16_000)
    predictor = Predictor.from_bundle(tiny_bundle)
    predictor.concurrency = 2
    list(predictor.predict_files([wav, wav]))
    threads = [t for t in threading.enumerate() if t.name.startswith("instrumentid-")]
    assert any(t.name.startswith("instrumentid-score") for t in threads)
    del predictor
    gc.collect()
    for thread in threads:
        thread.join(timeout=30)  # a safety net against a hang, not a timing assertion
    assert not [t.name for t in threads if t.is_alive()]
