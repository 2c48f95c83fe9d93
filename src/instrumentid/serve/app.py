"""The FastAPI app: the web page, ``POST /predict``, ``/health``, ``/labels`` (the contract).

Every request goes through the one :class:`~instrumentid.predict.Predictor`, so the server
returns exactly the records ``instrumentid predict --format json`` prints. Uploads are
streamed to a temporary file with a size cap (413 past it); audio longer than the duration
cap or that cannot be decoded gives 422 with the problem named, never a 500.
"""

from __future__ import annotations

import os
import tempfile
import threading
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from fastapi import FastAPI, File, HTTPException, Query, UploadFile
from fastapi.responses import HTMLResponse

from instrumentid import __version__, audio, schema
from instrumentid.errors import InstrumentIdError
from instrumentid.labels import NAMES
from instrumentid.predict import Predictor

CHUNK = 1 << 20


@dataclass(frozen=True)
class Limits:
    """Per-file upload size (MB) and audio duration (s) caps; files per request."""

    max_upload_mb: float = 100.0
    max_duration_s: float = 3600.0
    max_files: int = 32


def _safe_name(filename: str | None) -> str:
    return Path(filename or "upload").name or "upload"


def create_app(predictor: Predictor, limits: Limits | None = None) -> FastAPI:
    limits = limits or Limits()
    lock = threading.Lock()  # one forward pass at a time: 2 cores are better used by torch's threads
    app = FastAPI(
        title="instrumentid",
        version=__version__,
        description="Which musical instruments play in a recording (IRMAS labels). "
        "POST audio files to /predict; the response is one predict record per file.",
    )
    page = (resources.files("instrumentid") / "serve" / "static" / "index.html").read_text(encoding="utf-8")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index() -> str:
        return page

    @app.get("/health")
    def health() -> dict:
        metadata = predictor.metadata
        return {"status": "ok", "model": {
            "recipe": metadata.get("recipe"), "created": metadata.get("created"),
            "model": predictor.bundle["model"]["name"], "labels": list(predictor.labels),
            "sample_rate": predictor.sample_rate, "window_s": predictor.window_s, "hop_s": predictor.hop_s,
            "aggregation": predictor.aggregation, "thresholds": [round(float(t), 4) for t in predictor.thresholds],
            "instrumentid_version": __version__,
        }, "limits": {"max_upload_mb": limits.max_upload_mb, "max_duration_s": limits.max_duration_s,
                      "max_files": limits.max_files}}

    @app.get("/labels")
    def labels() -> list[dict]:
        return [{"code": code, "name": NAMES.get(code, code), "threshold": round(float(t), 4)}
                for code, t in zip(predictor.labels, predictor.thresholds)]

    @app.post("/predict")
    def predict(
        files: list[UploadFile] = File(..., description="one or more audio files"),
        segments: bool = Query(False, description="add per-window scores (a timeline)"),
        threshold: float | None = Query(None, ge=0.0, le=1.0, description="one threshold for every label"),
    ) -> list[dict]:
        if len(files) > limits.max_files:
            raise HTTPException(413, f"too many files: {len(files)} (at most {limits.max_files} per request)")
        records = []
        for upload in files:
            name = _safe_name(upload.filename)
            records.append(_predict_upload(upload, name, segments, threshold))
        if all(schema.is_error(r) for r in records):
            raise HTTPException(422, "; ".join(r["error"] for r in records))
        return records

    def _predict_upload(upload: UploadFile, name: str, segments: bool, threshold: float | None) -> dict:
        suffix = Path(name).suffix[:10]
        fd, tmp = tempfile.mkstemp(prefix="instrumentid-", suffix=suffix)
        try:
            size = 0
            with os.fdopen(fd, "wb") as handle:
                while chunk := upload.file.read(CHUNK):
                    size += len(chunk)
                    if size > limits.max_upload_mb * 1e6:
                        raise HTTPException(413, f"{name}: upload larger than {limits.max_upload_mb:g} MB")
                    handle.write(chunk)
            try:
                duration = audio.info(tmp).duration_seconds
                if duration > limits.max_duration_s:
                    return schema.error_record(name, f"{name}: audio is {duration:.0f} s long, "
                                                     f"longer than the {limits.max_duration_s:g} s limit")
                with lock:
                    return predictor.predict_file(tmp, segments=segments, threshold=threshold, name=name)
            except InstrumentIdError as exc:
                return schema.error_record(name, str(exc).replace(tmp, name))
        finally:
            Path(tmp).unlink(missing_ok=True)

    return app
