"""Fill a migrated store with N jobs in realistic states, fast, for the operations benchmark.

The rows go straight into `conveyor_jobs` with the columns the store writes (COPY on PostgreSQL,
`executemany` in one transaction on SQLite), with the table's indexes dropped during the load and
built again after it (their definitions read from the catalogue, so a new migration's index is
rebuilt too), then ANALYZE. The mix (`STATES`): mostly succeeded, some dead with an error
record, some cancelled, queued (half of them due later), retrying, running, and waiting jobs
behind the keys of dead keyed jobs (the blocked keys); `TASKS` tasks and `QUEUES` queues with
skewed popularity, a key on one job in ten out of `KEYS`, one of `CONNECTIONS` on one job in
three, created over the last `DAYS` days in id order (`ORGANIC`). `FULL_PAGES` is a small
store's mix in which every measured page is full, for comparing the same page at two sizes.
Deterministic for a given N and mix (seeded random generators).
"""

from __future__ import annotations

import io
import json
import random
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg

# (state, share) in order; the rest is succeeded.
STATES = (("dead", 0.03), ("cancelled", 0.01), ("queued", 0.02), ("retrying", 0.005),
          ("running", 0.001), ("waiting", 0.004))  # fmt: skip
TASKS = 40
QUEUES = 8
KEYS = 20_000
DAYS = 30
COLUMNS = (
    "task", "queue", "payload", "key", "leads_key", "priority", "state", "attempts",
    "max_attempts", "run_at", "created_at", "started_at", "finished_at", "last_error", "errors",
    "connection",
)  # fmt: skip
# The connections a job may be for (one job in three is): the dead-letter groups split by them.
CONNECTIONS = ("shop", "erp", "crm", "mail")
ERRORS = ("ConnectionError: remote unreachable", "DeliveryError: HTTP 500", "ValueError: bad row",
          "TimeoutError: read timed out")  # fmt: skip


def task_name(i: int) -> str:
    return f"task_{i:02d}"


def queue_name(i: int) -> str:
    return "default" if i == 0 else f"queue_{i}"


@dataclass(frozen=True)
class Mix:
    """How the filled jobs spread over states, names, keys and time."""

    states: tuple[tuple[str, float], ...]  # (state, share) in order; the rest succeeded
    task: Callable[[random.Random], str]
    queue: Callable[[random.Random], str]
    key_share: float  # the share of jobs with a key
    keys: int  # drawn from this many keys
    connection_share: float  # the share of jobs for a connection
    span: float  # the jobs were created from this many seconds ago to a minute ago


# A store as it grows: mostly succeeded, a few popular tasks and queues, over 30 days.
ORGANIC = Mix(
    states=STATES,
    task=lambda rng: task_name(min(int(rng.paretovariate(1.2)) - 1, TASKS - 1)),
    queue=lambda rng: queue_name(min(int(rng.paretovariate(1.5)) - 1, QUEUES - 1)),
    key_share=0.1,
    keys=KEYS,
    connection_share=0.3,
    span=DAYS * 86400,
)
# A small store in which every page the benchmark measures is as full as in a big organic one
# (a listing's 50 rows for every filter, the 20 dead-letter groups of 5 jobs for every
# connection, a page of blocked keys, the last hour's window): the same page at a smaller N.
FULL_PAGES = Mix(
    states=(
        ("dead", 0.6),
        ("cancelled", 0.03),
        ("queued", 0.05),
        ("retrying", 0.03),
        ("running", 0.01),
        ("waiting", 0.12),
    ),
    task=lambda rng: task_name(5 + rng.randrange(6)),
    queue=lambda rng: queue_name(4 + rng.randrange(4)),
    key_share=0.6,
    keys=150,
    connection_share=1.0,
    span=3000,
)


def rows(
    n: int, now: float | None = None, seed: int = 7, mix: Mix = ORGANIC
) -> Iterator[tuple[Any, ...]]:
    """N job rows (COLUMNS order), times as epoch seconds, oldest first."""
    rng = random.Random(seed)
    by = random.Random(seed + 1)  # the connections: the other columns as they were without them
    now = time.time() if now is None else now
    start = now - mix.span
    step = (mix.span - 60) / max(n, 1)
    cuts: list[tuple[float, str]] = []
    acc = 0.0
    for state, share in mix.states:
        acc += share
        cuts.append((acc, state))
    dead_keys: list[str] = []
    for i in range(n):
        created = start + i * step
        r = rng.random()
        state = next((s for cut, s in cuts if r < cut), "succeeded")
        task = mix.task(rng)
        queue = mix.queue(rng)
        key = f"customer:{rng.randrange(mix.keys)}" if rng.random() < mix.key_share else None
        connection = (
            CONNECTIONS[by.randrange(len(CONNECTIONS))]
            if by.random() < mix.connection_share
            else None
        )
        if state == "waiting":
            if not dead_keys:
                state = "succeeded"
            else:
                key = dead_keys[rng.randrange(len(dead_keys))]
        elif state in ("queued", "retrying", "running"):
            key = None  # a keyed runnable job would hold its key: keep the heads simple
        if state == "dead" and key is not None:
            dead_keys.append(key)
        attempts = {"succeeded": 1, "dead": 5, "retrying": 2, "running": 1}.get(state, 0)
        started = created + 0.05 if attempts else None
        finished = created + 0.2 if state in ("succeeded", "dead", "cancelled") else None
        run_at = created
        if state == "queued" and rng.random() < 0.5:
            run_at = now + rng.uniform(60, 86400)
        error = None
        errors = "[]"
        if state in ("dead", "retrying"):
            error = ERRORS[rng.randrange(len(ERRORS))]
            kind, _, message = error.partition(": ")
            record = {"attempt": attempts, "at": created + 0.2, "type": kind, "message": message,
                      "traceback": f"Traceback (most recent call last):\n{error}\n"}  # fmt: skip
            errors = json.dumps([record])
        payload = json.dumps({"order": i, "customer": rng.randrange(KEYS)})
        yield (task, queue, payload, key, False, 0, state, attempts, 5, run_at, created, started,
               finished, error, errors, connection)  # fmt: skip


def fill(url: str, n: int, now: float | None = None, mix: Mix = ORGANIC) -> float:
    """Add N jobs to the migrated store at `url`; return the seconds it took."""
    began = time.monotonic()
    if url.startswith("sqlite"):
        _fill_sqlite(url.split("sqlite:///", 1)[1], n, now, mix)
    else:
        _fill_postgres(url, n, now, mix)
    return time.monotonic() - began


def _fill_sqlite(path: str, n: int, now: float | None, mix: Mix) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA cache_size=-200000")
        indexes = [
            (name, sql)
            for name, sql in conn.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index'"
                " AND tbl_name = 'conveyor_jobs' AND sql IS NOT NULL"
            )
        ]
        conn.execute("BEGIN")
        for name, _ in indexes:
            conn.execute(f'DROP INDEX "{name}"')
        sql = (
            f"INSERT INTO conveyor_jobs ({', '.join(COLUMNS)})"
            f" VALUES ({', '.join('?' * len(COLUMNS))})"
        )
        conn.executemany(sql, rows(n, now, mix=mix))
        for _, create in indexes:
            conn.execute(create)
        conn.execute("COMMIT")
        conn.execute("ANALYZE")
        conn.execute("PRAGMA synchronous=NORMAL")
    finally:
        conn.close()


def _stamp(epoch: float | None) -> str:
    if epoch is None:
        return "\\N"
    return datetime.fromtimestamp(epoch, UTC).isoformat()


def _copy_text(value: Any) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    text = str(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


_TIMES = {COLUMNS.index(c) for c in ("run_at", "created_at", "started_at", "finished_at")}


def _fill_postgres(url: str, n: int, now: float | None, mix: Mix) -> None:
    with psycopg.connect(url) as conn:
        indexes = conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'conveyor_jobs'"
            " AND indexname <> 'conveyor_jobs_pkey'"
        ).fetchall()
        for name, _ in indexes:
            conn.execute(f'DROP INDEX "{name}"')
        copy_sql = f"COPY conveyor_jobs ({', '.join(COLUMNS)}) FROM STDIN"
        with conn.cursor() as cur, cur.copy(copy_sql) as copy:
            buffer = io.StringIO()
            for i, row in enumerate(rows(n, now, mix=mix), 1):
                fields = [_stamp(v) if k in _TIMES else _copy_text(v) for k, v in enumerate(row)]
                buffer.write("\t".join(fields) + "\n")
                if i % 20_000 == 0:
                    copy.write(buffer.getvalue())
                    buffer = io.StringIO()
            copy.write(buffer.getvalue())
        conn.execute("SET maintenance_work_mem = '256MB'")
        for _, create in indexes:
            conn.execute(create)
        conn.commit()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE conveyor_jobs")
