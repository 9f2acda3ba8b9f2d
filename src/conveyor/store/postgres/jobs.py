"""PostgreSQL, the jobs slice: what differs from SQLite (`shared.py` has the rest).

Claims use `FOR UPDATE SKIP LOCKED`. Enqueue and release of the same ordering key are serialised
by a transaction-scoped advisory lock on the key (`KEY_LOCK`), so the head check and the insert of
a keyed job cannot interleave with the release that would promote it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg

from ...errors import ConfigurationError, StoreError
from ...job import ClaimedJob, NewJob, Outcome, OutcomeExtra
from ...workers import STALE_AFTER_LEASES
from ..batches import progress_rows, with_lineage
from ..batches_sql import SQLBatches
from ..common import claim_order, dbapi_connection, filter_params, new_token, single_insert
from ..ordering import Head, assemble_ids, fresh_indexes, plan_enqueue
from .connection import PostgresConnection, reason

LEASE_EXPIRED = "lease expired: the worker running it was lost"


class PostgresJobs(PostgresConnection, SQLBatches):
    # -- enqueue ----------------------------------------------------------------------------

    def enqueue(self, jobs: Sequence[NewJob], connection: Any = None) -> list[int]:
        if connection is not None:
            with self._callers(connection) as cur:
                return self._enqueue_with(cur, jobs)
        if len(jobs) == 1 and single_insert(jobs[0]):
            job = jobs[0]  # the hot path: one statement, one round trip, parameters by position
            if job.run_at is None and not job.delay:
                now = (job.task, job.queue, job.payload, job.leads_key, job.priority)
                row = self._fetch_one(self._q["insert_job_now"], (*now, job.max_attempts))
                return [int(row[0])]
            params = (
                job.task,
                job.queue,
                job.payload,
                job.leads_key,
                job.priority,
                job.max_attempts,
                job.run_at,
                job.delay,
            )
            return [int(self._fetch_one(self._q["insert_unkeyed_job"], params)[0])]
        with self._tx() as cur:
            return self._enqueue_with(cur, jobs)

    @contextmanager
    def _callers(self, connection: Any) -> Iterator[psycopg.Cursor[Any]]:
        """A cursor in the caller's transaction (`db=`, the outbox): a savepoint there, so a
        failure here leaves the caller's own writes as they were."""
        raw = dbapi_connection(connection)
        if not isinstance(raw, psycopg.Connection):
            raise ConfigurationError("db= must be a psycopg 3 connection on PostgreSQL")
        try:
            with raw.transaction(), raw.cursor() as cur:
                self._check_same_database(raw, cur)
                yield cur
        except psycopg.Error as error:
            raise StoreError(f"PostgreSQL: {reason(error)}") from error

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

    def _enqueue_with(
        self, cur: psycopg.Cursor[Any], jobs: Sequence[NewJob], ids: Sequence[int] | None = None
    ) -> list[int]:
        """`ids`: already taken from the sequence, one per job, used unless idempotency keys
        need ids of their own (compare the ids returned)."""
        q = self._q
        keys = sorted({job.key for job in jobs if job.key is not None})
        if keys:
            self._lock_keys(cur, keys)
        # Idempotency: whoever inserts the key first owns it, with the job id reserved for it.
        # Ids are reserved for every candidate job in enqueue order (a key's waiting line runs
        # in id order), then the keys are claimed in sorted order (no deadlock between batches).
        first = fresh_indexes(jobs, {})
        reserved: list[int | None] = [None] * len(first)
        if ids is not None and len(ids) == len(jobs) == len(first):
            reserved = list(ids)
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
            row = cur.execute(self._q["insert_job"], insert_params(jobs[0], states[0])).fetchone()
            assert row is not None
            return [int(row[0])]
        blanks = [i for i, value in enumerate(ids) if value is None]
        if blanks:
            rows = cur.execute(self._q["allocate_ids"], {"n": len(blanks)}).fetchall()
            for i, (value,) in zip(blanks, rows, strict=True):
                ids[i] = int(value)
        cur.execute(self._q["insert_jobs"], _bulk_params(jobs, states, ids))
        return [int(value or 0) for value in ids]

    # -- the worker's side ------------------------------------------------------------------

    def claim(
        self,
        worker_id: str,
        queues: Sequence[str] | None,
        limit: int,
        lease_seconds: float,
        tasks: Sequence[str] | None = None,
    ) -> list[ClaimedJob]:
        token = new_token()
        params = {
            "token": token,
            "worker": worker_id,
            "lease": lease_seconds,
            "limit": limit,
            **filter_params(queues, tasks, list),
        }
        with self._conn() as conn:
            rows = conn.execute(self._q["claim"], params).fetchall()
        jobs = [
            ClaimedJob(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], token, r[8]) for r in rows
        ]
        jobs.sort(key=claim_order)
        return jobs

    def complete(self, outcomes: Sequence[Outcome]) -> None:
        q = self._q
        extras = {o.job_id: o.extra for o in outcomes if o.extra is not None}
        succeeded = [o for o in outcomes if o.kind == "succeeded"]
        parents: list[Outcome] = []
        if extras:  # the richer path: only for outcomes that carry more (OutcomeExtra)
            succeeded, parents = _split_parents(succeeded)
        retry = [o for o in outcomes if o.kind == "retry"]
        dead = [o for o in outcomes if o.kind == "dead"]
        handback = [o for o in outcomes if o.kind in ("handback", "postpone")]
        # Any other end of a job whose cancel was requested makes it cancelled (below), which
        # releases its key: so every key of the batch is locked, not only those of successes.
        ended = [o for o in outcomes if o.kind != "succeeded"]
        keys = _keys_to_lock(outcomes, extras)
        with self._conn() as conn, conn.pipeline(), conn.transaction(), conn.cursor() as cur:
            if keys:
                self._lock_keys(cur, keys)
            if extras:
                self._write_progress(cur, progress_rows(outcomes))
            if succeeded:
                cur.execute(q["succeed"], _result_arrays(succeeded))
            if parents:
                finished = cur.execute(q["succeed_parents"], _result_arrays(parents)).fetchall()
                self._write_children(cur, finished, extras)
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
            if extras:
                self._settle_batches(cur, (extra.batch_id for extra in extras.values()))
            if keys or handback or retry:
                self._notify(cur)

    def _write_children(
        self, cur: psycopg.Cursor[Any], finished: list[Any], extras: dict[int, OutcomeExtra]
    ) -> None:
        """The children of the parents that succeeded (not of one cancelled meanwhile)."""
        children = []
        for job_id, state in finished:
            extra = extras[job_id]
            if state == "succeeded" and extra.children:
                children += with_lineage(extra.children, job_id, extra.batch_id)
        if children:
            self._enqueue_with(cur, children)

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
        with self._tx() as cur:
            cur.execute(q["worker_prune"], {"stale_leases": STALE_AFTER_LEASES})
            expired = cur.execute(q["expired_leases"]).fetchall()
            if not expired:
                return 0
            # A cancel-requested job is cancelled here and releases its key: lock the keys first.
            keys = sorted({key for _, key in expired if key is not None})
            if keys:
                self._lock_keys(cur, keys)
            params = {"ids": [job_id for job_id, _ in expired], "message": LEASE_EXPIRED}
            rows = cur.execute(q["recover_expired"], params).fetchall()
            cancelled = sorted({key for _, key, state, _ in rows if state == "cancelled" and key})
            if cancelled:
                cur.execute(q["promote"], {"keys": cancelled})
            self._settle_batches(cur, (row[3] for row in rows if row[2] != "retrying"))
            if rows:
                self._notify(cur)
        return len(rows)

    # -- operators --------------------------------------------------------------------------

    def _release(self, query: str, job_ids: Sequence[int]) -> list[int]:
        q = self._q
        ids = list(job_ids)
        with self._tx() as cur:
            keys = sorted({row[1] for row in cur.execute(q["job_keys"], {"ids": ids})})
            if keys:
                self._lock_keys(cur, keys)
            rows = cur.execute(q[query], {"ids": ids}).fetchall()
            if keys:
                cur.execute(q["promote"], {"keys": keys})
                self._notify(cur)
            self._settle_batches(cur, (row[2] for row in rows))
        return [int(row[0]) for row in rows]


def insert_params(job: NewJob, state: str) -> dict[str, Any]:
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
        "batch_id": job.batch_id,
        "parent_id": job.parent_id,
        "connection": job.connection,
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
        "batch_ids": [j.batch_id for j in jobs],
        "parent_ids": [j.parent_id for j in jobs],
        "connections": [j.connection for j in jobs],
    }


def _split_parents(succeeded: list[Outcome]) -> tuple[list[Outcome], list[Outcome]]:
    """(plain successes, successes with children to write)."""
    parents = [o for o in succeeded if o.extra is not None and o.extra.children]
    return [o for o in succeeded if o.extra is None or not o.extra.children], parents


def _keys_to_lock(outcomes: Sequence[Outcome], extras: dict[int, OutcomeExtra]) -> list[str]:
    """The keys the outcomes release, and those of the children they write, sorted."""
    released = {o.key for o in outcomes if o.key is not None}
    for extra in extras.values():
        released.update(child.key for child in extra.children if child.key is not None)
    return sorted(released) if released else []


def _result_arrays(outcomes: Sequence[Outcome]) -> dict[str, Any]:
    return {
        "ids": [o.job_id for o in outcomes],
        "tokens": [o.token for o in outcomes],
        "results": [o.result for o in outcomes],
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
