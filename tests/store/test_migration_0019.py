"""Migration 0019, every backend: the dead jobs a database held before it get their error class
(the generated column) and fall into their task, connection and error class groups."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from conveyor.store import open_store

from .test_schema import _sql
from .test_schema import empty_url as empty_url  # the fixture


def undo_0019(url: str) -> None:
    """Take a fully migrated database back to just before 0019 (0020 undone too, since
    migrations run in order only; 0021 rebuilds its index whatever it finds)."""
    _sql(url, "DROP INDEX conveyor_jobs_batch_id")
    _sql(url, "DROP INDEX conveyor_jobs_dead_groups")
    _sql(url, "ALTER TABLE conveyor_jobs DROP COLUMN error_class")
    _sql(url, "DELETE FROM conveyor_migrations WHERE version >= 19")


@pytest.fixture
def before_0019(empty_url: str) -> Iterator[str]:
    """A database migrated to the latest, then taken back to just before 0019, with old dead
    jobs (two classes, one with a connection, one without an error record)."""
    url = empty_url  # its own database, dropped after the test
    store = open_store(url)
    store.migrate()
    store.close()
    undo_0019(url)
    now = "0" if url.startswith("sqlite") else "now()"
    for connection, kind in (("shop", "DeliveryError"), ("shop", "DeliveryError"),
                             (None, "ValueError"), (None, None)):  # fmt: skip
        errors = json.dumps([{"attempt": 1, "type": kind, "message": "x"}] if kind else [])
        _sql(
            url,
            "INSERT INTO conveyor_jobs (task, queue, payload, state, max_attempts, run_at,"
            " created_at, finished_at, errors, connection) VALUES ('send', 'default', '{}',"
            f" 'dead', 1, {now}, {now}, {now}, '{errors}',"
            f" {repr(connection) if connection else 'NULL'})",
        )
    yield url


def test_old_dead_jobs_fall_into_their_groups(before_0019: str) -> None:
    store = open_store(before_0019)
    try:
        assert "0019_dead_groups" in store.migrate()
        found = [(g.connection, g.error_class, g.count) for g in store.dead_groups(None, 10)]
        assert found == [("shop", "DeliveryError", 2), (None, "", 1), (None, "ValueError", 1)]
        assert len(store.dead_in_group("send", "shop", "DeliveryError", None, 10)) == 2
        assert len(store.dead_in_group("send", None, "", None, 10)) == 1
    finally:
        store.close()
