"""The FastAPI app: the web page, ``POST /predict``, ``/health``, ``/labels``, ``/docs`` (the contract).

Every request goes through the one :class:`~instrumentid.inference.predictor.Predictor`, so the server
returns exactly the records ``instrumentid predict --format json`` prints. Inference runs off
the event loop: each ``POST /predict`` is one job of an :class:`InferenceQueue` (a few worker
threads, a bounded number of waiting requests; when it is full the answer is 503 with a
``Retry-After`` header), and the workers' windows are scored together, in batches across
requests, by the model threads of a :class:`WindowBatcher`. A request whose client
disconnects is not scored: dropped if still queued, stopped before its next file if running.
Shutting down (the app's lifespan) finishes the accepted requests first.
Uploads are streamed to a temporary file with a size cap (413 past it); audio longer than the
duration cap or that cannot be decoded gives an error record naming the file (422 when every
file of a request fails), never a 500. ``/docs`` is Swagger UI from local files (no CDN).
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import re
import tempfile
import threading
from concurrent.futures import Future
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import anyio
from fastapi import FastAPI, File, HTTPException, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.middleware.trustedhost import TrustedHostMiddleware

from instrumentid import __version__, audio
from instrumentid.errors import ConfigError, InstrumentIdError
from instrumentid.inference import schema
from instrumentid.inference.decision import OVERRIDE_RANGE
from instrumentid.inference.predictor import Predictor
from instrumentid.labels import NAMES, parse_label_set
from instrumentid.serve.docs import add_offline_docs
from instrumentid.serve.guard import RequestGuard
from instrumentid.serve.inference_queue import InferenceQueue, QueueFull
from instrumentid.serve.responses import Record
from instrumentid.serve.window_batcher import WindowBatcher, batched

CHUNK = 1 << 20
log = logging.getLogger("instrumentid.serve")

#: Responses of ``POST /predict`` besides 200, for the OpenAPI page.
PREDICT_RESPONSES = {
    413: {"description": "an upload is over the server's upload limit, or too many files in one request"},
    422: {"description": "every file failed (each problem named), or a bad query parameter"},
    503: {"description": "the inference queue is full or the server is shutting down; see Retry-After"},
}


#: Bytes per second of 16-bit stereo WAV at 48 kHz (CD audio at 44.1 kHz takes less): the upload
#: limit follows the duration limit at this rate, so an hour-long WAV fits an hour's limit.
WAV_BYTES_PER_S = 48_000 * 2 * 2


@dataclass(frozen=True)
class Limits:
    """Per-file audio duration (s) and upload size (MB) caps; files per request; the whole request
    body (MB) and how long one read of it may wait (s). Without ``max_upload_mb`` the upload cap
    follows the duration cap (:meth:`upload_mb`), and without ``max_request_mb`` the body cap
    follows the upload cap (:meth:`request_mb`)."""

    max_upload_mb: float | None = None
    max_duration_s: float = 3600.0
    max_files: int = 32
    max_request_mb: float | None = None
    read_timeout_s: float = 30.0

    def upload_mb(self) -> float:
        """The upload cap in MB: ``max_upload_mb``, else ``max_duration_s`` of 48-kHz 16-bit stereo WAV
        plus 1 MB (headers, tags): 692 MB for an hour."""
        if self.max_upload_mb is not None:
            return self.max_upload_mb
        return math.ceil(self.max_duration_s * WAV_BYTES_PER_S / 1e6) + 1.0

    def request_mb(self) -> float:
        """The request body cap in MB: ``max_request_mb``, else one upload at the cap plus 1 MB."""
        return self.max_request_mb if self.max_request_mb is not None else self.upload_mb() + 1.0


#: What browsers escape in a multipart file name (the HTML form-data rules), turned back.
_FORM_ESCAPES = {"%22": '"', "%0A": "\n", "%0D": "\r"}


def _safe_name(filename: str | None) -> str:
    """The uploaded file's name as the user sent it: no folder part, and a browser's ``%22``
    (for ``"``) and ``%0A``/``%0D`` turned back into the characters (browsers leave ``%`` itself
    as it is, so a name that really holds ``%22`` comes back with ``"``: rare, and unknowable).
    NUL bytes are shown as ``\\x00`` (a path may not hold them)."""
    name = Path(filename or "upload").name or "upload"
    for escaped, character in _FORM_ESCAPES.items():
        name = name.replace(escaped, character)
    return name.replace("\x00", "\\x00")


def create_app(
    predictor: Predictor,
    limits: Limits | None = None,
    *,
    workers: int = 8,
    queue_size: int = 32,
    allowed_hosts: list[str] | None = None,
    cors_origins: tuple[str, ...] = (),
) -> FastAPI:
    """The app: ``workers`` requests are handled at once (their windows scored together by the
    model threads), at most ``queue_size`` more wait, uploads included; past that, 503.
    ``allowed_hosts`` (None: any) are the ``Host`` headers answered; ``cors_origins`` may POST
    from other sites (:class:`~instrumentid.serve.guard.RequestGuard`)."""
    limits = limits or Limits()
    work = InferenceQueue(workers=workers, queue_size=queue_size)
    batcher = WindowBatcher(predictor.score_windows, max_windows=predictor.batch_size, workers=predictor.concurrency)
    served = batched(predictor, batcher)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        yield
        await anyio.to_thread.run_sync(work.close)  # the server stopped accepting; finish what was accepted
        await anyio.to_thread.run_sync(batcher.close)

    app = FastAPI(
        title="instrumentid",
        version=__version__,
        description="Which musical instruments play in a recording (the IRMAS labels and an extended vocabulary). "
        "POST audio files to /predict; the response is one predict record per file.",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.inference = work
    _add_guards(app, limits, work, allowed_hosts, cors_origins)
    add_offline_docs(app)
    _add_info_routes(app, predictor, limits, work, batcher)

    @app.post("/predict", responses=PREDICT_RESPONSES, response_model=list[Record], response_model_exclude_unset=True)
    async def predict(
        request: Request,
        files: list[UploadFile] = File(..., description="one or more audio files"),
        segments: bool = Query(False, description="add per-window scores (a timeline)"),
        threshold: float | None = Query(
            None, ge=OVERRIDE_RANGE[0], le=OVERRIDE_RANGE[1], description="one threshold for every label"
        ),
        labels: str | None = Query(
            None,
            max_length=400,
            description="only these labels: 'irmas', 'extended' "
            "or comma-separated codes like sax,pia,dru (default: every label of the model)",
        ),
    ) -> list[dict]:
        if len(files) > limits.max_files:
            raise HTTPException(413, f"too many files: {len(files)} (at most {limits.max_files} per request)")
        subset = _label_subset(predictor, labels)
        left = threading.Event()  # set when the client disconnects: the job stops before its next file
        try:
            job = work.submit(_predict_uploads, served, limits, files, segments, threshold, subset, left)
        except QueueFull as exc:
            raise HTTPException(503, str(exc), headers={"Retry-After": str(exc.retry_after_s)}) from None
        records = await _unless_client_leaves(work, job, request, left)
        if records is None:
            return JSONResponse({"detail": "the client disconnected"}, 499)
        if all(schema.is_error(r) for r in records):
            raise HTTPException(422, "; ".join(r["error"] for r in records))
        return records

    return app


def _add_guards(
    app: FastAPI, limits: Limits, work: InferenceQueue, allowed_hosts: list[str] | None, cors_origins: tuple[str, ...]
) -> None:
    """Body, admission and origin limits, the ``Host`` check, and 422s that never echo the input."""
    app.add_middleware(
        RequestGuard,
        queue=work,
        max_body_bytes=int(limits.request_mb() * 1e6),
        read_timeout_s=limits.read_timeout_s,
        cors_origins=tuple(cors_origins),
    )
    if cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(cors_origins), allow_methods=["GET", "POST"])
    if allowed_hosts is not None:
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts)

    @app.exception_handler(RequestValidationError)
    async def invalid(_request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"loc": list(e.get("loc", ())), "msg": str(e.get("msg", ""))[:200]} for e in exc.errors()[:20]]
        return JSONResponse({"detail": errors}, 422)


def _add_info_routes(
    app: FastAPI, predictor: Predictor, limits: Limits, work: InferenceQueue, batcher: WindowBatcher
) -> None:
    page = (resources.files("instrumentid") / "serve" / "static" / "index.html").read_text(encoding="utf-8")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index() -> str:
        return page

    @app.get("/health")
    def health() -> dict:
        metadata = predictor.metadata
        return {
            "status": "ok",
            "model": {
                "recipe": metadata.get("recipe"),
                "created": metadata.get("created"),
                "model": predictor.info.model_name,
                "labels": list(predictor.labels),
                "sample_rate": predictor.sample_rate,
                "window_s": predictor.window_s,
                "hop_s": predictor.hop_s,
                "aggregation": predictor.aggregation,
                "thresholds": [round(float(t), 4) for t in predictor.thresholds],
                "instrumentid_version": __version__,
            },
            "limits": {
                "max_upload_mb": limits.upload_mb(),
                "max_duration_s": limits.max_duration_s,
                "max_files": limits.max_files,
                "max_request_mb": limits.request_mb(),
            },
            "queue": {
                "workers": work.workers,
                "queue_size": work.queue_size,
                "pending": work.pending,
                "abandoned": work.abandoned,
                "job_seconds": round(work.job_seconds, 3),
                "batches": batcher.batches,
                "windows": batcher.windows,
            },
        }

    @app.get("/labels")
    def labels() -> list[dict]:
        return [
            {"code": code, "name": NAMES.get(code, code), "threshold": round(float(t), 4)}
            for code, t in zip(predictor.labels, predictor.thresholds, strict=True)
        ]


def _label_subset(predictor: Predictor, text: str | None) -> tuple[str, ...] | None:
    """The ``labels=`` query as codes of the model (400 naming the problem otherwise)."""
    if text is None:
        return None
    try:
        subset = parse_label_set(text)
        predictor.label_columns(subset)
    except (ValueError, ConfigError) as exc:
        raise HTTPException(400, f"labels: {exc}"[:500]) from None
    return subset


async def _unless_client_leaves(
    work: InferenceQueue, job: Future, request: Request, left: threading.Event
) -> list[dict] | None:
    """The job's records, or None when the client disconnects first: then a queued job is dropped
    (:meth:`InferenceQueue.abandon`) and a running one stops before its next file (``left``)."""
    result = asyncio.wrap_future(job)
    gone = asyncio.ensure_future(_disconnected(request))
    try:
        await asyncio.wait({result, gone}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        gone.cancel()
    if not gone.done() or gone.cancelled():
        return await result
    left.set()
    never_ran = work.abandon(job)
    log.info("client left: its job was %s", "dropped before it started" if never_ran else "stopped between files")
    return None


async def _disconnected(request: Request) -> None:
    """Return once the client has disconnected (the body is read: nothing else can arrive)."""
    while (await request.receive())["type"] != "http.disconnect":
        continue


def _predict_uploads(
    predictor: Predictor,
    limits: Limits,
    uploads: list[UploadFile],
    segments: bool,
    threshold: float | None,
    labels: tuple[str, ...] | None,
    left: threading.Event,
) -> list[dict]:
    """One request's job, on a worker thread: one record per upload, in order, until the client leaves."""
    records = []
    for upload in uploads:
        if left.is_set():
            log.info("client left: %d of %d files not scored", len(uploads) - len(records), len(uploads))
            break
        records.append(_predict_upload(predictor, limits, upload, segments, threshold, labels))
    return records


def _spool(upload: UploadFile, name: str, max_upload_mb: float) -> str:
    """Copy an upload to a temporary file (keeping the letters and digits of its suffix, a hint
    for the decoder); 413 past the cap."""
    fd, tmp = tempfile.mkstemp(prefix="instrumentid-", suffix=re.sub(r"[^.A-Za-z0-9]", "", Path(name).suffix)[:10])
    try:
        size = 0
        with os.fdopen(fd, "wb") as handle:
            while chunk := upload.file.read(CHUNK):
                size += len(chunk)
                if size > max_upload_mb * 1e6:
                    raise HTTPException(413, f"{name}: upload larger than {max_upload_mb:g} MB")
                handle.write(chunk)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return tmp


def _predict_upload(
    predictor: Predictor,
    limits: Limits,
    upload: UploadFile,
    segments: bool,
    threshold: float | None,
    labels: tuple[str, ...] | None = None,
) -> dict:
    name = _safe_name(upload.filename)
    if "\x00" in (upload.filename or ""):
        return schema.error_record(name, f"{name}: the file name holds a NUL byte")
    tmp = _spool(upload, name, limits.upload_mb())
    try:
        duration = audio.declared_duration(tmp)  # from the header: the file is decoded once, to predict
        if duration is not None and duration > limits.max_duration_s:
            return schema.error_record(
                name, f"{name}: audio is {duration:.0f} s long, longer than the {limits.max_duration_s:g} s limit"
            )
        return _finite(
            predictor.predict_file(
                tmp,
                segments=segments,
                threshold=threshold,
                name=name,
                labels=labels,
                max_duration_s=limits.max_duration_s,
            )
        )
    except InstrumentIdError as exc:
        return schema.error_record(name, str(exc).replace(tmp, name))
    except Exception as exc:  # a bug must not become a 500 for the other files: log it (so BLE001 allows it), name it
        log.exception("unexpected error on %s", name)
        reason = str(exc).replace(tmp, name).strip().splitlines()
        return schema.error_record(
            name,
            f"{name}: could not be processed (unexpected {type(exc).__name__}{': ' + reason[-1] if reason else ''})",
        )
    finally:
        Path(tmp).unlink(missing_ok=True)


def _finite(record: dict) -> dict:
    """``record``, or an error record when a score is NaN/Inf: JSON has no NaN, and a null score is no answer."""
    scores = [
        *record["scores"].values(),
        *(v for segment in record.get("segments", []) for v in segment["scores"].values()),
    ]
    if all(math.isfinite(score) for score in scores):
        return record
    log.error("non-finite scores for %s", record["file"])
    return schema.error_record(record["file"], f"{record['file']}: the model gave non-finite scores for this audio")
