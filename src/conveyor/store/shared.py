"""`SQLStore`: the methods that are the same SQL on both dialects but for the driver, written once.

A dialect gives the seam: cursors in three kinds of transaction (`_read`, `_write`, `_write_one`),
how a batch travels (`_array`: a JSON text for SQLite's json_each, a list for PostgreSQL's arrays),
whether the statement takes the application's clock (`_with_now`: SQLite) or the database's
(PostgreSQL's now()), and its rows as records (`_job`, `_worker`, `_event`). What differs for real
(enqueue, claim, complete, renew, recovery, key locks, rate tokens, the breakers' lock and clock,
wake-ups, an inbound event stored with its jobs) stays in `sqlite/` and `postgres/`, one module per
slice.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from ..breaker import BreakerRecord
from ..errors import JobNotFound
from ..inbound.records import ReceivedEvent
from ..job import FINAL_STATES, BlockedKey, Job, JobFilter, NewJob, PostponedJobs
from ..politeness import Hold, paused_prefix
from ..workers import STALE_AFTER_LEASES, WorkerRecord
from . import listing, queries
from .base import Store
from .common import filter_params, finished_params, worker_params
from .jobs import FINAL_WINDOW, IDEMPOTENCY_RETENTION
from .limits import breaker_record, hold_record
from .schema import pending


class Cursor(Protocol):
    """What the shared methods use of a DB-API cursor (sqlite3's and psycopg's both fit)."""

    @property
    def rowcount(self) -> int: ...

    def execute(self, query: str, params: Any = ..., /) -> Any: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class SQLStore(Store):
    _q: dict[str, str]

    # -- the seam: what each dialect provides -----------------------------------------------

    @abstractmethod
    def _read(self, records: bool = False) -> AbstractContextManager[Cursor]:
        """A cursor whose statements each commit on their own (reads, single statements).
        `records`: rows are read by column name."""

    @abstractmethod
    def _write(self, records: bool = False) -> AbstractContextManager[Cursor]:
        """A cursor in one write transaction, committed at the end, rolled back on error."""

    @abstractmethod
    def _write_one(self) -> AbstractContextManager[Cursor]:
        """A cursor for one write statement."""

    @abstractmethod
    def _array(self, values: Iterable[Any]) -> Any:
        """A batch as the dialect's SQL reads it."""

    @abstractmethod
    def _with_now(self, params: dict[str, Any]) -> dict[str, Any]:
        """`params`, plus the current time where the SQL takes it from the application."""

    @abstractmethod
    def _job(self, row: Any) -> Job: ...

    @abstractmethod
    def _worker(self, row: Any) -> WorkerRecord: ...

    @abstractmethod
    def _event(self, row: Any) -> ReceivedEvent: ...

    @abstractmethod
    def _release(self, query: str, job_ids: Sequence[int]) -> list[int]:
        """Run `cancel` or `delete` on these jobs and promote the next job of the keys they
        released; return the ids acted on."""

    @abstractmethod
    def _lock_migrations(self, cur: Cursor) -> None:
        """Keep a second migrating process out until this transaction ends."""

    @abstractmethod
    def _run_script(self, cur: Cursor, sql: str) -> None:
        """Run a migration file (several statements)."""

    def _notify(self, cur: Cursor) -> None:
        """Jobs may have become runnable: wake idle workers (where the dialect notifies)."""

    # -- jobs -------------------------------------------------------------------------------

    def record_finished(
        self,
        job: NewJob,
        state: str,
        started: float,
        result: str | None = None,
        error: dict[str, Any] | None = None,
    ) -> int:
        params = self._with_now(finished_params(job, state, started, result, error))
        with self._write_one() as cur:
            row = cur.execute(self._q["insert_finished"], params).fetchone()
        return int(row[0])

    def cancel_requested(self, job_ids: Sequence[int]) -> set[int]:
        if not job_ids:
            return set()
        with self._read() as cur:
            rows = cur.execute(self._q["cancel_requested"], {"ids": self._array(job_ids)})
            return {int(row[0]) for row in rows.fetchall()}

    def seconds_until_due(
        self, queues: Sequence[str] | None, tasks: Sequence[str] | None = None
    ) -> float | None:
        params = self._with_now(filter_params(queues, tasks, self._array))
        with self._read() as cur:
            row = cur.execute(self._q["seconds_until_due"], params).fetchone()
        return None if row is None or row[0] is None else float(row[0])

    def postponed_jobs(
        self, queues: Sequence[str] | None, tasks: Sequence[str] | None = None
    ) -> PostponedJobs:
        params = self._with_now(filter_params(queues, tasks, self._array))
        with self._read() as cur:
            jobs, on_hold, throttled_in, first, last = cur.execute(
                self._q["postponed_jobs"], params
            ).fetchone()
        return PostponedJobs(
            int(jobs), int(on_hold or 0), _seconds(throttled_in), _seconds(first), _seconds(last)
        )

    def get(self, job_id: int) -> Job:
        with self._read(records=True) as cur:
            row = cur.execute(self._q["get_job"], {"id": job_id}).fetchone()
        if row is None:
            raise JobNotFound(f"no job with id {job_id}")
        return self._job(row)

    def list_jobs(self, filters: JobFilter) -> list[Job]:
        params = filters.params()
        name = _listing(filters)
        with self._read(records=True) as cur:
            if name != "list_jobs":  # by connection: statements of their own, on its index
                return [self._job(row) for row in cur.execute(self._q[name], params).fetchall()]
            if filters.since is None:
                rows = cur.execute(listing.statement(self._q, filters, self.dialect), params)
            else:
                rows = self._since_rows(cur, filters, params)
            return [self._job(row) for row in rows]

    def _since_rows(self, cur: Any, filters: JobFilter, params: dict[str, Any]) -> list[Any]:
        """A `since` page: from the filter's newest jobs if they hold it (bounded work), else by
        the window's time indexes (work bounded by the window)."""
        recent, walked, window = listing.since_statements(self._q, filters, self.dialect)
        walking = {**params, "walk": listing.WALK}
        rows: list[Any] = cur.execute(recent, walking).fetchall()
        if len(rows) >= filters.limit:
            return rows
        if cur.execute(walked, walking).fetchone()["walked"] < listing.WALK:
            return rows  # the walk saw every candidate
        return cur.execute(window, params).fetchall()  # type: ignore[no-any-return]

    def states(self, job_ids: Sequence[int]) -> dict[int, str]:
        with self._read() as cur:
            rows = cur.execute(self._q["job_states"], {"ids": self._array(job_ids)}).fetchall()
        found = {int(row[0]): str(row[1]) for row in rows}
        return {job_id: found[job_id] for job_id in job_ids if job_id in found}

    def retry(self, job_ids: Sequence[int], payload: str | None = None) -> list[int]:
        params = self._with_now({"ids": self._array(job_ids), "payload": payload})
        with self._write() as cur:
            done = [int(row[0]) for row in cur.execute(self._q["operator_retry"], params)]
            if done:
                self._notify(cur)
        return in_order(job_ids, done)

    def dead_job_ids(self, queue: str | None = None, task: str | None = None) -> list[int]:
        with self._read() as cur:
            rows = cur.execute(self._q["dead_ids"], {"queue": queue, "task": task}).fetchall()
        return [int(row[0]) for row in rows]

    def dead_since(self, since: float, cap: int) -> int:
        with self._read() as cur:
            row = cur.execute(self._q["dead_since"], {"since": since, "cap": cap}).fetchone()
        return int(row[0]) if row else 0

    def cancel(self, job_ids: Sequence[int]) -> list[int]:
        return in_order(job_ids, self._release("cancel", job_ids))

    def delete(self, job_ids: Sequence[int]) -> list[int]:
        return in_order(job_ids, self._release("delete", job_ids))

    def stats(self, final_window: float = FINAL_WINDOW) -> list[tuple[str, str, int]]:
        params = self._with_now({"final_window": final_window})
        with self._read() as cur:
            rows = cur.execute(self._q["stats"], params).fetchall()
        return [(r[0], r[1], int(r[2])) for r in rows]

    def prune(
        self, older_than: float, idempotency_older_than: float = IDEMPOTENCY_RETENTION
    ) -> int:
        params = self._with_now(
            {"older_than": older_than, "keys_older_than": idempotency_older_than}
        )
        with self._write() as cur:
            cur.execute(self._q["prune_jobs"], params)
            removed = cur.rowcount
            cur.execute(self._q["prune_idempotency"], params)
        return int(removed)

    def blocked_keys(self, limit: int = 100, after: int = 0) -> list[BlockedKey]:
        with self._read() as cur:
            params = {"limit": limit, "after": after}
            rows = cur.execute(self._q["blocked_keys"], params).fetchall()
        return [BlockedKey(r[0], r[1], r[2], r[3], int(r[4])) for r in rows]

    # -- workers ----------------------------------------------------------------------------

    def register_worker(
        self,
        worker_id: str,
        hostname: str,
        pid: int,
        queues: Sequence[str] | None,
        tasks: Sequence[str],
        lease_seconds: float,
    ) -> None:
        params = worker_params(worker_id, hostname, pid, queues, tasks, lease_seconds)
        with self._write_one() as cur:
            cur.execute(self._q["worker_register"], self._with_now(params))

    def heartbeat_worker(self, worker_id: str) -> bool:
        params = self._with_now({"worker_id": worker_id})
        with self._write_one() as cur:
            return int(cur.execute(self._q["worker_heartbeat"], params).rowcount) > 0

    def unregister_worker(self, worker_id: str) -> None:
        with self._write_one() as cur:
            cur.execute(self._q["worker_unregister"], {"worker_id": worker_id})

    def list_workers(self) -> list[WorkerRecord]:
        params = self._with_now({"stale_leases": STALE_AFTER_LEASES})
        with self._read(records=True) as cur:
            rows = cur.execute(self._q["worker_list"], params).fetchall()
        return [self._worker(row) for row in rows]

    def runnable_counts(self) -> list[tuple[str, str, int]]:
        with self._read() as cur:
            rows = cur.execute(self._q["runnable_counts"]).fetchall()
        return [(r[0], r[1], int(r[2])) for r in rows]

    # -- inbound ----------------------------------------------------------------------------

    def get_event(self, webhook: str, event_id: str) -> ReceivedEvent | None:
        params = {"webhook": webhook, "event_id": event_id}
        with self._read(records=True) as cur:
            row = cur.execute(self._q["inbound_get"], params).fetchone()
        return None if row is None else self._event(row)

    def list_events(self, webhook: str | None = None, limit: int = 50) -> list[ReceivedEvent]:
        params = {"webhook": webhook, "limit": limit}
        with self._read(records=True) as cur:
            rows = cur.execute(self._q["inbound_list"], params).fetchall()
        return [self._event(row) for row in rows]

    # -- limits -----------------------------------------------------------------------------

    def breaker(self, name: str) -> BreakerRecord | None:
        with self._read(records=True) as cur:
            row = cur.execute(self._q["breaker_get"], {"name": name}).fetchone()
        return None if row is None else breaker_record(row)

    def breakers(self) -> list[BreakerRecord]:
        with self._read(records=True) as cur:
            return [breaker_record(row) for row in cur.execute(self._q["breaker_list"]).fetchall()]

    def held(self, name: str) -> tuple[Hold, float | None] | None:
        with self._read(records=True) as cur:
            row = cur.execute(self._q["hold_active"], self._with_now({"name": name})).fetchone()
        if row is None:
            return None
        hold = hold_record(row)
        return hold, None if hold.kind == "paused" else float(row["remaining"])

    def holds(self) -> list[Hold]:
        with self._read(records=True) as cur:
            return [hold_record(row) for row in cur.execute(self._q["hold_list"]).fetchall()]

    def release_hold(self, name: str, bucket: str | None = None) -> tuple[Hold | None, int]:
        with self._write(records=True) as cur:
            row = cur.execute(self._q["hold_delete"], {"name": name}).fetchone()
            if bucket is not None:
                cur.execute(self._q["rate_release"], self._with_now({"name": bucket}))
            params = self._with_now({"prefix": paused_prefix(name)})
            woken = int(cur.execute(self._q["wake_held"], params).rowcount)
            if woken:
                self._notify(cur)
        return (None if row is None else hold_record(row)), woken

    def clear_spent_hold(self, name: str) -> None:
        with self._write_one() as cur:
            cur.execute(self._q["hold_delete_spent"], self._with_now({"name": name}))

    # -- schema -----------------------------------------------------------------------------

    def migrate(self) -> list[str]:
        q = self._q
        applied: list[str] = []
        with self._write() as cur:
            self._lock_migrations(cur)
            cur.execute(q["create_migrations_table"])
            done = {
                int(v): str(name) for v, name in cur.execute(q["applied_migrations"]).fetchall()
            }
            for version, name, sql in pending(queries.migrations(self.dialect), done):
                self._run_script(cur, sql)
                record = self._with_now({"version": version, "name": name})
                cur.execute(q["record_migration"], record)
                applied.append(f"{version:04d}_{name}")
        return applied

    def schema_version(self) -> int:
        with self._read() as cur:
            exists = cur.execute(self._q["migrations_table_exists"]).fetchone()
            if not exists or not exists[0]:
                return 0
            row = cur.execute(self._q["schema_version"]).fetchone()
        return int(row[0] or 0) if row else 0


def in_order(asked: Sequence[int], done: Iterable[int]) -> list[int]:
    """The ids acted on, in the order they were asked for (each once)."""
    acted = set(done)
    return [job_id for job_id in dict.fromkeys(asked) if job_id in acted]


def _listing(filters: JobFilter) -> str:
    """The listing query: "everything dead for connection X (since T)" has its own, on the
    index of (state, connection, finished_at)."""
    if filters.state is None or filters.connection is None:
        return "list_jobs"
    if filters.since is not None and filters.state in FINAL_STATES:
        return "list_finished_by_connection"
    return "list_jobs_by_connection"


def _seconds(value: Any) -> float | None:
    """A number from the database (PostgreSQL's extract() gives a Decimal), or None."""
    return None if value is None else float(value)
