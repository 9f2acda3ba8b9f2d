"""The plans of the operator listings' and the dashboard's queries on a filled store, as
docs/operations-performance.md shows them: `EXPLAIN (ANALYZE, COSTS OFF)` on PostgreSQL,
`EXPLAIN QUERY PLAN` on SQLite.

    python -m bench.ops_explain URL     (a store filled by bench/ops_fill.py)

The SQL is the store's own (store/listing.py builds the listing as `list_jobs` does; a `since`
listing shows its three reads: the walk of the newest jobs, its count, the window by its
indexes).
"""

from __future__ import annotations

import sqlite3
import sys
import time
from collections.abc import Sequence
from typing import Any

import psycopg

from conveyor.job import JobFilter
from conveyor.store import listing, queries
from conveyor.store.jobs import FINAL_WINDOW

RUNNABLE = "shared: the oldest due job per queue, the jobs no worker serves (/metrics, dashboard /)"


def cases(key: str, mid: int, since: float) -> list[tuple[str, JobFilter]]:
    filters: list[tuple[str, dict[str, Any]]] = [
        ("no filter", {}),
        ("state=dead", {"state": "dead"}),
        ("task", {"task": "task_07"}),
        ("queue", {"queue": "queue_5"}),
        ("key", {"key": key}),
        ("since (1 h)", {"since": since}),
    ]
    found = []
    for label, fields in filters:
        found.append((f"GET /api/jobs, {label}", JobFilter(**fields)))
        found.append((f"GET /api/jobs, {label}, before", JobFilter(**fields, before_id=mid)))
    return found


def statements(
    q: dict[str, str], filters: JobFilter, dialect: str
) -> list[tuple[str, str, dict[str, Any]]]:
    """(label suffix, SQL, parameters) of the reads `list_jobs` makes for these filters."""
    params = filters.params()
    if filters.since is None:
        return [("", listing.statement(q, filters, dialect), params)]
    recent, walked, window = listing.since_statements(q, filters, dialect)
    walking = {**params, "walk": listing.WALK}
    return [
        (f" (1: among the newest {listing.WALK:,})", recent, walking),
        (" (2: how many that walk saw)", walked, walking),
        (" (3: the window by its indexes)", window, params),
    ]


def sqlite_plans(path: str) -> list[tuple[str, str]]:
    conn = sqlite3.connect(path)
    q = queries.load("sqlite")
    key, mid, since = _values(conn.execute, "?")
    out = []
    for label, filters in cases(key, mid, since):
        for suffix, sql, params in statements(q, filters, "sqlite"):
            plan = conn.execute("EXPLAIN QUERY PLAN " + sql, params).fetchall()
            out.append((label + suffix, "\n".join(row[3] for row in plan)))
    extra = {
        "exact counts (conveyor stats, app.stats())": (
            q["stats"],
            {"now": time.time(), "final_window": FINAL_WINDOW},
        ),
        "GET /api/blocked-keys": (q["blocked_keys"], {"limit": 100, "after": 0}),
        RUNNABLE: (q["runnable_summary"], {"now": time.time()}),
        **dashboard(q, "sqlite", since),
    }
    for label, (sql, params) in extra.items():
        plan = conn.execute("EXPLAIN QUERY PLAN " + sql, params).fetchall()
        out.append((label, "\n".join(row[3] for row in plan)))
    return out


def postgres_plans(url: str) -> list[tuple[str, str]]:
    q = queries.load("postgres")
    out = []
    with psycopg.connect(url, autocommit=True, cursor_factory=psycopg.ClientCursor) as conn:
        conn.execute("SET max_parallel_workers_per_gather = 0")  # as the store's pool plans
        key, mid, since = _values(conn.execute, "%s")
        runs = [
            (label + suffix, sql, params)
            for label, f in cases(key, mid, since)
            for suffix, sql, params in statements(q, f, "postgres")
        ]
        exact = "exact counts (conveyor stats, app.stats())"
        runs.append((exact, q["stats"], {"final_window": 3600}))
        runs.append(("GET /api/blocked-keys", q["blocked_keys"], {"limit": 100, "after": 0}))
        runnable = RUNNABLE
        runs.append((runnable, q["runnable_summary"], {}))
        runs += [(label, sql, params) for label, (sql, params) in dashboard(q, "pg", since).items()]
        for label, sql, params in runs:
            conn.execute("EXPLAIN (ANALYZE, COSTS OFF) " + sql, params)  # warm
            rows = conn.execute("EXPLAIN (ANALYZE, COSTS OFF) " + sql, params).fetchall()
            out.append((label, "\n".join(row[0] for row in rows)))
    return out


def dashboard(q: dict[str, str], dialect: str, since: float) -> dict[str, tuple[str, Any]]:
    """The dashboard's own reads (the listing's are the API's above): the overview's and the
    dead page's, with the filled store's biggest dead group (task_00, no connection)."""
    sqlite = dialect == "sqlite"
    equal = "= :error_class" if sqlite else "= %(error_class)s"
    window = (
        "AND finished_at >= :since"
        if sqlite
        else "AND finished_at >= to_timestamp(%(since)s::double precision)"
    )
    group = {"task": "task_00", "connection": None, "error_class": "ConnectionError", "limit": 5}
    in_group = q["overview_dead_in_group"]
    groups = q["overview_dead_groups"]
    every = {"limit": 21, "connection": None, "since": None}
    return {
        "shared: the counts and oldest waits (/api/stats, /metrics, dashboard /)": (
            q["overview_live"],
            {},
        ),
        "dashboard /: the finish tally's whole hour (once a minute)": (
            q["overview_finished_per_second"],
            {"since": since},
        ),
        "dashboard /: the finish tally's last seconds (each second)": (
            q["overview_finished_per_second"],
            {"since": time.time() - 3},
        ),
        "dashboard /dead: groups": (groups.format(since=""), every),
        "dashboard /dead?since: groups": (groups.format(since=window), {**every, "since": since}),
        "dashboard /dead?connection=shop: groups": (
            groups.format(since=""),
            {**every, "connection": "shop"},
        ),
        "dashboard /dead: a group's latest (one branch of the groups' UNION ALL)": (
            in_group.format(connection="IS NULL", error_class=equal, since=""),
            {**group, "since": None},
        ),
        "dashboard /dead?since: a group's latest": (
            in_group.format(connection="IS NULL", error_class=equal, since=window),
            {**group, "since": since},
        ),
    }


def _values(execute: Any, mark: str) -> tuple[str, int, float]:
    low, high = execute("SELECT min(id), max(id) FROM conveyor_jobs").fetchone()
    key = execute(
        "SELECT key FROM conveyor_jobs WHERE key IS NOT NULL ORDER BY id DESC LIMIT 1"
    ).fetchone()[0]
    return key, (low + high) // 2, time.time() - 3600


def markdown(plans: Sequence[tuple[str, str]]) -> str:
    return "\n".join(f"{label}:\n\n```\n{plan}\n```\n" for label, plan in plans)


def main(argv: Sequence[str]) -> int:
    url = argv[0]
    if url.startswith("sqlite"):
        print(markdown(sqlite_plans(url.split("sqlite:///", 1)[1])))
    else:
        print(markdown(postgres_plans(url)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
