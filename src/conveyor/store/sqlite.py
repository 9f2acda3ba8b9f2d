"""SQLite backend: the embedded default. WAL mode, one connection per process.

SQLite serialises writers, so every write is one short `BEGIN IMMEDIATE` transaction and the
worker batches its claims and outcomes. Because writes are serialised, per-key ordering needs no
extra locking here: the head check and the insert happen under the same write lock.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ..breaker import BreakerRecord
from ..errors import ConfigurationError, JobNotFound, StoreError, StoreUnavailable
from ..job import BlockedKey, ClaimedJob, Job, JobFilter, NewJob, Outcome, utc
from ..ratelimit import RateLimit, wait_after_denial
from ..workers import STALE_AFTER_LEASES, WorkerRecord
from . import queries
from .base import (
    IDEMPOTENCY_RETENTION,
    BreakerChange,
    Store,
    breaker_record,
    dbapi_connection,
    decode_json,
    finished_params,
    with_schema_hint,
)
from .ordering import Head, assemble_ids, fresh_indexes, plan_enqueue

Cursor = sqlite3.Cursor


def sqlite_path(url: str) -> str:
    """`sqlite:///relative.db`, `sqlite:////absolute.db` or `sqlite:///:memory:`."""
    parts = urlsplit(url)
    if parts.scheme != "sqlite" or parts.netloc not in ("", "localhost"):
        raise ConfigurationError(f"not a SQLite URL: {url!r} (expected sqlite:///path/to/file.db)")
    path = parts.path[1:] if parts.path.startswith("/") else parts.path
    if not path:
        raise ConfigurationError(f"SQLite URL has no file path: {url!r}")
    return path


def _main_file(conn: sqlite3.Connection, query: str) -> str:
    """The file of a connection's `main` database ('' in memory)."""
    try:
        for _, name, file in conn.execute(query).fetchall():
            if name == "main":
                return str(file or "")
    except sqlite3.Error as error:
        raise StoreError(f"SQLite: {error}") from error
    return ""


class SQLiteStore(Store):
    dialect = "sqlite"

    def __init__(self, url: str, busy_timeout: float = 30.0) -> None:
        self.url = url
        self.path = sqlite_path(url)
        options = parse_qs(urlsplit(url).query)
        synchronous = options.get("synchronous", ["normal"])[0].upper()
        if synchronous not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ConfigurationError(f"unknown SQLite synchronous mode: {synchronous!r}")
        folder = os.path.dirname(os.path.abspath(self.path))
        if self.path != ":memory:" and not os.path.isdir(folder):
            raise StoreUnavailable(f"cannot open SQLite database {self.path!r}: no folder {folder}")
        try:
            self._conn = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=busy_timeout
            )
            self._conn.row_factory = sqlite3.Row
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute(f"PRAGMA synchronous={synchronous}")
            self._conn.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
        except sqlite3.Error as error:
            raise StoreUnavailable(f"cannot open SQLite database {self.path!r}: {error}") from error
        self._lock = threading.RLock()
        self._q = queries.load("sqlite")

    # -- plumbing -------------------------------------------------------------------------

    @contextmanager
    def _write(self) -> Iterator[Cursor]:
        with self._lock:
            cur = self._conn.cursor()
            try:
                cur.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as error:
                raise StoreError(f"SQLite: {error}") from error
            try:
                yield cur
            except sqlite3.Error as error:
                self._conn.rollback()
                raise StoreError(with_schema_hint(f"SQLite: {error}")) from error
            except BaseException:
                self._conn.rollback()
                raise
            else:
                self._conn.commit()
            finally:
                cur.close()

    @contextmanager
    def _read(self) -> Iterator[Cursor]:
        with self._lock:
            cur = self._conn.cursor()
            try:
                yield cur
            except sqlite3.Error as error:
                raise StoreError(with_schema_hint(f"SQLite: {error}")) from error
            finally:
                cur.close()

    def _table_exists(self, cur: Cursor, name: str) -> bool:
        row = cur.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
        ).fetchone()
        return row is not None

    # -- schema ---------------------------------------------------------------------------

    def migrate(self) -> list[str]:
        applied: list[str] = []
        with self._write() as cur:
            cur.execute(
                "CREATE TABLE IF NOT EXISTS conveyor_migrations ("
                "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at REAL NOT NULL)"
            )
            done = {row[0] for row in cur.execute("SELECT version FROM conveyor_migrations")}
            for version, name, sql in queries.migrations("sqlite"):
                if version in done:
                    continue
                for statement in _split_statements(sql):
                    cur.execute(statement)
                cur.execute(
                    "INSERT INTO conveyor_migrations VALUES (?, ?, ?)", (version, name, time.time())
                )
                applied.append(f"{version:04d}_{name}")
        return applied

    def schema_version(self) -> int:
        with self._read() as cur:
            if not self._table_exists(cur, "conveyor_migrations"):
                return 0
            row = cur.execute("SELECT max(version) FROM conveyor_migrations").fetchone()
            return int(row[0] or 0)

    # -- enqueue --------------------------------------------------------------------------

    def enqueue(self, jobs: Sequence[NewJob], connection: Any = None) -> list[int]:
        if connection is not None:
            raw = dbapi_connection(connection)
            if not isinstance(raw, sqlite3.Connection):
                raise ConfigurationError("connection= must be a sqlite3 connection on SQLite")
            if raw is not self._conn:
                self._check_same_database(raw)
            cur = raw.cursor()
            try:
                return self._enqueue_with(cur, jobs)
            finally:
                cur.close()
        if len(jobs) == 1 and jobs[0].key is None and jobs[0].idempotency_key is None:
            # The hot path: one autocommit INSERT is its own transaction.
            params = _insert_params(jobs[0], "queued", time.time())
            with self._read() as cur:
                cur.execute(self._q["insert_job"], params)
                return [int(cur.lastrowid or 0)]
        try:
            with self._write() as cur:
                return self._enqueue_with(cur, jobs)
        except sqlite3.Error as error:
            raise StoreError(f"SQLite: {error}") from error

    def _check_same_database(self, raw: sqlite3.Connection) -> None:
        """A connection to another file would write the job where no worker looks. One PRAGMA
        on each side: the file each connection's main database is."""
        theirs = _main_file(raw, self._q["database_identity"])
        with self._lock:
            mine = _main_file(self._conn, self._q["database_identity"])
        if not mine or not theirs or os.path.realpath(theirs) != os.path.realpath(mine):
            raise ConfigurationError(
                f"connection= is a connection to {theirs or 'an in-memory database'!r}, not to "
                f"this app's database {mine or ':memory:'!r}: the job would be stored where no "
                "worker looks; pass a connection to the app's own database file"
            )

    def _enqueue_with(self, cur: Cursor, jobs: Sequence[NewJob]) -> list[int]:
        q = self._q
        now = time.time()
        known: dict[str, int] = {}
        for ikey in {job.idempotency_key for job in jobs if job.idempotency_key is not None}:
            row = cur.execute(q["idempotency_lookup"], {"key": ikey}).fetchone()
            if row is not None:
                known[ikey] = row[0]
        fresh = fresh_indexes(jobs, known)
        new_jobs = [jobs[i] for i in fresh]
        states = self._plan(cur, new_jobs)
        new_ids = self._insert(cur, new_jobs, states, now)
        for index, job_id in zip(fresh, new_ids, strict=True):
            held = jobs[index].idempotency_key
            if held is not None:
                cur.execute(q["idempotency_insert"], {"key": held, "job_id": job_id, "now": now})
        return assemble_ids(jobs, fresh, new_ids, known)

    def _plan(self, cur: Cursor, jobs: Sequence[NewJob]) -> list[str]:
        heads: dict[str, Head] = {}
        for key in {job.key for job in jobs if job.key is not None}:
            row = cur.execute(self._q["key_head"], {"key": key}).fetchone()
            if row is not None:
                heads[key] = Head(row["state"], bool(row["leads_key"]), job_id=row["id"])
        plan = plan_enqueue(jobs, heads)
        for job_id, leader in plan.demote:
            if cur.execute(self._q["demote"], {"id": job_id}).rowcount == 0:
                plan.states[leader] = "waiting"
        return plan.states

    def _insert(
        self, cur: Cursor, jobs: Sequence[NewJob], states: Sequence[str], now: float
    ) -> list[int]:
        params = [_insert_params(job, state, now) for job, state in zip(jobs, states, strict=True)]
        if not params:
            return []
        if len(params) == 1:
            cur.execute(self._q["insert_job"], params[0])
            return [int(cur.lastrowid or 0)]
        # One writer holds the lock, so a bulk insert gets consecutive rowids.
        cur.executemany(self._q["insert_job"], params)
        last = int(cur.execute("SELECT last_insert_rowid()").fetchone()[0])
        return list(range(last - len(params) + 1, last + 1))

    def record_finished(
        self,
        job: NewJob,
        state: str,
        started: float,
        result: str | None = None,
        error: dict[str, Any] | None = None,
    ) -> int:
        params = {**finished_params(job, state, started, result, error), "now": time.time()}
        with self._write() as cur:
            cur.execute(self._q["insert_finished"], params)
            return int(cur.lastrowid or 0)

    # -- worker side ----------------------------------------------------------------------

    def claim(
        self,
        worker_id: str,
        queues: Sequence[str] | None,
        limit: int,
        lease_seconds: float,
        tasks: Sequence[str] | None = None,
    ) -> list[ClaimedJob]:
        token = _token()
        params = {
            "token": token,
            "worker": worker_id,
            "now": time.time(),
            "lease": lease_seconds,
            "limit": limit,
            **_queue_params(queues),
            **_task_params(tasks),
        }
        with self._write() as cur:
            rows = cur.execute(self._q["claim"], params).fetchall()
        jobs = [ClaimedJob(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], token) for r in rows]
        jobs.sort(key=_claim_order)
        return jobs

    def complete(self, outcomes: Sequence[Outcome]) -> None:
        q = self._q
        now = time.time()
        unkeyed: list[dict[str, Any]] = []
        keyed: list[dict[str, Any]] = []
        retry: list[dict[str, Any]] = []
        dead: list[dict[str, Any]] = []
        handback: list[dict[str, Any]] = []
        cancelled: list[dict[str, Any]] = []
        for o in outcomes:
            base = {"id": o.job_id, "token": o.token, "now": now}
            if o.kind == "succeeded":
                row = {**base, "result": o.result, "key": o.key}
                (keyed if o.key is not None else unkeyed).append(row)
                continue
            # Any other end of a job whose cancel was requested makes it cancelled (below).
            cancelled.append(_cancel_params(o, now))
            if o.kind in ("handback", "postpone"):
                handback.append({**base, "delay": o.delay, "reason": o.reason})
            elif o.kind != "cancelled":
                error = o.error or {}
                row = {**base, "message": error.get("message"), "error": json.dumps(error)}
                if o.kind == "retry":
                    retry.append({**row, "delay": o.delay})
                else:
                    dead.append(row)
        with self._write() as cur:
            for name, rows in (
                ("succeed", unkeyed),
                ("fail_retry", retry),
                ("fail_dead", dead),
                ("hand_back", handback),
            ):
                if rows:
                    cur.executemany(q[name], rows)
            for row in keyed:
                # Promote only when the head finished under our lease: then nothing else holds it.
                if cur.execute(q["succeed"], row).rowcount:
                    cur.execute(q["promote_released"], row)
            self._finish_cancelled(cur, cancelled)

    def _finish_cancelled(self, cur: Cursor, rows: Sequence[dict[str, Any]]) -> None:
        """Cancel the jobs of these outcomes whose cancel was requested, releasing their keys."""
        for row in rows:
            for (key,) in cur.execute(self._q["finish_cancelled"], row).fetchall():
                if key is not None:
                    cur.execute(self._q["promote_released"], {"key": key})

    def renew(self, leases: Sequence[tuple[int, int]], lease_seconds: float) -> set[int]:
        if not leases:
            return set()
        now = time.time()
        lost: set[int] = set()
        with self._write() as cur:
            for job_id, token in leases:
                cur.execute(
                    self._q["renew"],
                    {"id": job_id, "token": token, "now": now, "lease": lease_seconds},
                )
                if cur.rowcount == 0:
                    lost.add(job_id)
        return lost

    def recover_expired(self) -> int:
        now = time.time()
        with self._write() as cur:
            rows = cur.execute(
                self._q["recover_expired"],
                {"now": now, "message": "lease expired: the worker running it was lost"},
            ).fetchall()
            for _, key, state in rows:
                if state == "cancelled" and key is not None:
                    cur.execute(self._q["promote"], {"key": key})
            cur.execute(self._q["worker_prune"], {"now": now, "stale_leases": STALE_AFTER_LEASES})
        return len(rows)

    def cancel_requested(self, job_ids: Sequence[int]) -> set[int]:
        if not job_ids:
            return set()
        with self._read() as cur:
            rows = cur.execute(self._q["cancel_requested"], {"ids": json.dumps(list(job_ids))})
            return {int(row[0]) for row in rows}

    def seconds_until_due(
        self, queues: Sequence[str] | None, tasks: Sequence[str] | None = None
    ) -> float | None:
        params = {**_queue_params(queues), **_task_params(tasks)}
        with self._read() as cur:
            row = cur.execute(self._q["next_due"], params).fetchone()
        return None if row[0] is None else float(row[0]) - time.time()

    def any_postponed(
        self, queues: Sequence[str] | None, tasks: Sequence[str] | None = None
    ) -> bool:
        params = {**_queue_params(queues), **_task_params(tasks)}
        with self._read() as cur:
            row = cur.execute(self._q["any_postponed"], params).fetchone()
        return bool(row[0])

    def change_counter(self) -> int:
        """Changes when another connection commits: a cheap "anything new?" for polling."""
        with self._read() as cur:
            return int(cur.execute("PRAGMA data_version").fetchone()[0])

    # -- operators ------------------------------------------------------------------------

    def get(self, job_id: int) -> Job:
        with self._read() as cur:
            row = cur.execute(self._q["get_job"], {"id": job_id}).fetchone()
        if row is None:
            raise JobNotFound(f"no job with id {job_id}")
        return _job(row)

    def list_jobs(self, filters: JobFilter) -> list[Job]:
        with self._read() as cur:
            return [_job(row) for row in cur.execute(self._q["list_jobs"], filters.params())]

    def states(self, job_ids: Sequence[int]) -> dict[int, str]:
        found: dict[int, str] = {}
        with self._read() as cur:
            for job_id in job_ids:
                row = cur.execute(self._q["job_state"], {"id": job_id}).fetchone()
                if row is not None:
                    found[job_id] = row[0]
        return found

    def runnable_counts(self) -> list[tuple[str, str, int]]:
        with self._read() as cur:
            return [(r[0], r[1], int(r[2])) for r in cur.execute(self._q["runnable_counts"])]

    def retry(self, job_ids: Sequence[int], payload: str | None = None) -> list[int]:
        done: list[int] = []
        with self._write() as cur:
            for job_id in job_ids:
                params = {"id": job_id, "now": time.time(), "payload": payload}
                done += [row[0] for row in cur.execute(self._q["operator_retry"], params)]
        return done

    def dead_job_ids(self, queue: str | None = None, task: str | None = None) -> list[int]:
        with self._read() as cur:
            rows = cur.execute(self._q["dead_ids"], {"queue": queue, "task": task}).fetchall()
        return [row[0] for row in rows]

    def cancel(self, job_ids: Sequence[int]) -> list[int]:
        return self._release("cancel", job_ids)

    def delete(self, job_ids: Sequence[int]) -> list[int]:
        return self._release("delete", job_ids)

    def _release(self, query: str, job_ids: Sequence[int]) -> list[int]:
        done: list[int] = []
        keys: set[str] = set()
        with self._write() as cur:
            for job_id in job_ids:
                for row in cur.execute(self._q[query], {"id": job_id, "now": time.time()}):
                    done.append(row[0])
                    if row[1] is not None:
                        keys.add(row[1])
            if keys:
                cur.executemany(self._q["promote"], [{"key": key} for key in sorted(keys)])
        return done

    def stats(self) -> list[tuple[str, str, int]]:
        with self._read() as cur:
            return [(r[0], r[1], int(r[2])) for r in cur.execute(self._q["stats"])]

    def prune(
        self, older_than: float, idempotency_older_than: float = IDEMPOTENCY_RETENTION
    ) -> int:
        now = time.time()
        with self._write() as cur:
            cur.execute(self._q["prune_jobs"], {"before": now - older_than})
            removed = cur.rowcount
            cur.execute(self._q["prune_idempotency"], {"before": now - idempotency_older_than})
        return int(removed)

    def blocked_keys(self, limit: int = 100) -> list[BlockedKey]:
        with self._read() as cur:
            rows = cur.execute(self._q["blocked_keys"], {"limit": limit}).fetchall()
        return [BlockedKey(r[0], r[1], r[2], r[3], int(r[4])) for r in rows]

    # -- workers --------------------------------------------------------------------------

    def register_worker(
        self,
        worker_id: str,
        hostname: str,
        pid: int,
        queues: Sequence[str] | None,
        tasks: Sequence[str],
        lease_seconds: float,
    ) -> None:
        params = {
            "worker_id": worker_id,
            "hostname": hostname,
            "pid": pid,
            "queues": None if queues is None else json.dumps(list(queues)),
            "tasks": json.dumps(list(tasks)),
            "lease_seconds": lease_seconds,
            "now": time.time(),
        }
        with self._write() as cur:
            cur.execute(self._q["worker_register"], params)

    def heartbeat_worker(self, worker_id: str) -> bool:
        with self._write() as cur:
            cur.execute(self._q["worker_heartbeat"], {"worker_id": worker_id, "now": time.time()})
            return cur.rowcount > 0

    def unregister_worker(self, worker_id: str) -> None:
        with self._write() as cur:
            cur.execute(self._q["worker_unregister"], {"worker_id": worker_id})

    def list_workers(self) -> list[WorkerRecord]:
        params = {"now": time.time(), "stale_leases": STALE_AFTER_LEASES}
        with self._read() as cur:
            return [_worker(row) for row in cur.execute(self._q["worker_list"], params)]

    # -- connections ----------------------------------------------------------------------

    def clock(self) -> float:
        return time.time()

    def take_token(self, name: str, limit: RateLimit) -> float:
        now = time.time()
        params = {"name": name, "now": now, "interval": limit.interval, "burst": limit.burst}
        with self._write() as cur:
            if cur.execute(self._q["rate_take"], params).fetchone() is not None:
                return 0.0
            row = cur.execute(self._q["rate_peek"], params).fetchone()
        return wait_after_denial(float(row[0]), now, limit)

    def breaker(self, name: str) -> BreakerRecord | None:
        with self._read() as cur:
            row = cur.execute(self._q["breaker_get"], {"name": name}).fetchone()
        return None if row is None else breaker_record(row)

    def change_breaker(
        self, name: str, change: BreakerChange
    ) -> tuple[BreakerRecord | None, BreakerRecord | None]:
        with self._write() as cur:
            row = cur.execute(self._q["breaker_get"], {"name": name}).fetchone()
            before = None if row is None else breaker_record(row)
            after = change(before, time.time())
            if after is not None:
                cur.execute(self._q["breaker_put"], asdict(after))
        return before, after

    def breakers(self) -> list[BreakerRecord]:
        with self._read() as cur:
            return [breaker_record(row) for row in cur.execute(self._q["breaker_list"])]

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def _split_statements(sql: str) -> list[str]:
    statements, current = [], ""
    for line in sql.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            statements.append(current.strip())
            current = ""
    return statements


def _queue_params(queues: Sequence[str] | None) -> dict[str, Any]:
    return {"all_queues": not queues, "queues": json.dumps(list(queues or ()))}


def _claim_order(job: ClaimedJob) -> tuple[int, int]:
    # A priority of another type (a row written around the CHECK) must not crash the claim:
    # the worker sends that job dead with the reason.
    return (-job.priority if type(job.priority) is int else 0, job.id)


def _task_params(tasks: Sequence[str] | None) -> dict[str, Any]:
    return {"all_tasks": tasks is None, "tasks": json.dumps(list(tasks or ()))}


def _token() -> int:
    return int.from_bytes(os.urandom(7), "big")


def _insert_params(job: NewJob, state: str, now: float) -> dict[str, Any]:
    run_at = job.run_at.timestamp() if job.run_at is not None else now + job.delay
    return {
        "task": job.task,
        "queue": job.queue,
        "payload": job.payload,
        "key": job.key,
        "leads_key": int(job.leads_key),
        "idempotency_key": job.idempotency_key,
        "priority": job.priority,
        "state": state,
        "max_attempts": job.max_attempts,
        "run_at": run_at,
        "now": now,
    }


def _cancel_params(outcome: Outcome, now: float) -> dict[str, Any]:
    error = outcome.error
    return {
        "id": outcome.job_id,
        "token": outcome.token,
        "now": now,
        "forced": outcome.kind == "cancelled",
        "result": outcome.result,
        "message": error.get("message") if error else None,
        "error": json.dumps(error) if error else None,
    }


def _job(row: sqlite3.Row) -> Job:
    return Job(
        id=row["id"],
        task=row["task"],
        queue=row["queue"],
        payload=decode_json(row["payload"]),
        key=row["key"],
        leads_key=bool(row["leads_key"]),
        idempotency_key=row["idempotency_key"],
        priority=row["priority"],
        state=row["state"],
        attempts=row["attempts"],
        max_attempts=row["max_attempts"],
        run_at=utc(row["run_at"]),
        created_at=utc(row["created_at"]),
        started_at=utc(row["started_at"]),
        finished_at=utc(row["finished_at"]),
        last_error=row["last_error"],
        errors=json.loads(row["errors"] or "[]"),
        result=decode_json(row["result"]),
        worker_id=row["worker_id"],
        lease_expires_at=utc(row["lease_expires_at"]),
        postponed_reason=row["postponed_reason"],
        cancel_requested_at=utc(row["cancel_requested_at"]),
    )


def _worker(row: sqlite3.Row) -> WorkerRecord:
    queues = row["queues"]
    return WorkerRecord(
        worker_id=row["worker_id"],
        hostname=row["hostname"],
        pid=row["pid"],
        queues=None if queues is None else json.loads(queues),
        tasks=json.loads(row["tasks"]),
        lease_seconds=row["lease_seconds"],
        started_at=utc(row["started_at"]),
        last_seen_at=utc(row["last_seen_at"]),
    )
