"""PostgreSQL backend: many worker processes on many machines share one database.

Claims use `FOR UPDATE SKIP LOCKED`; idle workers `LISTEN` and are woken by a `NOTIFY` sent on
insert (a statement trigger) and on promotion. Enqueue and release of the same ordering key are
serialised by a transaction-scoped advisory lock on the key, so the head check and the insert of a
keyed job cannot interleave with the release that would promote it.
"""

from __future__ import annotations

import json
import logging
import os
import re
import select
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from typing import Any

import psycopg
from psycopg.pq import ConnStatus
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

from ..breaker import BreakerRecord
from ..errors import ConfigurationError, JobNotFound, StoreError, StoreUnavailable
from ..job import BlockedKey, ClaimedJob, Job, JobFilter, NewJob, Outcome
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

CHANNEL = "conveyor_jobs"
# While the server is unreachable a call waits this long for a connection, not the full
# `wait_timeout`: each call is one connection attempt, so work resumes within about this long
# (plus the worker's backoff) of the server answering again.
OUTAGE_WAIT = 0.5
LISTEN_RETRY_MAX = 1.0  # seconds between attempts to re-open the LISTEN connection
CHECK_AFTER_IDLE = 1.0  # seconds: a pooled connection idle longer is tested before use


class PostgresStore(Store):
    dialect = "postgres"

    def __init__(
        self,
        url: str,
        pool_size: int = 4,
        connect_timeout: float = 5.0,
        wait_timeout: float = 5.0,
    ) -> None:
        """`wait_timeout`: the longest a call waits for a pooled connection before it raises
        `StoreUnavailable` (a call never hangs on a server that went away)."""
        if not url.startswith(("postgresql://", "postgres://")):
            raise ConfigurationError(f"not a PostgreSQL URL: {url!r}")
        self.url = url
        self.wait_timeout = wait_timeout
        self._reachable = True  # False from a lost connection until a call succeeds again
        self._used: weakref.WeakKeyDictionary[psycopg.Connection[Any], float] = (
            weakref.WeakKeyDictionary()
        )
        self._q = queries.load("postgres")
        self._own_identity: tuple[str, str] | None = None
        self._identities: weakref.WeakKeyDictionary[psycopg.Connection[Any], tuple[str, str]] = (
            weakref.WeakKeyDictionary()
        )
        timeout = max(1, int(connect_timeout))
        self._connect_timeout = timeout
        _quiet_pool_logs()
        try:  # one direct connection first: the pool would only report "incomplete" after 5 s
            psycopg.connect(url, connect_timeout=timeout).close()
        except psycopg.ProgrammingError as error:  # malformed URL or unknown option
            raise ConfigurationError(f"bad PostgreSQL URL {_safe(url)}: {_reason(error)}") from None
        except psycopg.Error as error:
            raise StoreUnavailable(
                f"cannot connect to PostgreSQL at {_safe(url)}: {_reason(error)}"
            ) from error
        try:
            self._pool = ConnectionPool(
                url,
                min_size=1,
                max_size=pool_size,
                kwargs={"autocommit": True, "connect_timeout": timeout},
                open=False,
                name="conveyor",
                # After a restart every pooled connection is dead: a dead one is replaced,
                # never handed out (see `_check`).
                check=self._check,
                timeout=wait_timeout,
                # The pool's own reconnection backs off exponentially for up to this long; at 0
                # it gives up at once and each call that needs a connection tries anew, so
                # connections come back as soon as the server does, not minutes later.
                reconnect_timeout=0,
                reconnect_failed=self._unreachable,
            )
            self._pool.open(wait=True, timeout=connect_timeout)
        except (PoolTimeout, psycopg.Error) as error:
            self._pool.close()
            raise StoreUnavailable(
                f"cannot connect to PostgreSQL at {_safe(url)}: {_reason(error)}"
            ) from error

    # -- plumbing -------------------------------------------------------------------------

    @contextmanager
    def _conn(self) -> Iterator[psycopg.Connection[Any]]:
        wait = self.wait_timeout if self._reachable else min(self.wait_timeout, OUTAGE_WAIT)
        try:
            with self._pool.connection(timeout=wait) as conn:
                try:
                    yield conn
                finally:
                    self._used[conn] = time.monotonic()
        except PoolTimeout as error:
            raise StoreUnavailable(f"PostgreSQL pool exhausted or unreachable: {error}") from error
        except psycopg.errors.TransactionRollback as error:  # deadlock, serialisation: retry
            raise StoreError(f"PostgreSQL (transient, safe to retry): {_reason(error)}") from error
        except psycopg.OperationalError as error:  # the server went away (AdminShutdown, ...)
            self._reachable = False
            raise StoreUnavailable(f"PostgreSQL: {_reason(error)}") from error
        except psycopg.Error as error:
            raise StoreError(with_schema_hint(f"PostgreSQL: {_reason(error)}")) from error
        self._reachable = True

    def _check(self, conn: psycopg.Connection[Any]) -> None:
        """The pool's check before handing a connection out: `check_connection` (an empty
        round trip) when there is cause to doubt the connection. A session the server ended
        (restart, `pg_terminate_backend`) has sent its error and EOF, so its socket is readable
        while idle; one idle for over a second may have lost its peer silently. A connection
        in use all the time skips the round trip: ~45 us per claim and per outcome batch."""
        idle = time.monotonic() - self._used.get(conn, 0.0)
        if idle > CHECK_AFTER_IDLE or conn.pgconn.status != ConnStatus.OK or _readable(conn):
            ConnectionPool.check_connection(conn)

    def _unreachable(self, pool: ConnectionPool[Any]) -> None:
        """The pool failed to open a connection: calls stop waiting the full `wait_timeout`."""
        self._reachable = False

    @contextmanager
    def _tx(self) -> Iterator[psycopg.Cursor[Any]]:
        with self._conn() as conn, conn.transaction(), conn.cursor() as cur:
            yield cur

    # -- schema ---------------------------------------------------------------------------

    def migrate(self) -> list[str]:
        applied: list[str] = []
        with self._tx() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(1668247126, 0)")
            cur.execute(
                "CREATE TABLE IF NOT EXISTS conveyor_migrations (version INTEGER PRIMARY KEY,"
                " name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
            )
            done = {row[0] for row in cur.execute("SELECT version FROM conveyor_migrations")}
            for version, name, sql in queries.migrations("postgres"):
                if version in done:
                    continue
                cur.execute(sql.encode())
                cur.execute(
                    "INSERT INTO conveyor_migrations (version, name) VALUES (%s, %s)",
                    (version, name),
                )
                applied.append(f"{version:04d}_{name}")
        return applied

    def schema_version(self) -> int:
        with self._conn() as conn:
            exists = conn.execute("SELECT to_regclass('conveyor_migrations')").fetchone()
            if exists is None or exists[0] is None:
                return 0
            row = conn.execute("SELECT max(version) FROM conveyor_migrations").fetchone()
            return int(row[0] or 0) if row else 0

    # -- enqueue --------------------------------------------------------------------------

    def enqueue(self, jobs: Sequence[NewJob], connection: Any = None) -> list[int]:
        if connection is not None:
            raw = dbapi_connection(connection)
            if not isinstance(raw, psycopg.Connection):
                raise ConfigurationError("connection= must be a psycopg 3 connection on PostgreSQL")
            try:
                with raw.transaction(), raw.cursor() as cur:
                    self._check_same_database(raw, cur)
                    return self._enqueue_with(cur, jobs)
            except psycopg.Error as error:
                raise StoreError(f"PostgreSQL: {_reason(error)}") from error
        if len(jobs) == 1 and jobs[0].key is None and jobs[0].idempotency_key is None:
            with self._conn() as conn:  # the hot path: one statement, one round trip
                cur = conn.execute(self._q["insert_job"], _insert_params(jobs[0], "queued"))
                row = cur.fetchone()
                assert row is not None
                return [int(row[0])]
        with self._tx() as cur:
            return self._enqueue_with(cur, jobs)

    def _check_same_database(self, raw: psycopg.Connection[Any], cur: psycopg.Cursor[Any]) -> None:
        """A connection to another database (or server) would write the job where no worker
        looks. A database is known by its name and its server's start time; both sides are
        asked once (per caller's connection; the store's again only on a mismatch, in case the
        server restarted)."""
        theirs = self._identities.get(raw)
        if theirs is None:
            row = cur.execute(self._q["database_identity"]).fetchone()
            assert row is not None
            theirs = self._identities[raw] = (str(row[0]), str(row[1]))
        if theirs == self._identity(refresh=False) or theirs == self._identity(refresh=True):
            return
        mine = self._identity(refresh=False)[0]
        where = "on another server" if theirs[0] == mine else f"to database {theirs[0]!r}"
        raise ConfigurationError(
            f"connection= is a connection {where}, not to this app's database {mine!r}: the job "
            "would be stored where no worker looks; pass a connection to the app's own database"
        )

    def _identity(self, *, refresh: bool) -> tuple[str, str]:
        if self._own_identity is None or refresh:
            with self._conn() as conn:
                row = conn.execute(self._q["database_identity"]).fetchone()
            assert row is not None
            self._own_identity = (str(row[0]), str(row[1]))
        return self._own_identity

    def _enqueue_with(self, cur: psycopg.Cursor[Any], jobs: Sequence[NewJob]) -> list[int]:
        q = self._q
        keys = sorted({job.key for job in jobs if job.key is not None})
        if keys:
            cur.execute(q["lock_keys"], {"keys": keys})
        # Idempotency: whoever inserts the key first owns it, with the job id reserved for it.
        # Ids are reserved for every candidate job in enqueue order (a key's waiting line runs
        # in id order), then the keys are claimed in sorted order (no deadlock between batches).
        first = fresh_indexes(jobs, {})
        reserved: list[int | None] = [None] * len(first)
        known: dict[str, int] = {}
        if any(jobs[i].idempotency_key for i in first):
            rows = cur.execute(q["allocate_ids"], {"n": len(first)}).fetchall()
            reserved = [int(row[0]) for row in rows]
            by_key = {
                str(jobs[i].idempotency_key): job_id
                for i, job_id in zip(first, reserved, strict=True)
                if jobs[i].idempotency_key
            }
            claim = sorted(by_key)
            params = {"keys": claim, "ids": [by_key[k] for k in claim]}
            owned = {row[0] for row in cur.execute(q["idempotency_claim"], params)}
            missing = [k for k in claim if k not in owned]
            if missing:
                known = dict(cur.execute(q["idempotency_lookup"], {"keys": missing}).fetchall())
        keep = [n for n, i in enumerate(first) if jobs[i].idempotency_key not in known]
        fresh = [first[n] for n in keep]
        new_jobs = [jobs[i] for i in fresh]
        states = self._plan(cur, new_jobs, keys)
        new_ids = self._insert(cur, new_jobs, states, [reserved[n] for n in keep])
        return assemble_ids(jobs, fresh, new_ids, known)

    def _plan(self, cur: psycopg.Cursor[Any], jobs: Sequence[NewJob], keys: list[str]) -> list[str]:
        heads: dict[str, Head] = {}
        if keys:
            for key, job_id, state, leads in cur.execute(self._q["key_heads"], {"keys": keys}):
                heads[key] = Head(state, bool(leads), job_id=job_id)
        plan = plan_enqueue(jobs, heads)
        for job_id, leader in plan.demote:
            if cur.execute(self._q["demote"], {"id": job_id}).rowcount == 0:
                plan.states[leader] = "waiting"  # the head was claimed meanwhile
        return plan.states

    def _insert(
        self,
        cur: psycopg.Cursor[Any],
        jobs: Sequence[NewJob],
        states: Sequence[str],
        ids: list[int | None],
    ) -> list[int]:
        if not jobs:
            return []
        if len(jobs) == 1 and ids[0] is None:
            row = cur.execute(self._q["insert_job"], _insert_params(jobs[0], states[0])).fetchone()
            assert row is not None
            return [int(row[0])]
        blanks = [i for i, value in enumerate(ids) if value is None]
        if blanks:
            rows = cur.execute(self._q["allocate_ids"], {"n": len(blanks)}).fetchall()
            for i, (value,) in zip(blanks, rows, strict=True):
                ids[i] = int(value)
        cur.execute(self._q["insert_jobs"], _bulk_params(jobs, states, ids))
        return [int(value or 0) for value in ids]

    def record_finished(
        self,
        job: NewJob,
        state: str,
        started: float,
        result: str | None = None,
        error: dict[str, Any] | None = None,
    ) -> int:
        params = finished_params(job, state, started, result, error)
        with self._conn() as conn:
            row = conn.execute(self._q["insert_finished"], params).fetchone()
        assert row is not None
        return int(row[0])

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
            "lease": lease_seconds,
            "limit": limit,
            "all_queues": not queues,
            "queues": list(queues or ()),
            **_task_params(tasks),
        }
        with self._conn() as conn:
            rows = conn.execute(self._q["claim"], params).fetchall()
        jobs = [ClaimedJob(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], token) for r in rows]
        jobs.sort(key=lambda j: (-j.priority, j.id))
        return jobs

    def complete(self, outcomes: Sequence[Outcome]) -> None:
        q = self._q
        succeeded = [o for o in outcomes if o.kind == "succeeded"]
        retry = [o for o in outcomes if o.kind == "retry"]
        dead = [o for o in outcomes if o.kind == "dead"]
        handback = [o for o in outcomes if o.kind in ("handback", "postpone")]
        # Any other end of a job whose cancel was requested makes it cancelled (below), which
        # releases its key: so every key of the batch is locked, not only those of successes.
        ended = [o for o in outcomes if o.kind != "succeeded"]
        released = sorted({o.key for o in outcomes if o.key is not None})
        with self._conn() as conn, conn.pipeline(), conn.transaction(), conn.cursor() as cur:
            if released:
                cur.execute(q["lock_keys"], {"keys": released})
            if succeeded:
                cur.execute(
                    q["succeed"],
                    {
                        "ids": [o.job_id for o in succeeded],
                        "tokens": [o.token for o in succeeded],
                        "results": [o.result for o in succeeded],
                    },
                )
            if retry:
                cur.execute(
                    q["fail_retry"],
                    {**_error_arrays(retry), "delays": [float(o.delay) for o in retry]},
                )
            if dead:
                cur.execute(q["fail_dead"], _error_arrays(dead))
            if handback:
                cur.execute(
                    q["hand_back"],
                    {
                        "ids": [o.job_id for o in handback],
                        "tokens": [o.token for o in handback],
                        "delays": [float(o.delay) for o in handback],
                        "reasons": [o.reason for o in handback],
                    },
                )
            if ended:
                cur.execute(q["finish_cancelled"], _cancel_arrays(ended))
            if released or handback or retry:
                cur.execute(q["notify"])

    def renew(self, leases: Sequence[tuple[int, int]], lease_seconds: float) -> set[int]:
        if not leases:
            return set()
        params = {
            "ids": [job_id for job_id, _ in leases],
            "tokens": [token for _, token in leases],
            "lease": lease_seconds,
        }
        with self._conn() as conn:
            kept = {row[0] for row in conn.execute(self._q["renew"], params)}
        return {job_id for job_id, _ in leases} - kept

    def recover_expired(self) -> int:
        q = self._q
        message = "lease expired: the worker running it was lost"
        with self._tx() as cur:
            cur.execute(q["worker_prune"], {"stale_leases": STALE_AFTER_LEASES})
            expired = cur.execute(q["expired_leases"]).fetchall()
            if not expired:
                return 0
            # A cancel-requested job is cancelled here and releases its key: lock the keys first.
            keys = sorted({key for _, key in expired if key is not None})
            if keys:
                cur.execute(q["lock_keys"], {"keys": keys})
            params = {"ids": [job_id for job_id, _ in expired], "message": message}
            rows = cur.execute(q["recover_expired"], params).fetchall()
            cancelled = sorted({key for _, key, state in rows if state == "cancelled" and key})
            if cancelled:
                cur.execute(q["promote"], {"keys": cancelled})
            if rows:
                cur.execute(q["notify"])
        return len(rows)

    def cancel_requested(self, job_ids: Sequence[int]) -> set[int]:
        if not job_ids:
            return set()
        with self._conn() as conn:
            rows = conn.execute(self._q["cancel_requested"], {"ids": list(job_ids)}).fetchall()
        return {int(row[0]) for row in rows}

    def seconds_until_due(
        self, queues: Sequence[str] | None, tasks: Sequence[str] | None = None
    ) -> float | None:
        params = {"all_queues": not queues, "queues": list(queues or ()), **_task_params(tasks)}
        with self._conn() as conn:
            row = conn.execute(self._q["seconds_until_due"], params).fetchone()
        return None if row is None or row[0] is None else float(row[0])

    def any_postponed(
        self, queues: Sequence[str] | None, tasks: Sequence[str] | None = None
    ) -> bool:
        params = {"all_queues": not queues, "queues": list(queues or ()), **_task_params(tasks)}
        with self._conn() as conn:
            row = conn.execute(self._q["any_postponed"], params).fetchone()
        return bool(row and row[0])

    def wake_listener(self, callback: Callable[[], None]) -> Callable[[], None] | None:
        """`LISTEN` on a connection of its own, in a thread that re-opens it whenever it drops
        (with backoff up to LISTEN_RETRY_MAX) and then calls `callback` once, since
        notifications sent meanwhile are lost."""
        first = self._listen()  # a worker does not start without it
        stopping = threading.Event()

        def listen() -> None:
            listener: psycopg.Connection[Any] | None = first
            delay = 0.05
            while not stopping.is_set():
                if listener is None:
                    try:
                        listener = self._listen()
                    except StoreUnavailable:
                        stopping.wait(delay)
                        delay = min(delay * 2, LISTEN_RETRY_MAX)
                        continue
                    delay = 0.05
                    callback()
                try:
                    for _ in listener.notifies(timeout=0.1, stop_after=1):
                        callback()
                except psycopg.Error:
                    listener.close()
                    listener = None
            if listener is not None:
                listener.close()

        thread = threading.Thread(target=listen, name="conveyor-listen", daemon=True)
        thread.start()

        def stop() -> None:
            stopping.set()
            thread.join(timeout=self._connect_timeout + 1)

        return stop

    def _listen(self) -> psycopg.Connection[Any]:
        listener: psycopg.Connection[Any] | None = None
        try:
            listener = psycopg.Connection.connect(
                self.url, autocommit=True, connect_timeout=self._connect_timeout
            )
            listener.execute(f"LISTEN {CHANNEL}")
        except psycopg.Error as error:
            if listener is not None:
                listener.close()
            raise StoreUnavailable(f"PostgreSQL LISTEN failed: {_reason(error)}") from error
        return listener

    # -- operators ------------------------------------------------------------------------

    def get(self, job_id: int) -> Job:
        with self._conn() as conn, conn.cursor(row_factory=dict_row) as cur:
            row = cur.execute(self._q["get_job"], {"id": job_id}).fetchone()
        if row is None:
            raise JobNotFound(f"no job with id {job_id}")
        return _job(row)

    def list_jobs(self, filters: JobFilter) -> list[Job]:
        with self._conn() as conn, conn.cursor(row_factory=dict_row) as cur:
            return [_job(row) for row in cur.execute(self._q["list_jobs"], filters.params())]

    def states(self, job_ids: Sequence[int]) -> dict[int, str]:
        with self._conn() as conn:
            rows = conn.execute(self._q["job_states"], {"ids": list(job_ids)}).fetchall()
        return {int(r[0]): str(r[1]) for r in rows}

    def runnable_counts(self) -> list[tuple[str, str, int]]:
        with self._conn() as conn:
            return [(r[0], r[1], int(r[2])) for r in conn.execute(self._q["runnable_counts"])]

    def retry(self, job_ids: Sequence[int], payload: str | None = None) -> list[int]:
        with self._tx() as cur:
            params = {"ids": list(job_ids), "payload": payload}
            done = [row[0] for row in cur.execute(self._q["operator_retry"], params).fetchall()]
            if done:
                cur.execute(self._q["notify"])
        return done

    def dead_job_ids(self, queue: str | None = None, task: str | None = None) -> list[int]:
        with self._conn() as conn:
            rows = conn.execute(self._q["dead_ids"], {"queue": queue, "task": task}).fetchall()
        return [int(row[0]) for row in rows]

    def cancel(self, job_ids: Sequence[int]) -> list[int]:
        return self._release("cancel", job_ids)

    def delete(self, job_ids: Sequence[int]) -> list[int]:
        return self._release("delete", job_ids)

    def _release(self, query: str, job_ids: Sequence[int]) -> list[int]:
        q = self._q
        ids = list(job_ids)
        with self._tx() as cur:
            keys = sorted({row[1] for row in cur.execute(q["job_keys"], {"ids": ids})})
            if keys:
                cur.execute(q["lock_keys"], {"keys": keys})
            done = [row[0] for row in cur.execute(q[query], {"ids": ids}).fetchall()]
            if keys:
                cur.execute(q["promote"], {"keys": keys})
                cur.execute(q["notify"])
        return done

    def stats(self) -> list[tuple[str, str, int]]:
        with self._conn() as conn:
            return [(r[0], r[1], int(r[2])) for r in conn.execute(self._q["stats"])]

    def prune(
        self, older_than: float, idempotency_older_than: float = IDEMPOTENCY_RETENTION
    ) -> int:
        with self._tx() as cur:
            cur.execute(self._q["prune_jobs"], {"older_than": older_than})
            removed = cur.rowcount
            cur.execute(self._q["prune_idempotency"], {"older_than": idempotency_older_than})
        return int(removed)

    def blocked_keys(self, limit: int = 100) -> list[BlockedKey]:
        with self._conn() as conn:
            rows = conn.execute(self._q["blocked_keys"], {"limit": limit}).fetchall()
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
        }
        with self._conn() as conn:
            conn.execute(self._q["worker_register"], params)

    def heartbeat_worker(self, worker_id: str) -> bool:
        with self._conn() as conn:
            cur = conn.execute(self._q["worker_heartbeat"], {"worker_id": worker_id})
            return cur.rowcount > 0

    def unregister_worker(self, worker_id: str) -> None:
        with self._conn() as conn:
            conn.execute(self._q["worker_unregister"], {"worker_id": worker_id})

    def list_workers(self) -> list[WorkerRecord]:
        params = {"stale_leases": STALE_AFTER_LEASES}
        with self._conn() as conn, conn.cursor(row_factory=dict_row) as cur:
            return [_worker(row) for row in cur.execute(self._q["worker_list"], params)]

    # -- connections ----------------------------------------------------------------------

    def clock(self) -> float:
        with self._conn() as conn:
            row = conn.execute(self._q["clock"]).fetchone()
        return float(row[0]) if row else 0.0

    def take_token(self, name: str, limit: RateLimit) -> float:
        params = {"name": name, "interval": limit.interval, "burst": limit.burst}
        with self._conn() as conn:
            if conn.execute(self._q["rate_take"], params).fetchone() is not None:
                return 0.0
            row = conn.execute(self._q["rate_peek"], params).fetchone()
        if row is None:  # removed meanwhile: the next try will create it
            return 0.001
        return wait_after_denial(float(row[0]), float(row[1]), limit)

    def breaker(self, name: str) -> BreakerRecord | None:
        with self._conn() as conn, conn.cursor(row_factory=dict_row) as cur:
            row = cur.execute(self._q["breaker_get"], {"name": name}).fetchone()
        return None if row is None else breaker_record(row)

    def change_breaker(
        self, name: str, change: BreakerChange
    ) -> tuple[BreakerRecord | None, BreakerRecord | None]:
        with self._conn() as conn, conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
            # Lock the row, or (first use) the name, so two workers cannot both change it.
            cur.execute("SELECT pg_advisory_xact_lock(1668247127, hashtext(%s))", (name,))
            row = cur.execute(self._q["breaker_get"], {"name": name}).fetchone()
            before = None if row is None else breaker_record(row)
            now_row = cur.execute(self._q["clock"]).fetchone()
            assert now_row is not None
            after = change(before, float(next(iter(now_row.values()))))
            if after is not None:
                cur.execute(self._q["breaker_put"], asdict(after))
        return before, after

    def breakers(self) -> list[BreakerRecord]:
        with self._conn() as conn, conn.cursor(row_factory=dict_row) as cur:
            return [breaker_record(row) for row in cur.execute(self._q["breaker_list"])]

    def close(self) -> None:
        self._pool.close()


def _task_params(tasks: Sequence[str] | None) -> dict[str, Any]:
    return {"all_tasks": tasks is None, "tasks": list(tasks or ())}


def _quiet_pool_logs() -> None:
    """psycopg's pool logs every failed connection attempt, through the logging module's
    last-resort handler (stderr) when the application configured none: during an outage that is
    lines per second, while the worker already logs the outage once."""
    pool_logger = logging.getLogger("psycopg.pool")
    if not any(isinstance(h, logging.NullHandler) for h in pool_logger.handlers):
        pool_logger.addHandler(logging.NullHandler())


def _readable(conn: psycopg.Connection[Any]) -> bool:
    """Something arrived on an idle connection: nothing should, unless the server ended it."""
    try:
        fd = conn.fileno()
    except psycopg.Error:  # closed
        return True
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        return bool(poller.poll(0))
    return bool(select.select([fd], [], [], 0)[0])


def _token() -> int:
    return int.from_bytes(os.urandom(7), "big")


def _insert_params(job: NewJob, state: str) -> dict[str, Any]:
    return {
        "task": job.task,
        "queue": job.queue,
        "payload": job.payload,
        "key": job.key,
        "leads_key": job.leads_key,
        "idempotency_key": job.idempotency_key,
        "priority": job.priority,
        "state": state,
        "max_attempts": job.max_attempts,
        "run_at": job.run_at,
        "delay": job.delay,
    }


def _bulk_params(
    jobs: Sequence[NewJob], states: Sequence[str], ids: list[int | None]
) -> dict[str, Any]:
    return {
        "ids": ids,
        "tasks": [j.task for j in jobs],
        "queues": [j.queue for j in jobs],
        "payloads": [j.payload for j in jobs],
        "keys": [j.key for j in jobs],
        "leads": [j.leads_key for j in jobs],
        "ikeys": [j.idempotency_key for j in jobs],
        "priorities": [j.priority for j in jobs],
        "states": list(states),
        "max_attempts": [j.max_attempts for j in jobs],
        "run_ats": [j.run_at for j in jobs],
        "delays": [float(j.delay) for j in jobs],
    }


def _error_arrays(outcomes: Sequence[Outcome]) -> dict[str, Any]:
    return {
        "ids": [o.job_id for o in outcomes],
        "tokens": [o.token for o in outcomes],
        "messages": [(o.error or {}).get("message") for o in outcomes],
        "errors": [json.dumps(o.error or {}) for o in outcomes],
    }


def _cancel_arrays(outcomes: Sequence[Outcome]) -> dict[str, Any]:
    return {
        "ids": [o.job_id for o in outcomes],
        "tokens": [o.token for o in outcomes],
        "forced": [o.kind == "cancelled" for o in outcomes],
        "results": [o.result for o in outcomes],
        "messages": [o.error.get("message") if o.error else None for o in outcomes],
        "errors": [json.dumps(o.error) if o.error else None for o in outcomes],
    }


def _reason(error: BaseException) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def _safe(url: str) -> str:
    """The URL without its password, for messages."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
    except ValueError:  # not even a URL: hide anything that looks like a password
        return re.sub(r":[^:@/]*@", ":***@", url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return parts._replace(netloc=netloc).geturl()
    return url


def _job(row: dict[str, Any]) -> Job:
    return Job(
        id=row["id"],
        task=row["task"],
        queue=row["queue"],
        payload=row["payload"],
        key=row["key"],
        leads_key=row["leads_key"],
        idempotency_key=row["idempotency_key"],
        priority=row["priority"],
        state=row["state"],
        attempts=row["attempts"],
        max_attempts=row["max_attempts"],
        run_at=row["run_at"],
        created_at=row["created_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        last_error=row["last_error"],
        errors=list(row["errors"] or []),
        result=decode_json(row["result"]),
        worker_id=row["worker_id"],
        lease_expires_at=row["lease_expires_at"],
        postponed_reason=row["postponed_reason"],
        cancel_requested_at=row["cancel_requested_at"],
    )


def _worker(row: dict[str, Any]) -> WorkerRecord:
    return WorkerRecord(
        worker_id=row["worker_id"],
        hostname=row["hostname"],
        pid=row["pid"],
        queues=row["queues"],
        tasks=list(row["tasks"]),
        lease_seconds=row["lease_seconds"],
        started_at=row["started_at"],
        last_seen_at=row["last_seen_at"],
    )
