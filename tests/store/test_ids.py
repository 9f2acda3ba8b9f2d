"""Job ids are never reused, on either backend, and the SQLite migration that made them so."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from conveyor import Conveyor, JobNotFound
from conveyor.job import JobFilter
from conveyor.store import Store, queries
from conveyor.store.sqlite.connection import split_statements

from .helpers import new
from .test_schema import normalized_sql


def test_ids_are_never_reused_after_delete_or_prune(store: Store) -> None:
    issued = store.enqueue([new(), new(), new()])
    assert store.delete([issued[-1]]) == [issued[-1]]
    [after_delete] = store.enqueue([new()])
    assert after_delete > max(issued)
    issued.append(after_delete)

    assert sorted(store.cancel(issued)) == sorted([*issued[:2], after_delete])
    assert store.prune(older_than=0) == 3  # the table is empty now
    assert store.list_jobs(JobFilter()) == []
    after_prune = store.enqueue([new(), new()])  # the bulk path too
    assert min(after_prune) > max(issued)
    assert after_prune == [after_prune[0], after_prune[0] + 1]


def test_a_kept_idempotency_key_never_returns_an_unrelated_job(store: Store) -> None:
    [order] = store.enqueue([new(ikey="order-1")])
    store.cancel([order])
    store.prune(older_than=0)  # the job goes, its idempotency key stays (30 days)
    [unrelated] = store.enqueue([new(payload='{"other": true}')])
    assert unrelated != order
    assert store.enqueue([new(ikey="order-1")]) == [order]
    with pytest.raises(JobNotFound):
        store.get(order)
    assert store.get(unrelated).payload == {"other": True}


# -- the SQLite migration to AUTOINCREMENT ------------------------------------------------------


def _database_at_version_2(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute(queries.load("sqlite")["create_migrations_table"])
    for version, name, sql in queries.migrations("sqlite"):
        if version > 2:
            break
        for statement in split_statements(sql):
            conn.execute(statement)
        conn.execute("INSERT INTO conveyor_migrations VALUES (?, ?, 0)", (version, name))
    return conn


INSERT = (
    "INSERT INTO conveyor_jobs (id, task, queue, payload, key, priority, state, attempts,"
    " max_attempts, run_at, created_at, finished_at, errors, result)"
    " VALUES (?, 't', 'default', ?, ?, ?, ?, ?, 5, ?, 1000.0, ?, '[]', ?)"
)


def test_migration_keeps_the_rows_and_ids_continue_above_every_id_issued(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = _database_at_version_2(path)
    conn.execute(INSERT, (1, '{"n": 1}', None, 0, "succeeded", 1, 1000.0, 1001.0, '"ok"'))
    conn.execute(INSERT, (2, '{"n": 2}', "c:1", 7, "queued", 0, 1000.0, None, None))
    conn.execute(INSERT, (3, '{"n": 3}', "c:1", 0, "waiting", 0, 1000.0, None, None))
    # Stored by an older version, which took any type: a text priority jammed every worker.
    conn.execute(INSERT, (4, '{"n": 4}', None, "high", "queued", 0, 1000.0, None, None))
    conn.execute(INSERT, (5, '{"n": 5}', "c:2", "low", "waiting", 0, 1000.0, None, None))
    # A pruned job's id, still held by its idempotency key, is higher than any row left.
    conn.execute("INSERT INTO conveyor_idempotency VALUES ('order-9', 9, 1000.0)")
    conn.close()

    app = Conveyor(f"sqlite:///{path}")
    try:
        assert app.store.schema_version() == 2
        assert app.migrate()[0] == "0003_never_reuse_ids"
        assert app.store.schema_version() == queries.migrations("sqlite")[-1][0]
        jobs = {job.id: job for job in app.list_jobs(limit=10)}
        assert sorted(jobs) == [1, 2, 3, 4, 5]
        assert (jobs[1].state, jobs[1].result, jobs[1].payload) == ("succeeded", "ok", {"n": 1})
        assert (jobs[2].state, jobs[2].priority, jobs[2].key) == ("queued", 7, "c:1")
        assert (jobs[3].state, jobs[3].key) == ("waiting", "c:1")
        assert (jobs[4].state, jobs[4].priority) == ("dead", 0)
        assert jobs[4].last_error == "cannot load job: priority 'high' is not an integer"
        assert jobs[4].errors[-1]["message"] == jobs[4].last_error
        assert jobs[4].finished_at is not None
        assert (jobs[5].state, jobs[5].priority) == ("waiting", 0)  # keeps its key's line

        @app.task
        def t(payload: dict) -> None: ...

        fresh = t.enqueue({"n": 10})
        assert fresh == 10  # above job 5 and above the pruned job 9
        assert app.enqueue("t", {"n": 9}, idempotency_key="order-9") == 9
        app.delete_jobs([*jobs, fresh])
        assert t.enqueue({"n": 11}) == 11  # an emptied table does not go back either
    finally:
        app.close()

    migrated = _schema(path)
    fresh_path = tmp_path / "fresh.db"
    Conveyor(f"sqlite:///{fresh_path}").migrate()
    assert migrated == _schema(fresh_path)
    assert {name for kind, name, _ in migrated if kind == "index"} >= {
        "conveyor_jobs_runnable",
        "conveyor_jobs_key",
        "conveyor_jobs_next",
        "conveyor_jobs_lease",
        "conveyor_jobs_state",
        "conveyor_jobs_finished",
    }


def test_an_empty_database_at_version_2_migrates(tmp_path: Path) -> None:
    _database_at_version_2(tmp_path / "old.db").close()
    app = Conveyor(f"sqlite:///{tmp_path / 'old.db'}")
    try:
        assert app.migrate()[0] == "0003_never_reuse_ids"

        @app.task
        def t() -> None: ...

        assert t.enqueue() == 1
    finally:
        app.close()


@pytest.mark.parametrize(
    ("column", "value"),
    [("priority", "'high'"), ("priority", "1.5"), ("attempts", "'x'"), ("run_at", "'soon'")],
)
def test_sqlite_refuses_a_value_of_the_wrong_type_from_any_program(
    tmp_path: Path, column: str, value: str
) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    Conveyor(url).migrate()
    values = {"priority": "0", "attempts": "0", "run_at": "1.0", column: value}
    with sqlite3.connect(tmp_path / "c.db") as conn, pytest.raises(sqlite3.IntegrityError):
        conn.execute(
            "INSERT INTO conveyor_jobs (task, queue, payload, state, max_attempts, created_at,"
            f" priority, attempts, run_at) VALUES ('t', 'default', '{{}}', 'queued', 5, 1.0,"
            f" {values['priority']}, {values['attempts']}, {values['run_at']})"
        )


def _schema(path: Path) -> list[tuple[str, str, str]]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute(
            "SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"
            " ORDER BY type, name"
        ).fetchall()
    return [(kind, name, normalized_sql(sql)) for kind, name, sql in rows]
