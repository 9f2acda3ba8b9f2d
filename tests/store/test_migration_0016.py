"""Migration 0016, every backend: the jobs a database held before it get their connection from
their payload (deliveries and RPC calls only), and the listing finds them by it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from conveyor.job import JobFilter
from conveyor.store import open_store

from .test_migration_0019 import undo_0019
from .test_schema import _sql
from .test_schema import empty_url as empty_url  # the fixture

BEFORE = [
    ("conveyor.deliver", '{"connection": "shop", "path": "/orders"}'),
    ("conveyor.rpc", '{"connection": "erp", "method": "call"}'),
    ("my_task", '{"connection": "not-a-connection"}'),  # a user task's own field: left alone
    ("conveyor.deliver", '{"connection": 5}'),  # not a name: left alone
]

LATER_INDEXES = (
    "conveyor_jobs_state_id",
    "conveyor_jobs_task",
    "conveyor_jobs_queue",
    "conveyor_jobs_key_id",
    "conveyor_jobs_unfinished",
    "conveyor_jobs_dead_keyed",  # 0018's new one (it makes its runnable index again itself)
)


@pytest.fixture
def before_0016(empty_url: str) -> Iterator[str]:
    """A database migrated to the latest, then taken back to just before 0016 (0017 and 0019
    undone too), with old jobs."""
    url = empty_url  # its own database, dropped after the test
    store = open_store(url)
    store.migrate()
    store.close()
    undo_0019(url)  # the later migrations too: they run in order only
    for later in LATER_INDEXES:
        _sql(url, f"DROP INDEX {later}")
    _sql(url, "DELETE FROM conveyor_migrations WHERE version >= 17")  # the later ones run again
    _sql(url, "DROP INDEX conveyor_jobs_connection")
    _sql(url, "ALTER TABLE conveyor_jobs DROP COLUMN connection")
    _sql(url, "DELETE FROM conveyor_migrations WHERE version = 16")
    for task, payload in BEFORE:
        _sql(
            url,
            "INSERT INTO conveyor_jobs (task, queue, payload, state, max_attempts, run_at,"
            f" created_at) VALUES ('{task}', 'default', '{payload}', 'dead', 1,"
            + (" 0, 0)" if url.startswith("sqlite") else " now(), now())"),
        )
    yield url


def test_old_jobs_get_their_connection_from_the_payload(before_0016: str) -> None:
    store = open_store(before_0016)
    try:
        assert store.migrate()[:2] == ["0016_job_connection", "0017_listing_indexes"]
        jobs = sorted(store.list_jobs(JobFilter()), key=lambda job: job.id)
        assert [job.connection for job in jobs] == ["shop", "erp", None, None]
        [shop] = store.list_jobs(JobFilter(state="dead", connection="shop"))
        assert shop.task == "conveyor.deliver"
    finally:
        store.close()
