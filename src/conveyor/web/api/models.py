"""What the `/api/` routes answer, as pydantic models: the OpenAPI document says what each route
returns (and the errors, always `{"error": ...}`), so schemathesis can hold the API to it."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from starlette.responses import Response


class ErrorBody(BaseModel):
    error: str


# Every /api/ route may answer these; 422 replaces FastAPI's own validation body (ours is
# `{"error": ...}` too, see web/app.py).
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": text}
    for code, text in (
        (400, "bad input, named"),
        (401, "missing, unknown or revoked bearer token"),
        (404, "unknown job, connection, schedule or source"),
        (409, "the job's state (or the schedule's) does not allow the action"),
        (422, "invalid parameters or body, each named"),
        (503, "the store cannot be reached"),
    )
}


class JobOut(BaseModel):
    id: int
    task: str
    queue: str
    connection: str | None
    key: str | None
    leads_key: bool
    state: str
    attempts: int
    max_attempts: int
    priority: int
    run_at: datetime | None
    created_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    last_error: str | None
    idempotency_key: str | None
    payload: Any
    result: Any
    errors: list[dict[str, Any]]
    worker_id: str | None
    postponed_reason: str | None
    cancel_requested_at: datetime | None
    lease_expires_at: datetime | None
    batch_id: int | None
    parent_id: int | None
    progress: dict[str, Any] | None


class JobPage(BaseModel):
    jobs: list[JobOut]
    next: int | None


class Created(BaseModel):
    id: int


class Retried(BaseModel):
    retried: list[int]


class Cancelled(BaseModel):
    cancelled: list[int]


class Deleted(BaseModel):
    deleted: list[int]


class Stats(BaseModel):
    queues: dict[str, dict[str, int]]


class WorkerOut(BaseModel):
    worker_id: str
    hostname: str
    pid: int
    queues: list[str] | None
    tasks: list[str]
    started_at: datetime | None
    last_seen_at: datetime | None


class Workers(BaseModel):
    workers: list[WorkerOut]


class BlockedKeyOut(BaseModel):
    key: str
    job_id: int
    task: str
    last_error: str | None
    waiting: int


class BlockedKeys(BaseModel):
    blocked_keys: list[BlockedKeyOut]
    next: int | None  # pass as `after` for the next page (None: this was the last)


class ScheduleOut(BaseModel):
    name: str
    cron: str
    tz: str
    task: str | None
    catch_up: str
    next_run: datetime | None
    last_run: datetime | None
    status: str


class Schedules(BaseModel):
    schedules: list[ScheduleOut]


class ScheduleRun(BaseModel):
    schedule: str
    job_id: int | None
    ran_at: datetime


class BreakerOut(BaseModel):
    name: str
    state: str
    failures: int
    cool_off: float
    open_until: float | None
    probe_until: float | None
    updated_at: float
    last_error: str | None


class HoldOut(BaseModel):
    name: str
    kind: str
    until: float | None
    reason: str
    strikes: int
    updated_at: float


class Connections(BaseModel):
    breakers: list[BreakerOut]
    holds: list[HoldOut]


class Paused(BaseModel):
    paused: str
    hold: HoldOut


class Resumed(BaseModel):
    resumed: str
    jobs_released: int


class ConnectionTest(BaseModel):
    name: str
    ok: bool
    status: int | None
    latency_ms: float | None
    identity: str | None
    detail: str


class SyncRunOut(BaseModel):
    id: int
    source: str
    owner: str
    state: str
    mode: str
    since: float | None
    started_at: float
    updated_at: float
    finished_at: float | None
    stats: dict[str, int]
    errors: list[dict[str, Any]]
    checkpoint: dict[str, Any] | None
    cursor: Any


class SyncRuns(BaseModel):
    runs: list[SyncRunOut]


class RecordOut(BaseModel):
    source: str
    owner: str
    kind: str
    parent: str
    external_id: str
    data: Any
    content_hash: str
    first_seen_at: float
    last_seen_at: float
    updated_at: float
    deleted_at: float | None


class Records(BaseModel):
    records: list[RecordOut]


def trusted_json(data: dict[str, Any]) -> Response | dict[str, Any]:
    """`data` as a JSON answer, not checked against the route's model on the way out: for the
    job listings, whose rows are built by `Job.to_dict` with the model's fields (schemathesis
    holds them to the OpenAPI document). Checking 50 rows and dumping them through pydantic was
    a seventh of a listing's CPU, paid on every poll. A value JSON cannot carry (NaN, from an
    old SQLite payload) falls back to the checked path."""
    try:
        body = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError):
        return data
    return Response(body.encode(), media_type="application/json")
