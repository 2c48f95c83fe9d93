"""A bounded queue of inference jobs run by a few worker threads, off the server's event loop.

The server hands each ``POST /predict`` request to :class:`InferenceQueue` as one job; the
worker threads upload, decode and window their requests' files in parallel and share the one
:class:`~instrumentid.inference.predictor.Predictor`, whose forward passes the model threads batch across
requests (:mod:`instrumentid.serve.window_batcher`). At most ``workers + queue_size`` requests are held at once:
past that, :meth:`InferenceQueue.submit` raises :class:`QueueFull`, which the server answers
with 503 and a ``Retry-After`` estimated from the last jobs' durations and the queue's length.
:meth:`InferenceQueue.abandon` drops a waiting job whose client left. :meth:`InferenceQueue.close`
stops accepting, lets queued and running jobs finish, and joins the workers (graceful shutdown).
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from instrumentid.errors import ConfigError

#: A job's assumed duration (s) before any has finished: it only seeds the Retry-After estimate.
INITIAL_JOB_SECONDS = 0.5
#: Finished jobs whose mean duration estimates the next ones'.
RECENT_JOBS = 8
#: Bounds of the ``Retry-After`` header (s).
MIN_RETRY_AFTER_S, MAX_RETRY_AFTER_S = 1, 60


class QueueFull(Exception):
    """The queue holds as many jobs as it may (or is shutting down); retry after ``retry_after_s``."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class InferenceQueue:
    """Run jobs on ``workers`` threads with at most ``queue_size`` jobs waiting for one.

    Parameters
    ----------
    workers : worker threads (>= 1).
    queue_size : jobs that may wait for a free worker (>= 0); one more is refused with :class:`QueueFull`.
    """

    def __init__(self, *, workers: int = 1, queue_size: int = 32) -> None:
        if int(workers) < 1:
            raise ConfigError(f"workers must be at least 1, got {workers}")
        if int(queue_size) < 0:
            raise ConfigError(f"queue_size must be 0 or more, got {queue_size}")
        self.workers = int(workers)
        self.queue_size = int(queue_size)
        self._executor = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="instrumentid-infer")
        self._lock = threading.Lock()
        self._pending = 0  # submitted and not finished: running + waiting
        self._closed = False
        self._recent: deque[float] = deque(maxlen=RECENT_JOBS)  # durations (s) of the last finished jobs
        self.abandoned = 0  # waiting jobs dropped because their client left

    @property
    def pending(self) -> int:
        """Jobs accepted and not finished yet (running or waiting)."""
        return self._pending

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def job_seconds(self) -> float:
        """Mean duration of the last :data:`RECENT_JOBS` jobs (:data:`INITIAL_JOB_SECONDS` before any)."""
        recent = list(self._recent)
        return sum(recent) / len(recent) if recent else INITIAL_JOB_SECONDS

    def retry_after_s(self, ahead: int | None = None) -> int:
        """Seconds until a place is likely free for a request with ``ahead`` requests before it
        (default: the jobs accepted): each round of ``workers`` of them takes a recent job's time."""
        ahead = self._pending if ahead is None else ahead
        rounds = max(0, ahead - self.workers) // self.workers + 1
        estimate = math.ceil(self.job_seconds * rounds)
        return int(min(MAX_RETRY_AFTER_S, max(MIN_RETRY_AFTER_S, estimate)))

    def submit(self, fn: Callable, /, *args, **kwargs) -> Future:
        """Queue ``fn(*args, **kwargs)``; raises :class:`QueueFull` when full or closed."""
        with self._lock:
            if self._closed:
                raise QueueFull("the server is shutting down; retry on another instance or later", MAX_RETRY_AFTER_S)
            if self._pending >= self.workers + self.queue_size:
                raise QueueFull(
                    f"the server is busy: {self._pending} requests in progress or queued "
                    f"(at most {self.workers + self.queue_size}); retry later",
                    self.retry_after_s(),
                )
            self._pending += 1
        try:
            future = self._executor.submit(self._timed, fn, args, kwargs)
        except RuntimeError:  # the executor shut down between the check and the submit
            with self._lock:
                self._pending -= 1
            raise QueueFull("the server is shutting down; retry later", MAX_RETRY_AFTER_S) from None
        future.add_done_callback(self._finished)
        return future

    def _timed(self, fn: Callable, args: tuple, kwargs: dict):
        started = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            with self._lock:
                self._recent.append(time.perf_counter() - started)

    def _finished(self, _future: Future) -> None:
        with self._lock:
            self._pending -= 1

    def abandon(self, future: Future) -> bool:
        """Drop ``future``'s job if it has not started (its client left); True if it never runs.
        A running job cannot be stopped here: it checks its own flag between files."""
        dropped = future.cancel()
        if dropped:
            with self._lock:
                self.abandoned += 1
        return dropped

    def close(self) -> None:
        """Refuse new jobs, finish the queued and running ones, then stop the workers."""
        with self._lock:
            self._closed = True
        self._executor.shutdown(wait=True)
