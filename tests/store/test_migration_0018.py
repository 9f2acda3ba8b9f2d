"""Migration 0018, every backend: the runnable index covers the claim's filters and the runnable
aggregates, and a store migrated before it claims its jobs in order after it; the blocked keys
are read from their own partial index."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from conveyor.job import NewJob
from conveyor.store import open_store, queries

from .test_migration_0019 import undo_0019
from .test_schema import _sql
from .test_schema import empty_url as empty_url  # the fixture

OLD_INDEX = (
    "CREATE INDEX conveyor_jobs_runnable ON conveyor_jobs (priority DESC, id)"
    " WHERE state IN ('queued', 'retrying')"
)


def test_a_store_from_before_0018_is_migrated_and_claims_in_order(empty_url: str) -> None:
    store = open_store(empty_url)
    try:
        store.migrate()
        undo_0019(empty_url)  # the later ones run again after it
        _sql(empty_url, "DROP INDEX conveyor_jobs_runnable")
        _sql(empty_url, OLD_INDEX)
        _sql(empty_url, "DROP INDEX conveyor_jobs_dead_keyed")
        _sql(empty_url, "DELETE FROM conveyor_migrations WHERE version >= 18")
        assert store.migrate()[0] == "0018_operator_reads"
        low, high, _later = store.enqueue(
            [
                NewJob("t", "q", "{}", 1),
                NewJob("t", "q", "{}", 1, priority=5),
                NewJob("t", "q", "{}", 1, delay=3600),
            ]
        )
        assert set(store.oldest_due()) == {"q"}
        claimed = store.claim("w", ["q"], limit=5, lease_seconds=30)
        assert [job.id for job in claimed] == [high, low]  # not `later`: not due
        assert store.oldest_due() == {}  # the one left is not due yet
    finally:
        store.close()


def test_sqlite_reads_the_runnable_aggregates_from_the_index_alone(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'plans.db'}"
    store = open_store(url)
    store.migrate()
    store.close()
    named = queries.load("sqlite")
    with sqlite3.connect(tmp_path / "plans.db") as conn:
        for name in ("oldest_due", "runnable_counts", "runnable_summary", "claim"):
            rows = conn.execute(
                "EXPLAIN QUERY PLAN " + named[name],
                {
                    "now": time.time(),
                    "token": 1,
                    "worker": "w",
                    "lease": 30,
                    "all_queues": 1,
                    "queues": "[]",
                    "all_tasks": 1,
                    "tasks": "[]",
                    "limit": 10,
                },
            ).fetchall()
            plan = " | ".join(row[3] for row in rows)
            assert "COVERING INDEX conveyor_jobs_runnable" in plan, (name, plan)
        rows = conn.execute(
            "EXPLAIN QUERY PLAN " + named["blocked_keys"], {"limit": 100, "after": 0}
        )
        plan = " | ".join(row[3] for row in rows)
        assert "SEARCH d USING INDEX conveyor_jobs_dead_keyed (id>?)" in plan, plan
