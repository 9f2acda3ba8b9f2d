"""The POS → ERP demo (002): outbox, bundled XML-RPC, 429, a bad record, an outage with capped
backoff, the dead-letter alert, reference-data webhooks, the 5-minute batch, on-demand sync,
metrics and health. Fast delays: backoff 0.1 s doubling to a cap of 0.4 s, 5 attempts."""

from __future__ import annotations

import time
import urllib.request
from typing import Any

from conveyor import Conveyor, Exponential
from conveyor.events import JobRetried
from conveyor.schedule.scheduler import Scheduler

from . import pos
from .integration import (
    SYNC_QUEUE,
    alert_on_dead_letters,
    health,
    make_app,
    migrate,
    record_sale,
    sync_metrics,
    sync_now,
)
from .remote import Chat, Erp
from .serving import serving, wait_for

FAST_BACKOFF = Exponential(base=0.1, factor=2, cap=0.4)
PARTNERS = ["Ana", "Budi", "Citra", "Dewi", "Eko", "Fajar"] + [f"Guest {n}" for n in range(7, 13)]


def seed(erp: Erp) -> None:
    """The ERP's reference data: partners, their loyalty cards (membership), a product."""
    for n, name in enumerate(PARTNERS, start=1):
        partner = erp.add("res.partner", {"name": name, "email": f"{name.lower()}@example.com"})
        erp.add("loyalty.card", {"partner_id": partner, "code": f"CARD-{n}", "tier": "silver"})
    erp.add("product.product", {"name": "Kopi susu", "default_code": "KS", "list_price": 18.0})


def main(database_url: str) -> None:
    erp = Erp()
    erp.start()
    seed(erp)
    app = make_app(database_url, erp.url, backoff=FAST_BACKOFF, attempts=5)
    migrate(app)
    chat = Chat()
    app.alerts.webhook(chat.start())  # the ops chat (a Slack-like incoming webhook)
    alert_on_dead_letters(app)
    delays: list[float] = []
    app.events.subscribe(lambda e: delays.append(e.delay), JobRetried)
    engine = pos.engine_for(database_url)
    try:
        with serving(app) as web:
            erp.webhook_url = f"{web}/hooks/erp"
            _realtime(app, erp, engine)
            _reference_data(app, erp, engine)
            _batch_and_on_demand(app, erp, engine)
            _failures(app, erp, chat, engine, delays)
            wait_for(lambda: sync_metrics(app)["pending"] == 0)
            print(f"metrics: {sync_metrics(app)}; /metrics: {_scrape(web)}")
            report = health(app)
            print(
                f"health: {report['status']}: database {report['database']['reason']}; erp"
                f" {report['erp']['reason']}; queue {report['queue']['reason']}"
            )
    finally:
        erp.stop()
        chat.stop()
    print("look at it: conveyor --app examples.pos_erp.integration:app serve")


def _realtime(app: Conveyor, erp: Erp, engine: Any) -> None:
    sales = [pos.Sale(f"POS/{n:04}", n % 6 + 1, 100.0 + n) for n in range(12)]
    ids = [record_sale(app, sale) for sale in sales]
    wait_for(lambda: pos.count(engine, pos.orders, pos.orders.c.synced_at.is_not(None)) == 12)
    sizes = [c["size"] for c in erp.calls if c["method"] == "create"]
    print(
        f"outbox: 12 sales committed with their jobs; each order in the ERP at most"
        f" {_lag(erp, engine, ids):.2f} s after its sale, orders and points moves in"
        f" {len(sizes)} execute_kw creates {sizes}"
    )
    try:
        record_sale(app, pos.Sale("POS/9999", 1, 10.0, redeem=10_000))
    except pos.NotEnoughPoints as error:
        jobs = len(app.list_jobs(queue=SYNC_QUEUE, limit=100))
        print(f"rolled back: {error}; still {jobs} sync jobs, no order POS/9999")


def _failures(app: Conveyor, erp: Erp, chat: Chat, engine: Any, delays: list[float]) -> None:
    erp.throttle = 1
    throttled = record_sale(app, pos.Sale("POS/0100", 1, 50.0))
    bad = record_sale(app, pos.Sale("POS/0101", 999, 20.0))  # a card the ERP does not know
    good = record_sale(app, pos.Sale("POS/0102", 2, 30.0))
    wait_for(lambda: _synced(engine, throttled) and _synced(engine, good), timeout=8)
    wait_for(lambda: len(app.list_jobs(state="dead", queue=SYNC_QUEUE)) == 1)
    dead = app.list_jobs(state="dead", queue=SYNC_QUEUE)
    print(
        f"429 + Retry-After: order {throttled} synced after the quiet, attempts"
        f" {_attempts(app, throttled)}; bad record: order {bad} dead at once"
        f" ({(dead[0].last_error or '').split(': ', 1)[-1][:60]}...), order {good} of its"
        " bundle synced"
    )
    erp.outage = True
    down = record_sale(app, pos.Sale("POS/0103", 3, 40.0))
    wait_for(lambda: len(app.list_jobs(state="dead", queue=SYNC_QUEUE)) == 2, timeout=8)
    erp.outage = False
    print(f"outage: retried after {delays[-4:]} s (capped), then dead after 5 attempts")
    wait_for(lambda: chat.messages)
    app.alerts.flush()
    print(f"ops chat: {[m['text'].splitlines()[0] for m in chat.messages]} (one per 15 min)")
    app.retry_jobs([j.id for j in app.list_jobs(state="dead", queue=SYNC_QUEUE, limit=1)])
    wait_for(lambda: _synced(engine, down))
    print(f"replayed from the dead letters after the outage: order {down} synced")


def _reference_data(app: Conveyor, erp: Erp, engine: Any) -> None:
    erp.change("res.partner", 1, {"name": "Ana Lima"})
    erp.change("product.product", 1, {"list_price": 19.5})
    erp.change("loyalty.card", 4, {"tier": "gold"})
    wait_for(lambda: len(pos.cached(engine, "product.product")) == 1)
    wait_for(lambda: pos.cached(engine, "loyalty.card").get(4, {}).get("tier") == "gold")
    partner = pos.cached(engine, "res.partner").get(1, {})
    product = pos.cached(engine, "product.product").get(1, {})
    print(
        f"webhooks: cache refreshed from the ERP: partner 1 {partner.get('name')!r}, product"
        f" 1 at {product.get('list_price')}, card 4 {pos.cached(engine, 'loyalty.card')[4]['tier']}"
    )


def _batch_and_on_demand(app: Conveyor, erp: Erp, engine: Any) -> None:
    later = record_sale(app, pos.Sale("POS/0200", 5, 70.0), realtime=False)
    rows = pos.snapshot_balances(engine, "2026-12-01")
    clock = [time.time()]
    scheduler = Scheduler(
        app.schedules, lambda: app.store, app.tasks.enqueue, clock=lambda: clock[0]
    )
    scheduler.tick()  # first sight
    clock[0] += 300  # five minutes later
    fired = [f for f in scheduler.tick() if f.schedule == "erp-batch-sync"]
    wait_for(lambda: _synced(engine, later) and not pos.unsynced_history(engine))
    print(
        f"batch (*/5, fast clock): fired {len(fired)}; {rows} balance-history rows in one"
        f" create, order {later} (written without a job) synced"
    )
    offline = record_sale(app, pos.Sale("POS/0201", 6, 80.0), realtime=False)
    result = sync_now(app, offline, 6)
    print(f"on demand: order {offline} pushed at once -> ERP pos.order {result['pos.order']}")


def _scrape(web: str) -> str:
    with urllib.request.urlopen(f"{web}/metrics", timeout=5) as response:
        text = response.read().decode()
    lines = [
        line
        for line in text.splitlines()
        if line.startswith("conveyor_queue_depth{") and f'queue="{SYNC_QUEUE}"' in line
    ]
    return ", ".join(line.split("state=")[1].replace('"}', "=").replace('"', "") for line in lines)


def _synced(engine: Any, order_id: int) -> bool:
    return pos.count(engine, pos.orders, pos.orders.c.id == order_id,
                     pos.orders.c.synced_at.is_not(None)) == 1  # fmt: skip


def _lag(erp: Erp, engine: Any, ids: list[int]) -> float:
    """The longest time from a sale's commit to its order's creation in the ERP."""
    lags = []
    for order_id in ids:
        order = pos.order_to_sync(engine, order_id)[0]
        lags.append(erp.received_at[("pos.order", order["erp_id"])] - order["created_at"])
    return max(lags)


def _attempts(app: Conveyor, order_id: int) -> int:
    job = next(
        j for j in app.list_jobs(queue=SYNC_QUEUE, limit=200) if j.payload["order_id"] == order_id
    )
    return job.attempts
