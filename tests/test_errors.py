"""Mistakes made from Python get a ConveyorError with a clear message, never a foreign exception
(TypeError, AttributeError, pydantic's, asyncio's) or a silent wrong answer."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest

from conveyor import (
    Bearer,
    ConfigurationError,
    Conveyor,
    ConveyorError,
    PayloadError,
    Postpone,
    Postponed,
    StoreError,
    UnknownConnection,
)
from conveyor.errors import Discard
from tests.conftest import POSTGRES_URL

DELIVER = "conveyor.deliver"


# -- connections --------------------------------------------------------------------------------


def test_a_number_as_rate_limit_is_per_second() -> None:
    app = Conveyor("sqlite:///unused.db")
    limit = app.connection("shop", "https://api.example.com", rate_limit=5).rate_limit
    assert limit is not None and (limit.rate, limit.burst) == (5.0, 1)
    limit = app.connection("erp", "https://erp.example.com", rate_limit=0.5, burst=3).rate_limit
    assert limit is not None and (limit.rate, limit.burst) == (0.5, 3)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (float("inf"), "give a finite number per second"),
        (0, "rate > 0"),
        (["5/s"], "bad rate limit of type list"),
    ],
)
def test_a_bad_rate_limit(value: Any, message: str) -> None:
    app = Conveyor("sqlite:///unused.db")
    with pytest.raises(ConfigurationError, match=message):
        app.connection("shop", "https://api.example.com", rate_limit=value)


def test_auth_as_a_string_is_refused_with_the_object_to_use() -> None:
    app = Conveyor("sqlite:///unused.db")
    with pytest.raises(ConfigurationError) as caught:
        app.connection("shop", "https://api.example.com", auth="Bearer s3cr3t-token")  # type: ignore[arg-type]
    message = str(caught.value)
    assert "auth must be an auth object, not a string" in message
    assert 'auth=Bearer("env:' in message
    assert "s3cr3t" not in message  # a credential is never echoed
    with pytest.raises(ConfigurationError, match="not dict"):
        app.connection("erp", "https://erp.example.com", auth={"token": "x"})  # type: ignore[arg-type]
    assert isinstance(app.connection("ok", "https://a.example", auth=Bearer("t")).auth, Bearer)


# -- payloads -----------------------------------------------------------------------------------


@pytest.mark.parametrize("body", [{"at": object()}, {"ratio": float("nan")}, b"\xff"])
def test_an_unserialisable_delivery_payload_is_a_payload_error(app: Conveyor, body: Any) -> None:
    app.connection("shop", "https://api.example.com")
    with pytest.raises(PayloadError, match="not JSON-serialisable"):
        app.deliver("shop", "/contacts", body)
    assert app.list_jobs() == []


def test_an_unserialisable_value_in_a_typed_payload(app: Conveyor) -> None:
    @app.task
    def sync(payload: dict[str, Any]) -> None: ...

    with pytest.raises(PayloadError, match="not JSON-serialisable"):
        sync.enqueue({"when": object()})


# -- the outbox connection ----------------------------------------------------------------------


def test_an_outbox_connection_to_another_sqlite_file_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'conveyor.db'}"
    app = Conveyor(url)
    app.migrate()

    @app.task
    def sync(payload: dict[str, Any]) -> None: ...

    other = sqlite3.connect(tmp_path / "business.db")
    with pytest.raises(ConfigurationError, match="where no worker looks"):
        sync.enqueue({"id": 1}, db=other)
    memory = sqlite3.connect(":memory:")
    with pytest.raises(ConfigurationError, match="in-memory database"):
        sync.enqueue({"id": 1}, db=memory)
    same = sqlite3.connect(tmp_path / "." / "conveyor.db")  # the same file, spelt differently
    with same:
        job_id = sync.enqueue({"id": 1}, db=same)
    assert [job.id for job in app.list_jobs()] == [job_id]
    for conn in (other, memory, same):
        conn.close()
    app.close()


def test_an_outbox_connection_to_another_postgres_database_is_refused(
    postgres_database: str,
) -> None:
    app = Conveyor(postgres_database)

    @app.task
    def sync(payload: dict[str, Any]) -> None: ...

    other = psycopg.connect(POSTGRES_URL)  # the server's default test database
    with other, pytest.raises(ConfigurationError, match="to database 'test'"):
        sync.enqueue({"id": 1}, db=other)
    with psycopg.connect(postgres_database) as same:
        job_id = sync.enqueue({"id": 1}, db=same)
        job_id_again = sync.enqueue({"id": 2}, db=same)  # checked once per connection
    assert {job.id for job in app.list_jobs()} >= {job_id, job_id_again}
    app.cancel_jobs([job_id, job_id_again])
    app.close()


# -- sync facades inside an event loop ----------------------------------------------------------


def test_sync_facades_inside_a_running_loop_say_what_to_await(app: Conveyor) -> None:
    app.connection("shop", "https://api.example.com")

    @app.task
    def ping() -> str:
        return "pong"

    async def inside() -> list[str]:
        messages = []
        for call in (
            lambda: app.run_worker(burst=True),
            lambda: app.run_now("ping"),
            lambda: app.test_connection("shop"),
        ):
            with pytest.raises(ConfigurationError) as caught:
                call()
            messages.append(str(caught.value))
        assert await app.run_now_async("ping") == "pong"
        return messages

    worker, run_now, test = asyncio.run(inside())
    assert "run_worker() cannot be called inside a running event loop" in worker
    assert "await app.worker(...).run()" in worker
    assert "await app.run_now_async(...)" in run_now
    assert "await app.test_connection_async(...)" in test


# -- run_now --------------------------------------------------------------------------------------


def test_run_now_postponed_is_a_conveyor_error_with_after(app: Conveyor) -> None:
    @app.task
    def throttled() -> None:
        raise Postpone(12.5, "rate limit of 'shop'")

    with pytest.raises(Postponed) as caught:
        app.run_now("throttled")
    error = caught.value
    assert isinstance(error, ConveyorError) and isinstance(error, Postpone)
    assert error.after == 12.5 and error.reason == "rate limit of 'shop'"
    assert str(error) == "rate limit of 'shop': not run, it may run in 12.5 s"


def test_run_now_through_an_open_breaker(app: Conveyor) -> None:
    from conveyor.breaker import BreakerRecord

    app.connection("shop", "https://api.example.com")
    app.store.change_breaker(
        "shop",
        lambda current, now: BreakerRecord(
            "shop", "open", 5, 30.0, now + 30, None, now, "HTTP 503"
        ),
    )
    with pytest.raises(Postponed, match="circuit breaker of 'shop' is open") as caught:
        app.run_now(DELIVER, {"connection": "shop", "path": "/contacts", "body": {}})
    assert 0 < caught.value.after <= 30


# -- list_jobs ----------------------------------------------------------------------------------


def test_list_jobs_refuses_unknown_states_and_filters(app: Conveyor) -> None:
    with pytest.raises(ConfigurationError, match="unknown state 'bogus' \\(choose from waiting"):
        app.list_jobs(state="bogus")
    with pytest.raises(ConfigurationError, match="unknown job filter 'colour'"):
        app.list_jobs(colour="red")
    assert app.list_jobs(task="nobody_registered_this", state="dead") == []


# -- unknown connections ------------------------------------------------------------------------


def test_a_delivery_to_an_unknown_connection_is_refused_at_enqueue(app: Conveyor) -> None:
    app.connection("shop", "https://api.example.com")
    with pytest.raises(UnknownConnection, match="unknown connection 'shpo' \\(known: shop\\)"):
        app.deliver("shpo", "/contacts", {"id": 1})
    with pytest.raises(UnknownConnection):  # the built-in task enqueued by name
        app.enqueue(DELIVER, {"connection": "shpo", "path": "/contacts"})
    with pytest.raises(UnknownConnection):
        app.rpc("shpo", "ping")
    assert app.list_jobs() == []
    assert issubclass(UnknownConnection, ConfigurationError)


def test_a_delivery_whose_connection_this_worker_lacks_waits(database_url: str) -> None:
    """Another worker may declare it: the job waits, its attempt unused, saying why."""
    declaring = Conveyor(database_url)
    declaring.connection("shop", "https://api.example.com")
    job_id = declaring.deliver("shop", "/contacts", {"id": 1})
    declaring.close()

    worker_app = Conveyor(database_url)  # "shop" is no longer declared
    worker_app.connection("crm", "https://crm.example.com")
    worker_app.run_worker(burst=True, install_signal_handlers=False, middleware=[])
    job = worker_app.get_job(job_id)
    assert (job.state, job.attempts, job.errors) == ("queued", 0, [])
    assert "connection 'shop' is not declared in this worker" in (job.postponed_reason or "")
    assert "unknown connection 'shop' (known: crm)" in (job.postponed_reason or "")
    assert issubclass(UnknownConnection, Discard)  # raised by a task's own code: dead at once
    worker_app.close()


# -- a database that was never migrated ---------------------------------------------------------


def test_an_unmigrated_sqlite_file_says_to_migrate(tmp_path: Path) -> None:
    app = Conveyor(f"sqlite:///{tmp_path / 'new.db'}")
    app.connection("shop", "https://api.example.com")
    with pytest.raises(StoreError, match=r"run app.migrate\(\) or `conveyor migrate`"):
        app.deliver("shop", "/contacts", {"id": 1})
    with pytest.raises(StoreError, match=r"no Conveyor schema here"):
        app.list_jobs()
    app.task(lambda payload: None, name="noop")
    with pytest.raises(StoreError, match=r"run app.migrate\(\) or `conveyor migrate`"):
        app.enqueue("noop", {})  # the single enqueue's hot path maps the error too
    app.close()


def test_an_unmigrated_postgres_database_says_to_migrate(postgres_database: str) -> None:
    name = f"conveyor_unmigrated_{uuid.uuid4().hex[:8]}"
    admin = psycopg.connect(POSTGRES_URL, autocommit=True)
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    app = Conveyor(postgres_database.rsplit("/", 1)[0] + f"/{name}")
    try:
        with pytest.raises(StoreError, match=r"run app.migrate\(\) or `conveyor migrate`"):
            app.list_jobs()
        app.task(lambda payload: None, name="noop")
        with pytest.raises(StoreError, match=r"run app.migrate\(\) or `conveyor migrate`"):
            app.enqueue("noop", {})  # the single enqueue's hot path maps the error too
    finally:
        app.close()
        with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
