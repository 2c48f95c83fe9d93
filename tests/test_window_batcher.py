"""One model thread scoring the windows of concurrent callers together."""

import threading
import time

import numpy as np
import pytest

from helpers import write_tone
from instrumentid.inference.predictor import Predictor
from instrumentid.serve.window_batcher import WindowBatcher, batched

WAIT_S = 30  # a safety net against a hang, never a timing assertion


class RecordingScorer:
    """Scores each window by its sum; the first call waits for ``release`` so others can queue up."""

    def __init__(self, fail_on: float | None = None):
        self.batch_sizes: list[int] = []
        self.entered, self.release = threading.Event(), threading.Event()
        self.fail_on = fail_on

    def __call__(self, windows: np.ndarray) -> np.ndarray:
        self.entered.set()
        assert self.release.wait(WAIT_S)
        self.batch_sizes.append(len(windows))
        if self.fail_on is not None and np.any(windows == self.fail_on):
            raise RuntimeError("model failed")
        return windows.sum(axis=1, keepdims=True)


def score_in_threads(batcher, scorer, arrays):
    """Start one caller thread per array; the first is held inside the scorer until released."""
    results, threads = {}, []

    def call(key, windows):
        try:
            results[key] = batcher.score(windows)
        except Exception as exc:  # noqa: BLE001 - kept for the assertions
            results[key] = exc

    for key, windows in enumerate(arrays):
        threads.append(threading.Thread(target=call, args=(key, windows)))
        threads[-1].start()
        if key == 0:
            assert scorer.entered.wait(WAIT_S)
        for _ in range(WAIT_S * 100):  # queued behind the held batch, in this order
            if batcher.pending == key:
                break
            time.sleep(0.01)
    return results, threads


def test_queued_callers_share_one_batch_and_get_their_own_rows():
    scorer = RecordingScorer()
    batcher = WindowBatcher(scorer, max_windows=8)
    arrays = [np.full((3, 4), 1.0), np.full((2, 4), 2.0), np.full((4, 4), 3.0), np.full((5, 4), 4.0)]
    results, threads = score_in_threads(batcher, scorer, arrays)
    scorer.release.set()
    for thread in threads:
        thread.join(WAIT_S)
    assert scorer.batch_sizes == [3, 6, 5]  # 2 + 4 fit in 8 windows; 5 more would not
    for key, windows in enumerate(arrays):
        np.testing.assert_array_equal(results[key], windows.sum(axis=1, keepdims=True))
    assert (batcher.batches, batcher.windows) == (3, 14)
    batcher.close()


def test_windows_of_different_lengths_are_not_mixed():
    scorer = RecordingScorer()
    batcher = WindowBatcher(scorer)
    results, threads = score_in_threads(batcher, scorer, [np.ones((1, 4)), np.ones((2, 5)), np.ones((2, 4))])
    scorer.release.set()
    for thread in threads:
        thread.join(WAIT_S)
    assert scorer.batch_sizes == [1, 2, 2]
    assert [results[k].ravel().tolist() for k in range(3)] == [[4.0], [5.0, 5.0], [4.0, 4.0]]
    batcher.close()


def test_a_failing_batch_fails_its_callers_only():
    scorer = RecordingScorer(fail_on=9.0)
    batcher = WindowBatcher(scorer)
    results, threads = score_in_threads(batcher, scorer, [np.ones((1, 2)), np.full((1, 2), 9.0), np.ones((1, 2))])
    scorer.release.set()
    for thread in threads:
        thread.join(WAIT_S)
    assert results[0].tolist() == [[2.0]]
    assert isinstance(results[1], RuntimeError) and isinstance(results[2], RuntimeError)  # one batch
    assert batcher.score(np.ones((1, 2))).tolist() == [[2.0]]  # the model thread goes on
    batcher.close()


def test_close_scores_inline_afterwards():
    scorer = RecordingScorer()
    scorer.release.set()
    batcher = WindowBatcher(scorer)
    batcher.close()
    assert batcher.score(np.ones((2, 3))).tolist() == [[3.0], [3.0]]
    assert batcher.batches == 0  # scored in the caller's thread


def test_batched_predictor_gives_the_predictors_records(tiny_bundle, tmp_path):
    predictor = Predictor.from_bundle(tiny_bundle)
    batcher = WindowBatcher(predictor.score_windows, max_windows=predictor.batch_size)
    shared = batched(predictor, batcher)
    path = write_tone(tmp_path / "a.wav", 330, 4.5)
    assert shared.predict_file(path, segments=True) == predictor.predict_file(path, segments=True)
    assert batcher.windows == 5 and "score_windows" not in vars(predictor)  # the original is untouched
    batcher.close()


@pytest.mark.parametrize("max_windows", [1, 64])
def test_concurrent_files_through_the_batcher_equal_one_by_one(tiny_bundle, tmp_path, max_windows):
    predictor = Predictor.from_bundle(tiny_bundle)
    batcher = WindowBatcher(predictor.score_windows, max_windows=max_windows)
    shared = batched(predictor, batcher)
    paths = [write_tone(tmp_path / f"{f}.wav", f, 2.0 + i) for i, f in enumerate((220, 330, 440, 550))]
    records = {}
    threads = [threading.Thread(target=lambda p=p: records.update({p: shared.predict_file(p)})) for p in paths]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT_S)
    for path in paths:
        expected = predictor.predict_file(path)
        assert records[path]["present"] == expected["present"]
        np.testing.assert_allclose(list(records[path]["scores"].values()), list(expected["scores"].values()), atol=2e-4)
    batcher.close()
