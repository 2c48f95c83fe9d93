"""Pydantic models of the server's responses, for the OpenAPI page (``/docs``) and clients.

They describe the predict record of :mod:`instrumentid.inference.schema` (its one home); unknown keys are
kept (``extra="allow"``), so a field the record gains is passed through, not dropped.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Segment(BaseModel):
    """One analysis window of the timeline (``segments=true``)."""

    model_config = ConfigDict(extra="allow")
    start_s: float
    end_s: float
    scores: dict[str, float] = Field(description="every label's score in [0, 1]")
    present: list[str] = Field(description="labels at or above their threshold in this window")


class Record(BaseModel):
    """One uploaded file's record: scores and present labels, or ``error`` (then only ``file`` and ``error``)."""

    model_config = ConfigDict(extra="allow")
    file: str = Field(description="the file name as uploaded")
    duration_s: float | None = None
    scores: dict[str, float] | None = Field(None, description="every label of the model: code -> score in [0, 1]")
    present: list[str] | None = Field(None, description="labels whose score is at or above the threshold in force")
    segments: list[Segment] | None = Field(None, description="per-window scores, with segments=true")
    activity: dict[str, list[tuple[float, float]]] | None = Field(
        None, description="per label, the [start_s, end_s] ranges where it is active"
    )
    warnings: list[str] | None = Field(None, description="e.g. all-silent, short")
    error: str | None = Field(None, description="why the file could not be scored (the file's name first)")
