"""The point of sale's own database (002): orders, points moves, card balances, the daily
balance history, and the cache of the ERP's reference data. Plain SQLAlchemy Core, in the same
database as Conveyor's tables, so a sale and its sync job commit together (the outbox).

`record_sale` is the write-up's `OrderService.process_order`: the order, its points move and
the card's new balance are written and the sync job is enqueued with `db=conn`, in one
transaction. If anything fails before the commit (here: redeeming more points than the card
holds) all of it rolls back, the job included: no job for a sale that did not happen, and no
sale without its job.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

metadata = sa.MetaData()
orders = sa.Table(
    "pos_orders",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("reference", sa.String(40), nullable=False, unique=True),
    sa.Column("partner_id", sa.Integer, nullable=False),  # the ERP's res.partner id
    sa.Column("total", sa.Float, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("erp_id", sa.Integer),  # set once the ERP has the order
    sa.Column("synced_at", sa.Float),
)
moves = sa.Table(
    "pos_points_moves",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("order_id", sa.Integer, nullable=False),
    sa.Column("partner_id", sa.Integer, nullable=False),
    sa.Column("points", sa.Integer, nullable=False),  # earned (+) or redeemed (-)
    sa.Column("erp_id", sa.Integer),
)
cards = sa.Table(
    "pos_cards",
    metadata,
    sa.Column("partner_id", sa.Integer, primary_key=True),
    sa.Column("balance", sa.Integer, nullable=False),
)
history = sa.Table(
    "pos_point_history",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("partner_id", sa.Integer, nullable=False),
    sa.Column("day", sa.String(10), nullable=False),
    sa.Column("balance", sa.Integer, nullable=False),
    sa.Column("erp_id", sa.Integer),
)
cache = sa.Table(
    "pos_erp_cache",
    metadata,
    sa.Column("model", sa.String(40), primary_key=True),
    sa.Column("erp_id", sa.Integer, primary_key=True),
    sa.Column("data", sa.Text, nullable=False),
    sa.Column("refreshed_at", sa.Float, nullable=False),
)

POINTS_PER_UNIT = 0.1  # one point per 10 spent


class NotEnoughPoints(ValueError):
    """The sale redeems more points than the card holds: nothing of it is kept."""


@dataclass(frozen=True)
class Sale:
    reference: str
    partner_id: int
    total: float
    redeem: int = 0


@functools.cache
def engine_for(database_url: str) -> sa.Engine:
    """The application's own engine on Conveyor's database (psycopg 3 for PostgreSQL), one
    per URL and process."""
    if database_url.startswith("postgresql://"):
        database_url = database_url.replace("postgresql://", "postgresql+psycopg://", 1)
    return sa.create_engine(database_url)


def create_tables(engine: sa.Engine) -> None:
    metadata.create_all(engine)


def drop_tables(engine: sa.Engine) -> None:
    metadata.drop_all(engine)


def record_sale(
    engine: sa.Engine, sale: Sale, enqueue_sync: Callable[[sa.Connection, int], Any] | None
) -> int:
    """The sale, its points move, the card balance and (if `enqueue_sync`) its sync job, in one
    transaction; the order id. Raises NotEnoughPoints (and then nothing is written)."""
    earned = int(sale.total * POINTS_PER_UNIT)
    with engine.begin() as conn:
        order_id = conn.execute(
            orders.insert().values(
                reference=sale.reference,
                partner_id=sale.partner_id,
                total=sale.total,
                created_at=time.time(),
            )
        ).inserted_primary_key[0]
        for points in (earned, -sale.redeem):
            if points:
                conn.execute(
                    moves.insert().values(
                        order_id=order_id, partner_id=sale.partner_id, points=points
                    )
                )
        if enqueue_sync is not None:
            enqueue_sync(conn, order_id)  # the outbox: the job is in this transaction
        balance = _balance(conn, sale.partner_id) + earned - sale.redeem
        if balance < 0:
            raise NotEnoughPoints(
                f"card of partner {sale.partner_id} has {balance + sale.redeem - earned}"
                f" points, the sale redeems {sale.redeem}"
            )
        conn.execute(cards.delete().where(cards.c.partner_id == sale.partner_id))
        conn.execute(cards.insert().values(partner_id=sale.partner_id, balance=balance))
    return int(order_id)


def _balance(conn: sa.Connection, partner_id: int) -> int:
    found = conn.execute(sa.select(cards.c.balance).where(cards.c.partner_id == partner_id))
    return int(found.scalar_one_or_none() or 0)


def snapshot_balances(engine: sa.Engine, day: str) -> int:
    """The nightly balance history (reporting data: synced by the 5-minute batch, no job)."""
    with engine.begin() as conn:
        rows = conn.execute(sa.select(cards.c.partner_id, cards.c.balance)).all()
        for partner_id, balance in rows:
            conn.execute(history.insert().values(partner_id=partner_id, day=day, balance=balance))
    return len(rows)


# -- what the sync tasks read and write -----------------------------------------------------


def order_to_sync(engine: sa.Engine, order_id: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The order and its points moves as stored."""
    with engine.connect() as conn:
        order = conn.execute(orders.select().where(orders.c.id == order_id)).mappings().one()
        points = conn.execute(moves.select().where(moves.c.order_id == order_id)).mappings()
        return dict(order), [dict(m) for m in points]


def set_erp_id(engine: sa.Engine, table: sa.Table, row_id: int, erp_id: int) -> None:
    with engine.begin() as conn:
        conn.execute(table.update().where(table.c.id == row_id).values(erp_id=erp_id))


def mark_synced(engine: sa.Engine, order_id: int) -> None:
    with engine.begin() as conn:
        conn.execute(orders.update().where(orders.c.id == order_id).values(synced_at=time.time()))


def unsynced_orders(engine: sa.Engine) -> list[tuple[int, int]]:
    with engine.connect() as conn:
        query = sa.select(orders.c.id, orders.c.partner_id).where(orders.c.synced_at.is_(None))
        return [(int(i), int(p)) for i, p in conn.execute(query.order_by(orders.c.id))]


def unsynced_history(engine: sa.Engine, limit: int = 500) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        query = history.select().where(history.c.erp_id.is_(None)).order_by(history.c.id)
        return [dict(row) for row in conn.execute(query.limit(limit)).mappings()]


def cache_put(engine: sa.Engine, model: str, erp_id: int, data: dict[str, Any]) -> None:
    with engine.begin() as conn:
        key = (cache.c.model == model) & (cache.c.erp_id == erp_id)
        conn.execute(cache.delete().where(key))
        conn.execute(
            cache.insert().values(
                model=model, erp_id=erp_id, data=json.dumps(data), refreshed_at=time.time()
            )
        )


def cache_drop(engine: sa.Engine, model: str, erp_ids: list[int]) -> int:
    with engine.begin() as conn:
        key = (cache.c.model == model) & cache.c.erp_id.in_(erp_ids)
        return int(conn.execute(cache.delete().where(key)).rowcount)


def cached(engine: sa.Engine, model: str) -> dict[int, dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(cache.c.erp_id, cache.c.data).where(cache.c.model == model))
        return {int(i): json.loads(data) for i, data in rows}


def count(engine: sa.Engine, table: sa.Table, *where: Any) -> int:
    with engine.connect() as conn:
        query = sa.select(sa.func.count()).select_from(table)
        return int(conn.execute(query.where(*where) if where else query).scalar_one())
