"""Score the windows of concurrent requests together: a few model threads, batches across requests.

The server's request workers decode and window their files in parallel, and each hands its
windows to :meth:`WindowBatcher.score`; the model threads (as many as the runtime runs at once:
one per core in onnxruntime, one in PyTorch) own the forward passes, and each scores whatever has
arrived since its last pass as one batch (up to ``max_windows`` windows of one shape), then
gives every caller its own rows. A 10-s clip is only 11 windows of the default model, and a
batch of 40-60 windows costs less per window than 11 (see the README's Speed section), so the
model threads keep up with more requests than one request at a time. The model's output for a
window does not depend on the other windows of its batch (eval mode).
"""

from __future__ import annotations

import copy
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future

import numpy as np

from instrumentid.inference.predictor import Predictor


class WindowBatcher:
    """Coalesce concurrent ``score(windows)`` calls into batched calls of ``score_fn`` on model threads.

    Parameters
    ----------
    score_fn : windows ``(n, ...)`` float32 → scores ``(n, n_labels)``; called on the batcher's threads only
        (from ``workers`` threads at once: it must be thread-safe when ``workers`` > 1).
    max_windows : most windows in one call (a caller with more is scored alone).
    workers : model threads (``Predictor.concurrency``).
    """

    def __init__(
        self, score_fn: Callable[[np.ndarray], np.ndarray], *, max_windows: int = 64, workers: int = 1
    ) -> None:
        self._score_fn = score_fn
        self.max_windows = int(max_windows)
        self._pending: deque[tuple[np.ndarray, Future]] = deque()
        self._wake = threading.Condition()
        self._closed = False
        #: forward passes run and windows scored so far (their ratio is the mean batch size)
        self.batches, self.windows = 0, 0
        self._threads = [
            threading.Thread(target=self._run, name=f"instrumentid-model-{i}", daemon=True)
            for i in range(max(1, workers))
        ]
        for thread in self._threads:
            thread.start()

    @property
    def pending(self) -> int:
        """Calls waiting for a model thread."""
        return len(self._pending)

    def score(self, windows: np.ndarray) -> np.ndarray:
        """Scores of ``windows`` (blocks until its batch is done; runs inline once closed)."""
        windows = np.asarray(windows, dtype=np.float32)
        done: Future = Future()
        with self._wake:
            if self._closed:
                return self._score_fn(windows)
            self._pending.append((windows, done))
            self._wake.notify()
        return done.result()

    def _next_batch(self) -> list[tuple[np.ndarray, Future]] | None:
        with self._wake:
            while not self._pending and not self._closed:
                self._wake.wait()
            if not self._pending:
                return None  # closed and drained
            batch = [self._pending.popleft()]
            total, shape = len(batch[0][0]), batch[0][0].shape[1:]
            while (
                self._pending
                and self._pending[0][0].shape[1:] == shape
                and total + len(self._pending[0][0]) <= self.max_windows
            ):
                batch.append(self._pending.popleft())
                total += len(batch[-1][0])
            return batch

    def _run(self) -> None:
        while (batch := self._next_batch()) is not None:
            try:
                scores = self._score_fn(np.concatenate([windows for windows, _ in batch]))
            except BaseException as exc:  # noqa: BLE001 - every caller of this batch gets the error
                for _, done in batch:
                    done.set_exception(exc)
                continue
            with self._wake:  # several model threads count
                self.batches += 1
                self.windows += len(scores)
            offset = 0
            for windows, done in batch:
                done.set_result(scores[offset : offset + len(windows)])
                offset += len(windows)

    def close(self) -> None:
        """Score what is pending, stop the model threads; later calls score inline."""
        with self._wake:
            self._closed = True
            self._wake.notify_all()
        for thread in self._threads:
            thread.join()


def batched(predictor: Predictor, batcher: WindowBatcher) -> Predictor:
    """A shallow copy of ``predictor`` (same model and settings) whose windows go through ``batcher``.

    Every record still comes from :meth:`Predictor.predict_file`; only the forward passes are
    shared. ``predictor`` itself is left as it was.
    """
    shared = copy.copy(predictor)
    shared.score_windows = batcher.score
    shared.concurrency = 1  # requests run side by side already; the batcher's threads share the model
    return shared
