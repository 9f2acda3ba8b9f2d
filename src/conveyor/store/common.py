"""What both SQL backends share below the SQL: rows to records, and parameter builders.

SQLite hands columns back as stored (times as epoch seconds, JSON as text); psycopg decodes them
(datetimes, JSON values). The mappings take that difference as an argument.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from ..job import ClaimedJob, Job, NewJob
from ..workers import WorkerRecord

When = Callable[[Any], datetime | None]  # a stored time as a datetime


def as_stored(value: Any) -> Any:
    return value


def job_from_row(row: Any, when: When = as_stored, json_text: bool = False) -> Job:
    """A `conveyor_jobs` row as a Job. SQLite: `when=utc, json_text=True`."""
    payload, errors = row["payload"], row["errors"]
    if json_text:
        payload, errors = decode_json(payload), json.loads(errors or "[]")
    return Job(
        id=row["id"],
        task=row["task"],
        queue=row["queue"],
        payload=payload,
        key=row["key"],
        leads_key=bool(row["leads_key"]),
        idempotency_key=row["idempotency_key"],
        priority=row["priority"],
        state=row["state"],
        attempts=row["attempts"],
        max_attempts=row["max_attempts"],
        run_at=when(row["run_at"]),
        created_at=when(row["created_at"]),
        started_at=when(row["started_at"]),
        finished_at=when(row["finished_at"]),
        last_error=row["last_error"],
        errors=list(errors or []),
        result=decode_json(row["result"]),
        worker_id=row["worker_id"],
        lease_expires_at=when(row["lease_expires_at"]),
        postponed_reason=row["postponed_reason"],
        cancel_requested_at=when(row["cancel_requested_at"]),
        batch_id=row["batch_id"],
        parent_id=row["parent_id"],
        progress_done=row["progress_done"],
        progress_total=row["progress_total"],
        connection=row["connection"],
    )


def worker_from_row(row: Any, when: When = as_stored, json_text: bool = False) -> WorkerRecord:
    """A `conveyor_workers` row as a WorkerRecord. SQLite: `when=utc, json_text=True`."""
    queues, tasks = row["queues"], row["tasks"]
    if json_text:
        queues = None if queues is None else json.loads(queues)
        tasks = json.loads(tasks)
    return WorkerRecord(
        worker_id=row["worker_id"],
        hostname=row["hostname"],
        pid=row["pid"],
        queues=queues,
        tasks=list(tasks),
        lease_seconds=row["lease_seconds"],
        started_at=when(row["started_at"]),
        last_seen_at=when(row["last_seen_at"]),
    )


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


def new_token() -> int:
    """A lease token: 56 random bits (fits a signed 64-bit column and a JSON number)."""
    return int.from_bytes(os.urandom(7), "big")


def claim_order(job: ClaimedJob) -> tuple[int, int]:
    # A priority of another type (a row written around the CHECK) must not crash the claim:
    # the worker sends that job dead with the reason.
    return (-job.priority if type(job.priority) is int else 0, job.id)


def filter_params(
    queues: Sequence[str] | None, tasks: Sequence[str] | None, array: Callable[[list[str]], Any]
) -> dict[str, Any]:
    """The queue and task filters of claims and due checks: no queues means every queue, while
    `tasks=None` means every task and `tasks=[]` none."""
    return {
        "all_queues": not queues,
        "queues": array(list(queues or ())),
        "all_tasks": tasks is None,
        "tasks": array(list(tasks or ())),
    }


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
        "connection": job.connection,
    }


def worker_params(
    worker_id: str,
    hostname: str,
    pid: int,
    queues: Sequence[str] | None,
    tasks: Sequence[str],
    lease_seconds: float,
) -> dict[str, Any]:
    return {
        "worker_id": worker_id,
        "hostname": hostname,
        "pid": pid,
        "queues": None if queues is None else json.dumps(list(queues)),
        "tasks": json.dumps(list(tasks)),
        "lease_seconds": lease_seconds,
    }


def single_insert(job: NewJob) -> bool:
    """The single enqueue's hot path takes this job: no key, no idempotency key, no connection,
    no batch or parent (`insert_unkeyed_job` has none of them)."""
    return (
        job.key is None
        and job.idempotency_key is None
        and job.connection is None
        and job.batch_id is None
        and job.parent_id is None
    )
