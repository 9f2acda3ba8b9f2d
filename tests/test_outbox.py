"""Transactional enqueue through a SQLAlchemy Connection (the outbox pattern), both backends."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from conveyor import Conveyor
from conveyor.errors import ConfigurationError


def _engine(database_url: str) -> sa.Engine:
    if database_url.startswith("sqlite"):
        return sa.create_engine(database_url)
    return sa.create_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1))


@pytest.mark.parametrize("commit", [True, False])
def test_a_job_exists_only_if_the_business_write_commits(
    app: Conveyor, database_url: str, commit: bool
) -> None:
    @app.task(key=lambda p: f"order:{p['id']}")
    def sync_order(payload: dict) -> None: ...

    engine = _engine(database_url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE IF NOT EXISTS shop_orders (id INTEGER PRIMARY KEY)"))
    try:
        conn = engine.connect()
        trans = conn.begin()
        conn.execute(sa.text("INSERT INTO shop_orders (id) VALUES (7)"))
        job_id = sync_order.enqueue({"id": 7}, db=conn)
        if commit:
            trans.commit()
        else:
            trans.rollback()
        conn.close()
        with engine.connect() as check:
            orders = check.execute(sa.text("SELECT count(*) FROM shop_orders")).scalar_one()
        assert orders == (1 if commit else 0)
        assert (job_id in app.store.states([job_id])) is commit
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text("DROP TABLE shop_orders"))
        engine.dispose()


def test_an_outbox_enqueue_does_not_wait_for_a_writer_blocked_by_it(tmp_path: Path) -> None:
    """SQLite: the caller's transaction holds the write lock; a store writer (a worker's claim, a
    keyed enqueue) waits for it holding the store's lock. The outbox enqueue must not need that
    lock, or both wait until the busy timeout (and the writer fails)."""
    url = f"sqlite:///{tmp_path / 'app.db'}"
    app = Conveyor(url)
    app.migrate()

    @app.task(key=lambda p: f"order:{p['id']}")
    def sync_order(payload: dict) -> None: ...

    conn = sqlite3.connect(tmp_path / "app.db", isolation_level=None)
    conn.execute("CREATE TABLE shop_orders (id INTEGER PRIMARY KEY)")
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("INSERT INTO shop_orders (id) VALUES (1)")
    other: list[object] = []
    writer = threading.Thread(target=lambda: other.append(sync_order.enqueue({"id": 2})))
    writer.start()
    lock = app.store._lock  # type: ignore[attr-defined]
    deadline = time.monotonic() + 5
    while lock.acquire(blocking=False):  # until the writer holds it, waiting for SQLite
        lock.release()
        assert time.monotonic() < deadline and writer.is_alive()
    mine = sync_order.enqueue({"id": 1}, db=conn)
    conn.execute("COMMIT")
    writer.join(10)
    assert not writer.is_alive() and isinstance(other[0], int) and other[0] != mine
    assert set(app.store.states([mine, other[0]])) == {mine, other[0]}  # type: ignore[list-item]
    conn.close()
    app.close()


def test_an_outbox_job_waits_behind_its_keys_earlier_job(app: Conveyor, database_url: str) -> None:
    """The second job of a key, enqueued in the caller's transaction, reads the key's head
    through the caller's connection (a plain sqlite3 one reads rows by position)."""

    @app.task(key=lambda p: f"card:{p['card']}")
    def sync_move(payload: dict) -> None: ...

    first = sync_move.enqueue({"card": 1, "n": 1})
    engine = _engine(database_url)
    try:
        with engine.begin() as conn:
            second = sync_move.enqueue({"card": 1, "n": 2}, db=conn)
        states = app.store.states([first, second])
        assert states[first] == "queued" and states[second] == "waiting"
    finally:
        engine.dispose()


@pytest.mark.parametrize("commit", [True, False])
def test_a_batch_exists_only_if_the_business_write_commits(
    app: Conveyor, database_url: str, commit: bool
) -> None:
    """`app.batch(..., db=conn)`: the batch row, its members and their keys' places in the
    caller's transaction; committed, it runs and its callback follows as for any batch."""

    @app.task(key=lambda p: f"order:{p['id']}")
    def sync_line(payload: dict) -> None: ...

    @app.task
    def report(payload: dict) -> dict:
        return {"state": payload["state"]}

    engine = _engine(database_url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE IF NOT EXISTS shop_orders (id INTEGER PRIMARY KEY)"))
    try:
        conn = engine.connect()
        trans = conn.begin()
        conn.execute(sa.text("INSERT INTO shop_orders (id) VALUES (8)"))
        lines = [("sync_line", {"id": 8, "line": n}) for n in range(3)]
        batch = app.batch(lines, on_complete=report, name="order 8", db=conn)
        assert app.batches.list() == []  # not visible outside the caller's transaction yet
        if commit:
            trans.commit()
        else:
            trans.rollback()
        conn.close()
        with engine.connect() as check:
            orders = check.execute(sa.text("SELECT count(*) FROM shop_orders")).scalar_one()
        assert orders == (1 if commit else 0)
        assert [b.id for b in app.batches.list()] == ([batch.id] if commit else [])
        assert set(app.store.states(batch.job_ids)) == (set(batch.job_ids) if commit else set())
        if commit:
            states = app.store.states(batch.job_ids)
            assert [states[i] for i in batch.job_ids] == ["queued", "waiting", "waiting"]
            app.run_worker(burst=True, install_signal_handlers=False)
            view = batch.status()
            assert (view.state, view.done, view.total) == ("succeeded", 3, 3)
            [callback] = app.list_jobs(task="report")
            assert (callback.state, callback.result) == ("succeeded", {"state": "succeeded"})
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text("DROP TABLE shop_orders"))
        engine.dispose()


def test_a_batch_on_a_connection_of_the_wrong_kind_is_refused(app: Conveyor) -> None:
    @app.task
    def sync_line(payload: dict) -> None: ...

    with pytest.raises(ConfigurationError, match="db= must be a"):
        app.batch([("sync_line", {"n": 1})], db=object())
    assert app.batches.list() == []
