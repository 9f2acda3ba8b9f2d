"""The point of sale → ERP integration (002) on Conveyor.

A sale and its sync job commit in one transaction of the POS's own database (`pos.record_sale`
with `app.enqueue(..., db=conn)`: the outbox). A worker pushes it to the ERP over XML-RPC at once
(`sync_order`: `odoo_authenticate` on `/xmlrpc/2/common`, `odoo_create` on `/xmlrpc/2/object`,
bundled: the orders synced together go in one `execute_kw` create). The engine does the rest:
exponential backoff with a cap, a 429's Retry-After, the breaker, the dead-letter queue. Beside
it: the 5-minute batch sync (`sync_pending`, a schedule), on-demand sync of one order
(`sync_now`), the ERP's reference-data webhooks refreshing a local cache (`refresh_*`), a
dead-letter alert (`alert_on_dead_letters`), sync metrics (`sync_metrics`) and a health check of
the database, the ERP and the queue (`health`).

    conveyor --app examples.pos_erp.integration:app serve
"""

from __future__ import annotations

import asyncio
import os
import threading
from typing import Any

from pydantic import BaseModel

from conveyor import Breaker, Bundle, Conveyor, Exponential, Hmac
from conveyor.alerts import Alert
from conveyor.connections import (
    current_remote,
    odoo_authenticate,
    odoo_create,
    odoo_execute_kw,
)
from conveyor.errors import ConveyorError
from conveyor.events import JobDead
from conveyor.retry import RetryPolicy
from conveyor.web.health import readiness

from . import pos
from .remote import DB, LOGIN, PASSWORD, WEBHOOK_SECRET

SYNC_QUEUE = "erp-sync"
BATCH_CRON = "*/5 * * * *"  # the write-up's batch sync, every 5 minutes
BACKOFF = Exponential(base=2, factor=2, cap=300)  # 2 s, 4 s, 8 s ... at most 5 minutes
ATTEMPTS = 10
# What the cache keeps of each reference model (the membership is the loyalty card).
REFERENCE = {
    "res.partner": ("refresh_partner", ["name", "email", "phone"]),
    "product.product": ("refresh_product", ["name", "default_code", "list_price"]),
    "loyalty.card": ("refresh_membership", ["partner_id", "code", "tier", "points"]),
}


class OrderRef(BaseModel):
    order_id: int
    partner_id: int


class RecordChanged(BaseModel):
    """The ERP's webhook body: which record changed."""

    model: str
    id: int
    event: str = "write"


class Erp:
    """The ERP login, looked up once per process (Odoo's uid for a login does not change)."""

    def __init__(self, db: str, login: str, password: str) -> None:
        self.db, self.login, self.password = db, login, password
        self.uid: int | None = None

    async def session(self) -> tuple[Any, int]:
        client = current_remote()
        if self.uid is None:
            self.uid = await odoo_authenticate(client, "erp", self.db, self.login, self.password)
        return client, self.uid

    async def create(self, model: str, vals: dict[str, Any]) -> int:
        client, uid = await self.session()
        return await odoo_create(client, "erp", self.db, uid, self.password, model, vals)

    async def call(self, model: str, method: str, args: list[Any], **kwargs: Any) -> Any:
        client, uid = await self.session()
        return await odoo_execute_kw(
            client, "erp", self.db, uid, self.password, model, method, args, kwargs
        )


def make_app(
    database_url: str,
    erp_url: str,
    *,
    backoff: RetryPolicy = BACKOFF,
    attempts: int = ATTEMPTS,
    bundle_wait: float = 0.1,
) -> Conveyor:
    app = Conveyor(database_url)
    engine = pos.engine_for(database_url)
    app.connection(
        "erp",
        base_url=erp_url,
        bundle=Bundle(max_size=50, max_wait=bundle_wait),  # odoo_create bundles on it
        breaker=Breaker(failures=10, cool_off=5),
        check="GET /web/health",
        identity="server_version",
    )
    erp = Erp(*_login())

    retry: dict[str, Any] = {"retry": backoff, "max_attempts": attempts}
    _declare_sync(app, erp, engine, retry)
    _declare_reference_data(app, erp, engine, retry)
    return app


def _declare_sync(app: Conveyor, erp: Erp, engine: Any, retry: dict[str, Any]) -> None:
    """The POS → ERP side: real-time order sync and the 5-minute batch."""

    @app.task(
        queue=SYNC_QUEUE,
        key=lambda p: f"card:{p['partner_id']}",  # one card's moves reach the ERP in order
        **retry,
    )
    async def sync_order(payload: OrderRef) -> dict[str, Any]:
        """Real-time sync: the order, then its points moves; each id kept as it comes back,
        so a retry never creates one twice."""
        order, points = await asyncio.to_thread(pos.order_to_sync, engine, payload.order_id)
        if order["synced_at"] is not None:
            return {"pos.order": order["erp_id"], "already": True}
        erp_id = order["erp_id"]
        if erp_id is None:
            erp_id = await erp.create("pos.order", _order_vals(order))
            await asyncio.to_thread(pos.set_erp_id, engine, pos.orders, order["id"], erp_id)
        for move in points:
            if move["erp_id"] is None:
                vals = {
                    "partner_id": move["partner_id"],
                    "order_id": erp_id,
                    "points": move["points"],
                    "reason": "earn" if move["points"] > 0 else "redeem",
                }
                move_id = await erp.create("loyalty.points", vals)
                await asyncio.to_thread(pos.set_erp_id, engine, pos.moves, move["id"], move_id)
        await asyncio.to_thread(pos.mark_synced, engine, order["id"])
        return {"pos.order": erp_id}

    @app.task(queue=SYNC_QUEUE, **retry)
    async def sync_pending(payload: dict[str, Any]) -> dict[str, int]:
        """Batch sync (every 5 minutes): the balance history in one create, and a job for any
        order still unsynced that has none (its idempotency key makes that a no-op otherwise)."""
        rows = await asyncio.to_thread(pos.unsynced_history, engine)
        if rows:
            vals = [
                {"partner_id": r["partner_id"], "date": r["day"], "balance": r["balance"]}
                for r in rows
            ]
            ids = await erp.call("loyalty.history", "create", [vals])
            for row, erp_id in zip(rows, ids, strict=True):
                await asyncio.to_thread(pos.set_erp_id, engine, pos.history, row["id"], erp_id)
        unsynced = await asyncio.to_thread(pos.unsynced_orders, engine)
        for order_id, partner_id in unsynced:
            await asyncio.to_thread(enqueue_order_sync, app, order_id, partner_id)
        return {"history": len(rows), "orders": len(unsynced)}

    app.schedule("erp-batch-sync", BATCH_CRON, sync_pending, payload={})


def _declare_reference_data(app: Conveyor, erp: Erp, engine: Any, retry: dict[str, Any]) -> None:
    """The ERP → POS side: a webhook per changed record, the record read back, the cache."""

    async def refresh(change: RecordChanged) -> dict[str, Any]:
        """Reference data: read the record from the ERP, refresh the local cache."""
        _, fields = REFERENCE[change.model]
        rows = await erp.call(change.model, "read", [[change.id]], fields=fields)
        if not rows:  # deleted in the ERP
            await asyncio.to_thread(pos.cache_drop, engine, change.model, [change.id])
            return {"dropped": change.id}
        await asyncio.to_thread(pos.cache_put, engine, change.model, change.id, rows[0])
        return {"cached": change.id}

    @app.task(**retry)
    async def refresh_partner(payload: RecordChanged) -> dict[str, Any]:
        result = await refresh(payload)
        # The write-up's invalidate_loyalty_card(partner_id): the partner's cards are re-read.
        cards = await erp.call("loyalty.card", "search_read", [[["partner_id", "=", payload.id]]])
        for card in cards:
            await refresh(RecordChanged(model="loyalty.card", id=card["id"]))
        return {**result, "cards": len(cards)}

    @app.task(**retry)
    async def refresh_product(payload: RecordChanged) -> dict[str, Any]:
        return await refresh(payload)

    @app.task(**retry)
    async def refresh_membership(payload: RecordChanged) -> dict[str, Any]:
        return await refresh(payload)

    app.webhook(
        "erp",
        verify=Hmac(
            header="X-Erp-Signature",
            secret=os.environ.get("ERP_WEBHOOK_SECRET", WEBHOOK_SECRET),
            prefix="sha256=",
        ),
        event_id="X-Erp-Event",
        route=("model", {model: task for model, (task, _) in REFERENCE.items()}),
    )


def _login() -> tuple[str, str, str]:
    """The ERP database, login and password (the stand-in's unless set in the environment)."""
    return (
        os.environ.get("ERP_DB", DB),
        os.environ.get("ERP_LOGIN", LOGIN),
        os.environ.get("ERP_PASSWORD", PASSWORD),
    )


def _order_vals(order: dict[str, Any]) -> dict[str, Any]:
    return {
        "pos_reference": order["reference"],
        "partner_id": order["partner_id"],
        "amount_total": order["total"],
    }


def migrate(app: Conveyor) -> None:
    """Conveyor's tables and the POS's own, in the same database."""
    app.migrate()
    pos.create_tables(pos.engine_for(app.database_url))


def enqueue_order_sync(app: Conveyor, order_id: int, partner_id: int, db: Any = None) -> int:
    """The sync job of one order; with `db=`, inside the caller's transaction (the outbox)."""
    return app.enqueue(
        "sync_order",
        {"order_id": order_id, "partner_id": partner_id},
        idempotency_key=f"pos-order:{order_id}",
        db=db,
    )


def record_sale(app: Conveyor, sale: pos.Sale, *, realtime: bool = True) -> int:
    """The POS's order service: the sale and (real-time) its sync job in one transaction.
    `realtime=False` writes no job: the 5-minute batch sync (or `sync_now`) pushes it."""
    enqueue = (
        (lambda conn, order_id: enqueue_order_sync(app, order_id, sale.partner_id, db=conn))
        if realtime
        else None
    )
    return pos.record_sale(pos.engine_for(app.database_url), sale, enqueue)


def sync_now(app: Conveyor, order_id: int, partner_id: int) -> Any:
    """On-demand sync of one order, in the caller, through the same connection (its limits and
    breaker); a queued job for it later finds it synced and does nothing."""
    return app.run_now("sync_order", {"order_id": order_id, "partner_id": partner_id})


def alert_on_dead_letters(app: Conveyor, threshold: int = 1) -> None:
    """Dead-letter alert: when a sync job goes dead and the sync queue's dead letters reach
    `threshold`, an alert through `app.alerts` (claimed in the store: one per throttle window,
    15 minutes, however many workers see it). The engine's own
    `app.alerts.dead_letter_threshold(count, window)` counts every queue's deaths and alerts on
    growth (more than `count` within `window`); the write-up alerts on the first dead letter of
    the sync queue, which is this. The count and the claim run on a thread, not in the worker's
    loop, a moment after the event (the worker writes the outcome after publishing it)."""

    def check(event: JobDead) -> None:
        stored = [j.id for j in app.list_jobs(state="dead", queue=SYNC_QUEUE, limit=threshold)]
        dead = len(set(stored) | {event.job_id})
        if dead >= threshold:
            app.alerts.raise_alert(
                Alert(
                    "dead_letters",
                    SYNC_QUEUE,
                    f"ERP sync: {dead} dead letter(s)",
                    f"Job {event.job_id} ({event.task}) is dead after {event.attempt}"
                    f" attempt(s): {event.error}. Review: conveyor jobs list --state dead"
                    f" --queue {SYNC_QUEUE}; replay: conveyor jobs retry --dead",
                )
            )

    def on_dead(event: JobDead) -> None:
        if event.queue == SYNC_QUEUE:
            timer = threading.Timer(0.2, check, (event,))
            timer.daemon = True
            timer.start()

    app.events.subscribe(on_dead, JobDead)


def sync_metrics(app: Conveyor) -> dict[str, int]:
    """The write-up's SyncMetrics: pending, synced and failed sync jobs (the same counts as
    `conveyor_queue_depth{queue="erp-sync"}` on /metrics)."""
    states = app.stats().get(SYNC_QUEUE, {})
    pending = sum(n for state, n in states.items() if state not in ("succeeded", "dead"))
    return {
        "pending": pending,
        "synced": states.get("succeeded", 0),
        "failed": states.get("dead", 0),
    }


def health(app: Conveyor) -> dict[str, Any]:
    """The write-up's check_integration_health: the database, the ERP and the sync queue."""
    _, checks = readiness(app.ops)  # the store, the workers, the breakers (/readyz)
    database = next(c for c in checks if c["name"] == "store")
    erp = _erp_check(app)
    workers = next((c for c in checks if c["name"] == "workers"), None)
    if workers is None:  # the store cannot be reached
        queue = {"status": "fail", "reason": database["reason"]}
    else:
        counts = sync_metrics(app)
        ok = workers["status"] == "ok" and not counts["failed"]
        queue = {
            "status": "ok" if ok else "warn",
            "reason": f"{workers['reason']} worker(s); {counts['pending']} pending,"
            f" {counts['failed']} dead",
        }
    parts = {"database": database, "erp": erp, "queue": queue}
    if database["status"] == "fail":
        overall = "unhealthy"
    elif all(part["status"] == "ok" for part in parts.values()):
        overall = "healthy"
    else:
        overall = "degraded"
    return {"status": overall, **parts}


def _erp_check(app: Conveyor) -> dict[str, str]:
    """The connection tester (`GET /web/health`) and the XML-RPC login."""
    check = app.test_connection("erp")
    if not check.ok:
        return {"status": "fail", "reason": check.message}

    async def login() -> int:
        try:
            return await odoo_authenticate(app.remote(), "erp", *_login())
        finally:
            await app.close_remote()

    try:
        uid = asyncio.run(login())
    except ConveyorError as error:
        return {"status": "fail", "reason": f"login: {error}"}
    return {"status": "ok", "reason": f"Odoo {check.identity}, uid {uid}, {check.latency_ms} ms"}


app = make_app(
    os.environ.get("CONVEYOR_DATABASE_URL", "sqlite:///conveyor.db"),
    os.environ.get("ERP_URL", "http://127.0.0.1:8069"),
)
