"""Transactional enqueue through a SQLAlchemy Connection (the outbox pattern), both backends."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from conveyor import Conveyor


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
