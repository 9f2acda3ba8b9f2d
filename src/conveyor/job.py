"""Jobs as the store hands them out, and the records the worker sends back."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

# `waiting` is an internal refinement of `queued`: a keyed job behind another job of its key.
STATES = ("waiting", "queued", "running", "retrying", "succeeded", "dead", "cancelled")
FINAL_STATES = ("succeeded", "dead", "cancelled")
# States in which a job holds its ordering key (blocks the jobs behind it).
KEY_HOLDING_STATES = ("queued", "running", "retrying", "dead")


def utc(timestamp: float | None) -> datetime | None:
    return None if timestamp is None else datetime.fromtimestamp(timestamp, UTC)


@dataclass(slots=True)  # not frozen: frozen __init__ costs microseconds on the enqueue path
class NewJob:
    """A job about to be stored. `payload` is already-serialised JSON text."""

    task: str
    queue: str
    payload: str
    max_attempts: int
    key: str | None = None
    leads_key: bool = False
    idempotency_key: str | None = None
    priority: int = 0
    delay: float = 0.0
    run_at: datetime | None = None
    # Set by the store's batch and fan-out paths (`create_batch`, a parent's completion).
    batch_id: int | None = None
    parent_id: int | None = None
    connection: str | None = None  # the connection a task bound to one calls (filters, alerts)


@dataclass(slots=True)
class ClaimedJob:
    """What a worker needs to run one attempt. `token` fences every later write for it."""

    id: int
    task: str
    queue: str
    payload: str
    key: str | None
    attempt: int
    max_attempts: int
    priority: int
    token: int
    batch_id: int | None = None


OutcomeKind = Literal["succeeded", "retry", "dead", "handback", "postpone", "cancelled"]


@dataclass(slots=True)
class OutcomeExtra:
    """What only some outcomes carry: their job's batch (settled in the same transaction), the
    children the attempt enqueued (written only if it succeeded) and its last unwritten progress."""

    batch_id: int | None = None
    children: list[NewJob] = field(default_factory=list)
    progress: tuple[int, int | None] | None = None


@dataclass(slots=True)
class Outcome:
    """The end of one attempt, written back in batches.

    `retry` waits `delay` seconds; `handback` returns an unfinished job (shutdown) and `postpone`
    returns a job that could not run yet (rate limit, open breaker) for `delay` seconds, neither
    counting the attempt; a postponement keeps its `reason`, shown to operators while it waits.
    `cancelled` ends an attempt stopped by a cancel request (keeping its
    `result` or `error`, if any). The store makes any outcome of a job whose cancel was requested
    `cancelled`, even when the worker had not learnt of the request yet.
    """

    job_id: int
    token: int
    kind: OutcomeKind
    key: str | None = None
    result: str | None = None
    error: dict[str, Any] | None = None
    delay: float = 0.0
    reason: str | None = None
    # None for almost every job: the store's plain, fast path (see OutcomeExtra).
    extra: OutcomeExtra | None = None


@dataclass(frozen=True, slots=True)
class Job:
    """A stored job, as shown to operators."""

    id: int
    task: str
    queue: str
    payload: Any
    key: str | None
    leads_key: bool
    idempotency_key: str | None
    priority: int
    state: str
    attempts: int
    max_attempts: int
    run_at: datetime | None
    created_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    last_error: str | None
    errors: list[dict[str, Any]] = field(default_factory=list)
    result: Any = None
    worker_id: str | None = None
    lease_expires_at: datetime | None = None
    postponed_reason: str | None = None
    # Set by a cancel of the running job; it stays `running` until the attempt ends.
    cancel_requested_at: datetime | None = None
    batch_id: int | None = None
    parent_id: int | None = None  # the job whose attempt enqueued it (fan-out)
    progress_done: int | None = None
    progress_total: int | None = None

    @property
    def progress(self) -> dict[str, Any] | None:
        """What the task last reported (`current_job().progress`), with its ratio if known."""
        if self.progress_done is None:
            return None
        total = self.progress_total
        ratio = min(self.progress_done / total, 1.0) if total else None
        return {"done": self.progress_done, "total": total, "ratio": ratio}

    connection: str | None = None  # set at enqueue for a task bound to a connection

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data; every time an ISO-8601 string in UTC (the stored attempt records
        keep `at` in epoch seconds: converted here, on the way out)."""

        def iso(value: datetime | None) -> str | None:
            return value.isoformat() if value else None

        return {
            "id": self.id,
            "task": self.task,
            "queue": self.queue,
            "connection": self.connection,
            "key": self.key,
            "leads_key": self.leads_key,
            "state": self.state,
            "attempts": self.attempts,
            "max_attempts": self.max_attempts,
            "priority": self.priority,
            "run_at": iso(self.run_at),
            "created_at": iso(self.created_at),
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
            "last_error": self.last_error,
            "idempotency_key": self.idempotency_key,
            "payload": self.payload,
            "result": self.result,
            "errors": [_iso_attempt(error) for error in self.errors],
            "worker_id": self.worker_id,
            "postponed_reason": self.postponed_reason,
            "cancel_requested_at": iso(self.cancel_requested_at),
            "lease_expires_at": iso(self.lease_expires_at),
            "batch_id": self.batch_id,
            "parent_id": self.parent_id,
            "progress": self.progress,
        }


def _iso_attempt(error: dict[str, Any]) -> dict[str, Any]:
    at = error.get("at")
    if isinstance(at, int | float) and not isinstance(at, bool):
        return {**error, "at": datetime.fromtimestamp(at, UTC).isoformat()}
    return error


@dataclass(frozen=True, slots=True)
class JobFilter:
    state: str | None = None
    task: str | None = None
    queue: str | None = None
    key: str | None = None
    limit: int = 50
    before_id: int | None = None  # keyset pagination: the page after the one ending there
    since: float | None = None  # epoch seconds: finished (or, unfinished, created) since then
    connection: str | None = None  # the connection a delivery, call or bound task is for
    error: str | None = None  # text in the last error, any case (a substring, not a pattern)
    batch_id: int | None = None  # the batch's members (and their children): `app.batch(...)`

    def params(self) -> dict[str, Any]:
        """The named parameters of the `list_jobs` query (both dialects)."""
        return {
            "state": self.state,
            "task": self.task,
            "queue": self.queue,
            "key": self.key,
            "limit": self.limit,
            "before_id": self.before_id,
            "since": self.since,
            "connection": self.connection,
            "error": None if self.error is None else f"%{like_escaped(self.error)}%",
            "batch_id": self.batch_id,
        }

    @property
    def plain(self) -> bool:
        """Only a state, queue or task: "every dead job of a queue" needs no listing."""
        narrower = (
            self.key,
            self.since,
            self.before_id,
            self.connection,
            self.error,
            self.batch_id,
        )
        return all(value is None for value in narrower)


def like_escaped(text: str) -> str:
    """`text` matched literally inside a LIKE pattern (ESCAPE '\\'): %, _ and \\ escaped."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@dataclass(frozen=True, slots=True)
class PostponedJobs:
    """The queued and retrying jobs waiting out a postponement (`Store.postponed_jobs`).

    `on_hold` of them wait for someone (a paused connection's resume: their reason begins with
    `politeness.ON_HOLD`); `throttled_in` is the seconds until the first of the others is due
    (<= 0: now; None: there are none); `first_due` and `last_due` are the earliest and latest
    `run_at` of them all, in epoch seconds (None when there are none).
    """

    jobs: int = 0
    on_hold: int = 0
    throttled_in: float | None = None
    first_due: float | None = None
    last_due: float | None = None


@dataclass(frozen=True, slots=True)
class BlockedKey:
    key: str
    job_id: int
    task: str
    last_error: str | None
    waiting: int
