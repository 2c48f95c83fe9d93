"""The server's front door: an ASGI middleware that bounds what a request may cost before the app reads it.

For every ``POST``: a foreign ``Origin`` (not this host, not a ``--cors-origin``) is refused
with 403 (no cross-site form posts); the request is admitted only while fewer than the
queue's capacity (workers + queue size) are in flight, *uploads included*, else 503 with
``Retry-After`` before a byte of the body is read; a ``Content-Length`` over the cap is 413 at
once, and the body is counted as it streams in (413 the moment it passes the cap, so nothing
beyond it is spooled); each body read waits at most ``read_timeout_s`` (408 after). The
``Host`` check is Starlette's ``TrustedHostMiddleware``; connection counts and keep-alive
are uvicorn's settings (``instrumentid serve``).
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse


class RequestGuard:
    """ASGI middleware bounding ``POST`` requests: bodies of at most ``max_body_bytes``, body reads
    that wait at most ``read_timeout_s``, cross-origin posts only from ``cors_origins``.

    ``queue`` is the :class:`~instrumentid.serve.inference_queue.InferenceQueue` whose capacity
    bounds requests in flight and whose job times give ``Retry-After``.
    """

    def __init__(
        self, app, *, queue, max_body_bytes: int, read_timeout_s: float = 30.0, cors_origins: tuple[str, ...] = ()
    ) -> None:
        self.app, self.queue = app, queue
        self.max_body_bytes, self.read_timeout_s, self.cors_origins = max_body_bytes, read_timeout_s, cors_origins
        self.in_flight = 0

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        refusal = self._refusal(scope)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        self.in_flight += 1
        try:
            await self.app(scope, self._bounded(receive), send)
        finally:
            self.in_flight -= 1

    def _refusal(self, scope) -> JSONResponse | None:
        """The answer given without reading the body, or None to admit the request."""
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        origin = headers.get("origin")
        if origin and urlsplit(origin).netloc != headers.get("host") and origin not in self.cors_origins:
            return JSONResponse(
                {"detail": f"cross-origin POST from {origin[:100]} refused (not an origin this server allows)"}, 403
            )
        capacity = self.queue.workers + self.queue.queue_size
        if self.in_flight >= capacity or self.queue.closed:
            return JSONResponse(
                {
                    "detail": f"the server is busy: {self.in_flight} requests in flight (at most "
                    f"{capacity}); retry later"
                },
                503,
                headers={"Retry-After": str(self.queue.retry_after_s(self.in_flight))},
            )
        length = headers.get("content-length", "0")
        if not length.isdigit() or int(length) > self.max_body_bytes:
            return JSONResponse({"detail": self._too_large()}, 413)
        return None

    def _too_large(self) -> str:
        return f"request body larger than {self.max_body_bytes / 1e6:g} MB (this server's request limit)"

    def _bounded(self, receive):
        """``receive`` counting the body's bytes (413 past the cap) and waiting at most the read timeout."""
        received, done = 0, False

        async def bounded():
            nonlocal received, done
            if done:  # after the body: only a disconnect is left to wait for
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), self.read_timeout_s)
            except asyncio.TimeoutError:
                raise HTTPException(408, f"no body data for {self.read_timeout_s:g} s") from None
            received += len(message.get("body", b""))
            if received > self.max_body_bytes:
                raise HTTPException(413, self._too_large())
            done = not message.get("more_body", False)
            return message

        return bounded
