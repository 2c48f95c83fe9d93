"""Threads that overlap the work of a prediction: a decoder running ahead of scoring, a pool of
worker threads, and an ordered map over such a pool with a bounded look-ahead.

Every thread here is a daemon: Ctrl-C ends a ``predict`` at once instead of waiting for the
files and batches in progress (the interpreter joins ``concurrent.futures`` workers at exit),
and a consumer that stops early (an error, a ``break``) leaves nothing blocked behind it.
Torch-free, like the rest of the reading contract.
"""

from __future__ import annotations

import collections
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future


def prefetch(items: Iterable, depth: int = 1) -> Iterator:
    """Iterate ``items`` in a background thread, ``depth`` ahead; its exceptions re-raise here.

    The thread stops when the consumer stops early (an error, a ``break``), so no file stays open.
    """
    buffer: queue.Queue = queue.Queue(depth)
    stop = threading.Event()
    done = object()

    def hand_over(entry: tuple) -> bool:
        """Put ``entry`` for the consumer unless it stopped; False once it has."""
        while not stop.is_set():
            try:
                buffer.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def worker() -> None:
        try:
            for item in items:
                if not hand_over((item, None)):
                    return
            hand_over((done, None))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
            hand_over((done, exc))

    thread = threading.Thread(target=worker, name="instrumentid-decode", daemon=True)
    thread.start()
    try:
        while True:
            item, error = buffer.get()
            if item is done:
                if error is not None:
                    raise error
                return
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)


class WorkerPool:
    """``size`` daemon threads running the calls submitted to them, each answered by a Future.

    For work that releases the GIL (onnxruntime, decoding). :meth:`close` lets the threads end
    once the calls already submitted are done.
    """

    def __init__(self, size: int, name: str) -> None:
        self.size = max(1, int(size))
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._threads = [threading.Thread(target=self._work, name=f"{name}-{i}", daemon=True) for i in range(self.size)]
        for thread in self._threads:
            thread.start()

    def submit(self, function: Callable, *args) -> Future:
        future: Future = Future()
        self._jobs.put((future, function, args))
        return future

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            self._run(*job)
            del job  # hold nothing of the last call (a predictor's method) while waiting

    @staticmethod
    def _run(future: Future, function: Callable, args: tuple) -> None:
        if not future.set_running_or_notify_cancel():
            return  # cancelled while it waited
        try:
            result = function(*args)
        except BaseException as exc:  # noqa: BLE001 - handed to whoever waits on the future
            future.set_exception(exc)
        else:
            future.set_result(result)

    def close(self) -> None:
        for _ in self._threads:
            self._jobs.put(None)


def ordered_map(function: Callable, items: Iterable, pool: WorkerPool | None, *, ahead: int | None = None) -> Iterator:
    """``function(item)`` for each item, yielded in the items' order.

    With a ``pool``, the calls run on its threads, and at most ``ahead`` items (default: two per
    thread, one running and one queued behind it) are taken beyond the oldest unfinished one, so
    memory stays bounded whatever the length of ``items``. An exception is raised where its item
    would have been yielded; stopping early cancels the calls not yet started and does not wait
    for the running ones. Without a pool, a plain ``map``.
    """
    if pool is None:
        yield from map(function, items)
        return
    ahead = ahead or 2 * pool.size
    pending: collections.deque[Future] = collections.deque()
    try:
        for item in items:
            if len(pending) >= ahead:
                yield pending.popleft().result()
            pending.append(pool.submit(function, item))
        while pending:
            yield pending.popleft().result()
    finally:
        for future in pending:
            future.cancel()
