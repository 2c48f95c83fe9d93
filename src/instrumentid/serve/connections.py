"""uvicorn's h11 protocol with two bounds on connections that have not sent a request head yet.

uvicorn has no deadline for a request head, and its ``limit_concurrency`` counts every open
connection, so a few thousand clients that open a connection and send half a head (then
nothing) hold file descriptors forever and make every later request a 503 (issue 17). Here:

- a connection waiting for a request head (just opened, or idle after a response) is closed
  ``header_timeout_s`` after it started waiting, whatever trickles in meanwhile;
- at most ``max_connections`` are open: one more closes the connection that has waited longest
  for its head, so slow or idle heads can never lock out a client that sends a whole request.
  Only when every open connection has a request in progress is the newcomer closed.

Requests in progress are bounded elsewhere (:class:`~instrumentid.serve.guard.RequestGuard`).
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.h11_impl import H11Protocol


class GuardedH11Protocol(H11Protocol):
    """:class:`H11Protocol` with a request-head deadline and a connection cap that evicts waiting heads;
    :func:`guarded_protocol` makes one with its limits."""

    header_timeout_s: float = 10.0
    max_connections: int = 1000
    #: connections waiting for a request head, oldest first (one dict per configured class: per server)
    waiting: dict[GuardedH11Protocol, None] = {}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.limit_concurrency = None  # uvicorn's cap counts waiting heads too; ours evicts them
        self.head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.max_connections and not self._evict_oldest_waiting():
            transport.close()
            return
        self._wait_for_head()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.cycle is not None and not self.cycle.response_complete:  # a whole head arrived
            self._stop_waiting()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._wait_for_head()  # the next request's head (keep-alive) gets its own deadline

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_waiting()
        super().connection_lost(exc)

    def _wait_for_head(self) -> None:
        self._stop_waiting()
        self.waiting[self] = None
        self.head_timer = self.loop.call_later(self.header_timeout_s, self._head_timed_out)

    def _stop_waiting(self) -> None:
        self.waiting.pop(self, None)
        if self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None

    def _head_timed_out(self) -> None:
        self.head_timer = None
        self.waiting.pop(self, None)
        self.transport.close()

    def _evict_oldest_waiting(self) -> bool:
        """Close the connection that has waited longest for a head; False when none waits."""
        if not self.waiting:
            return False
        oldest = next(iter(self.waiting))
        oldest._stop_waiting()
        oldest.transport.close()
        return True


def guarded_protocol(*, header_timeout_s: float, max_connections: int) -> type[GuardedH11Protocol]:
    """A :class:`GuardedH11Protocol` class with these limits (give it to uvicorn as ``http=``)."""
    return type(
        "ConfiguredH11Protocol",
        (GuardedH11Protocol,),
        {"header_timeout_s": float(header_timeout_s), "max_connections": int(max_connections), "waiting": {}},
    )
