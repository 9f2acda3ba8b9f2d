"""The one interface every storage backend implements.

The store is synchronous: SQLite's driver is, and `app.enqueue` is mostly called from synchronous
web code. The worker calls it from one dedicated thread per process, in batches, so the event
loop never blocks on the database.
"""

from __future__ import annotations

import json
import traceback
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any

from ..breaker import BreakerRecord
from ..job import BlockedKey, ClaimedJob, Job, JobFilter, NewJob, Outcome
from ..ratelimit import RateLimit
from ..workers import WorkerRecord

IDEMPOTENCY_RETENTION = 30 * 24 * 3600.0
BreakerChange = Callable[[BreakerRecord | None, float], BreakerRecord | None]
BREAKER_FIELDS = (
    "name",
    "state",
    "failures",
    "cool_off",
    "open_until",
    "probe_until",
    "updated_at",
    "last_error",
)


def breaker_record(row: Any) -> BreakerRecord:
    return BreakerRecord(**{field: row[field] for field in BREAKER_FIELDS})


class Store(ABC):
    """Durable job storage. Every method is one short transaction."""

    url: str
    dialect: str

    @abstractmethod
    def migrate(self) -> list[str]:
        """Apply pending migrations; return the names applied."""

    @abstractmethod
    def schema_version(self) -> int: ...

    @abstractmethod
    def enqueue(self, jobs: Sequence[NewJob], connection: Any = None) -> list[int]:
        """Store jobs (in `connection`'s open transaction when given); return their ids.

        A job whose idempotency key is already known returns the id of the job that holds it.
        """

    @abstractmethod
    def record_finished(
        self,
        job: NewJob,
        state: str,
        started: float,
        result: str | None = None,
        error: dict[str, Any] | None = None,
    ) -> int:
        """Store a job that already ran in the caller (run_now with persist=True)."""

    @abstractmethod
    def claim(
        self,
        worker_id: str,
        queues: Sequence[str] | None,
        limit: int,
        lease_seconds: float,
        tasks: Sequence[str] | None = None,
    ) -> list[ClaimedJob]:
        """Lease up to `limit` due jobs of `queues` and `tasks` (None: all).

        A worker passes the tasks it has: a job it could not run is never claimed, so it keeps
        its attempts and waits for a worker that has its task.
        """

    @abstractmethod
    def complete(self, outcomes: Sequence[Outcome]) -> None:
        """Write attempt outcomes, promoting the next job of each key that was released."""

    @abstractmethod
    def renew(self, leases: Sequence[tuple[int, int]], lease_seconds: float) -> set[int]:
        """Extend the leases (job id, token) still held; return the ids whose lease was lost."""

    @abstractmethod
    def recover_expired(self) -> int:
        """Put back running jobs whose lease expired (their worker died); return how many.

        One whose cancel was requested is cancelled instead, and its key released. Also prunes
        the registry rows of workers unseen for `STALE_AFTER_LEASES` leases.
        """

    @abstractmethod
    def cancel_requested(self, job_ids: Sequence[int]) -> set[int]:
        """Those of these running jobs whose cancel was requested (the worker polls this)."""

    @abstractmethod
    def seconds_until_due(
        self, queues: Sequence[str] | None, tasks: Sequence[str] | None = None
    ) -> float | None:
        """Seconds until the earliest queued/retrying job of `queues` and `tasks` (None: all)
        is due (<= 0: now), None if none."""

    @abstractmethod
    def any_postponed(
        self, queues: Sequence[str] | None, tasks: Sequence[str] | None = None
    ) -> bool:
        """Whether a queued/retrying job waits only because it was postponed (rate limit,
        breaker): for burst workers, such a job is still runnable."""

    @abstractmethod
    def get(self, job_id: int) -> Job: ...

    @abstractmethod
    def list_jobs(self, filters: JobFilter) -> list[Job]: ...

    @abstractmethod
    def retry(self, job_ids: Sequence[int], payload: str | None = None) -> list[int]:
        """Operator retry of dead (or retrying) jobs: back to queued, attempts reset."""

    @abstractmethod
    def dead_job_ids(self, queue: str | None = None, task: str | None = None) -> list[int]: ...

    @abstractmethod
    def cancel(self, job_ids: Sequence[int]) -> list[int]:
        """Cancel unfinished jobs; return the ids acted on.

        A running job is only marked (`cancel_requested_at`): its code may still run, so it keeps
        its key until the attempt ends, then ends `cancelled` whatever the attempt did.
        """

    @abstractmethod
    def delete(self, job_ids: Sequence[int]) -> list[int]: ...

    @abstractmethod
    def stats(self) -> list[tuple[str, str, int]]:
        """(queue, state, count) rows."""

    @abstractmethod
    def prune(
        self, older_than: float, idempotency_older_than: float = IDEMPOTENCY_RETENTION
    ) -> int:
        """Delete succeeded/cancelled jobs finished more than `older_than` seconds ago."""

    @abstractmethod
    def blocked_keys(self, limit: int = 100) -> list[BlockedKey]: ...

    @abstractmethod
    def states(self, job_ids: Sequence[int]) -> dict[int, str]: ...

    @abstractmethod
    def runnable_counts(self) -> list[tuple[str, str, int]]:
        """(queue, task, count) of queued and retrying jobs."""

    # -- workers: who runs which tasks, for operators ------------------------------------

    @abstractmethod
    def register_worker(
        self,
        worker_id: str,
        hostname: str,
        pid: int,
        queues: Sequence[str] | None,
        tasks: Sequence[str],
        lease_seconds: float,
    ) -> None:
        """Insert (or replace) a running worker's row, seen now."""

    @abstractmethod
    def heartbeat_worker(self, worker_id: str) -> bool:
        """Mark the worker seen now; False when its row is gone (pruned), to register again."""

    @abstractmethod
    def unregister_worker(self, worker_id: str) -> None: ...

    @abstractmethod
    def list_workers(self) -> list[WorkerRecord]:
        """The live workers: seen within `STALE_AFTER_LEASES` of their own lease."""

    # -- connections: rate limits and circuit breakers, shared by every worker ------------

    @abstractmethod
    def clock(self) -> float:
        """Now, in epoch seconds, by the store's clock (the database's, on PostgreSQL)."""

    @abstractmethod
    def take_token(self, name: str, limit: RateLimit) -> float:
        """Take one token from the bucket `name`: 0.0 when taken, else seconds until one is due."""

    @abstractmethod
    def breaker(self, name: str) -> BreakerRecord | None: ...

    @abstractmethod
    def change_breaker(
        self, name: str, change: BreakerChange
    ) -> tuple[BreakerRecord | None, BreakerRecord | None]:
        """Apply `change(current, now)` under a lock and store its result unless it is None.

        Returns (the record before, the record written or None when nothing changed).
        """

    @abstractmethod
    def breakers(self) -> list[BreakerRecord]: ...

    def wake_listener(self, callback: Callable[[], None]) -> Callable[[], None] | None:
        """Call `callback` (from any thread) when jobs may be runnable; return a stop function.

        Backends without notifications return None and the worker polls.
        """
        return None

    @abstractmethod
    def close(self) -> None: ...


def error_record(error: BaseException, attempt: int, at: float) -> dict[str, Any]:
    """What is kept of a failed attempt."""
    record: dict[str, Any] = {
        "attempt": attempt,
        "at": at,
        "type": type(error).__name__,
        "message": str(error) or type(error).__name__,
        "traceback": "".join(traceback.format_exception(error))[-8000:],
    }
    details = getattr(error, "details", None)  # a DeliveryError's status, latency, excerpt
    if isinstance(details, dict):
        record.update({k: v for k, v in details.items() if k not in record})
    return record


def with_schema_hint(message: str) -> str:
    """A driver's "no such table" about our tables means the database was never migrated:
    say how to fix it (the schema is never created implicitly)."""
    missing = "no such table: conveyor_" in message or (
        'relation "conveyor_' in message and "does not exist" in message
    )
    if missing:
        return f"{message} (no Conveyor schema here: run app.migrate() or `conveyor migrate`)"
    return message


def decode_json(value: Any) -> Any:
    if value is None or not isinstance(value, str | bytes):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def dbapi_connection(connection: Any) -> Any:
    """The DB-API connection behind a SQLAlchemy Connection, or the connection itself."""
    inner = getattr(connection, "connection", None)
    if inner is not None and hasattr(inner, "dbapi_connection"):
        return inner.dbapi_connection
    return connection


def finished_params(
    job: NewJob, state: str, started: float, result: str | None, error: dict[str, Any] | None
) -> dict[str, Any]:
    return {
        "task": job.task,
        "queue": job.queue,
        "payload": job.payload,
        "key": job.key,
        "priority": job.priority,
        "state": state,
        "max_attempts": job.max_attempts,
        "started": started,
        "result": result,
        "errors": json.dumps([error] if error else []),
        "last_error": (error or {}).get("message"),
    }
