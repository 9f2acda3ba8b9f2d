"""A job the worker cannot even load goes dead at once with the reason; the worker keeps going.

Rows written by another program (or by an older version) can hold what `enqueue` refuses: a
payload that no longer matches the task's schema, text that is not JSON, a text priority on
SQLite. Before: the text priority crashed every worker at the claim (`bad operand type for unary
-`), and a payload that failed validation was retried like any failure, attempt after attempt.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from pydantic import BaseModel

from conveyor import Conveyor
from conveyor.store.sqlite import sqlite_path


class Order(BaseModel):
    n: int


def drain(app: Conveyor) -> Any:
    return app.run_worker(burst=True, middleware=[], install_signal_handlers=False, concurrency=4)


def insert_raw(database_url: str, task: str, payload: str, priority: str = "0") -> int:
    """A row as another program writes it, with SQL only."""
    if database_url.startswith("sqlite"):
        with sqlite3.connect(sqlite_path(database_url), isolation_level=None) as conn:
            # Around the CHECK constraints, as a program on an older schema could.
            conn.execute("PRAGMA ignore_check_constraints = ON")
            cur = conn.execute(
                "INSERT INTO conveyor_jobs (task, queue, payload, priority, state, max_attempts,"
                f" run_at, created_at) VALUES (?, 'default', ?, {priority}, 'queued', 5, 0, ?)",
                (task, payload, time.time()),
            )
            return int(cur.lastrowid or 0)
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute(
            "INSERT INTO conveyor_jobs (task, queue, payload, priority, state, max_attempts)"
            f" VALUES (%s, 'default', %s::jsonb, {priority}, 'queued', 5) RETURNING id",
            (task, payload),
        ).fetchone()
        assert row is not None
        return int(row[0])


def test_a_payload_that_fails_the_task_s_schema_goes_dead_and_the_others_run(
    app: Conveyor, database_url: str
) -> None:
    done: list[int] = []

    @app.task
    def typed(payload: Order) -> None:
        done.append(payload.n)

    before = typed.enqueue({"n": 1})
    bad = insert_raw(database_url, "typed", '{"n": "not a number"}')
    missing = insert_raw(database_url, "typed", '{"m": 1}')
    after = typed.enqueue({"n": 2})
    stats = drain(app)

    assert sorted(done) == [1, 2] and stats.dead == 2
    assert app.get_job(before).state == app.get_job(after).state == "succeeded"
    job = app.get_job(bad)
    assert (job.state, job.attempts) == ("dead", 1)  # not retried: the row would not change
    assert job.last_error is not None
    assert job.last_error.startswith("cannot load job: the payload does not match the task's")
    assert "n: Input should be a valid integer" in job.last_error
    assert job.errors[0]["message"] == job.last_error
    assert "ValidationError" in job.errors[0]["traceback"]
    assert "m: Field required" not in job.last_error
    assert "n: Field required" in str(app.get_job(missing).last_error)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """SQLite only: PostgreSQL's JSONB and INTEGER columns refuse these rows themselves."""
    url = f"sqlite:///{tmp_path / 'conveyor.db'}"
    Conveyor(url).migrate()
    return url


@pytest.fixture
def sqlite_app(sqlite_url: str) -> Iterator[Conveyor]:
    application = Conveyor(sqlite_url)
    yield application
    application.close()


def test_a_payload_that_is_not_json_goes_dead(sqlite_app: Conveyor, sqlite_url: str) -> None:
    app, database_url = sqlite_app, sqlite_url

    @app.task
    def plain(payload: dict) -> None: ...

    bad = insert_raw(database_url, "plain", "{not json")
    good = plain.enqueue({})
    drain(app)
    job = app.get_job(bad)
    assert (job.state, job.attempts) == ("dead", 1)
    assert str(job.last_error).startswith("cannot load job: the payload is not JSON: ")
    assert app.get_job(good).state == "succeeded"


def test_a_text_priority_written_around_the_checks_does_not_stop_the_worker(
    sqlite_app: Conveyor, sqlite_url: str
) -> None:
    app, database_url = sqlite_app, sqlite_url

    @app.task
    def plain(payload: dict) -> None: ...

    jobs = [plain.enqueue({"n": n}, priority=n) for n in range(3)]
    bad = insert_raw(database_url, "plain", "{}", priority="'high'")
    stats = drain(app)  # used to raise TypeError: bad operand type for unary -: 'str'
    assert stats.succeeded == 3 and stats.dead == 1
    assert [app.get_job(job_id).state for job_id in jobs] == ["succeeded"] * 3
    job = app.get_job(bad)
    assert (job.state, job.last_error) == (
        "dead",
        "cannot load job: priority 'high' is not an integer",
    )
