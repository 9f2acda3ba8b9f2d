"""examples/pos_erp (002) against its stand-in ERP over real XML-RPC, on both backends."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
import xmlrpc.client
from collections.abc import Iterator

import pytest

from conveyor import Conveyor, Exponential
from conveyor.events import JobRetried
from conveyor.schedule.scheduler import Scheduler
from examples.pos_erp import pos
from examples.pos_erp.demo import seed
from examples.pos_erp.integration import (
    BATCH_CRON,
    SYNC_QUEUE,
    alert_on_dead_letters,
    health,
    make_app,
    migrate,
    record_sale,
    sync_metrics,
    sync_now,
)
from examples.pos_erp.remote import DB, LOGIN, PASSWORD, UID, Chat, Erp
from examples.pos_erp.serving import serving, wait_for

BACKOFF = Exponential(base=0.05, factor=2, cap=0.2)  # 0.05, 0.1, 0.2, 0.2: capped


@pytest.fixture
def erp() -> Iterator[Erp]:
    remote = Erp()
    remote.start()
    seed(remote)
    yield remote
    remote.stop()


@pytest.fixture
def chat() -> Iterator[Chat]:
    ops = Chat()
    ops.start()
    yield ops
    ops.stop()


@pytest.fixture
def pos_app(database_url: str, erp: Erp, chat: Chat) -> Iterator[Conveyor]:
    # A longer bundle window than the default 0.1 s: a loaded machine still bundles.
    app = make_app(database_url, erp.url, backoff=BACKOFF, attempts=5, bundle_wait=0.2)
    migrate(app)
    app.alerts.webhook(chat.url)
    app.alerts.throttle = 10**9  # one window for the whole test (a boundary is 2033)
    alert_on_dead_letters(app)
    yield app
    engine = pos.engine_for(database_url)
    pos.drop_tables(engine)  # PostgreSQL: the session's database is shared by every test
    engine.dispose()
    app.close()


def synced(engine: object, *order_ids: int) -> bool:
    where = [pos.orders.c.id.in_(order_ids), pos.orders.c.synced_at.is_not(None)]
    return pos.count(engine, pos.orders, *where) == len(order_ids)  # type: ignore[arg-type]


def job_of(app: Conveyor, order_id: int) -> object:
    return next(
        j for j in app.list_jobs(queue=SYNC_QUEUE, limit=500) if j.payload["order_id"] == order_id
    )


def test_pos_erp_end_to_end(pos_app: Conveyor, erp: Erp, chat: Chat, database_url: str) -> None:
    app = pos_app
    engine = pos.engine_for(database_url)
    retried: list[tuple[int, float]] = []
    app.events.subscribe(lambda e: retried.append((e.job_id, e.delay)), JobRetried)

    # The outbox, before any worker: a committed sale has its job; a rolled-back one has none.
    first = record_sale(app, pos.Sale("POS/0001", 1, 120.0))
    assert [j.payload for j in app.list_jobs(queue=SYNC_QUEUE)] == [
        {"order_id": first, "partner_id": 1}
    ]
    with pytest.raises(pos.NotEnoughPoints):
        record_sale(app, pos.Sale("POS/0002", 1, 10.0, redeem=500))
    assert len(app.list_jobs(queue=SYNC_QUEUE)) == 1
    assert pos.count(engine, pos.orders) == 1 and pos.count(engine, pos.moves) == 1
    ids = [first] + [record_sale(app, pos.Sale(f"POS/1{n:03}", n + 2, 50.0 + n)) for n in range(11)]

    with serving(app) as web:
        erp.webhook_url = f"{web}/hooks/erp"

        # The worker pushes the queued sales over XML-RPC, bundled (the sales made while it
        # runs, below, go the same way).
        assert wait_for(lambda: synced(engine, *ids))
        assert erp.count("authenticate") >= 1  # common.authenticate, once per process
        creates = [c for c in erp.calls if c["method"] == "create"]
        assert sum(c["size"] for c in creates) == 24  # 12 orders and 12 points moves
        assert len(creates) < 24 and max(c["size"] for c in creates) > 1  # batched
        order = pos.order_to_sync(engine, first)[0]
        assert erp.records["pos.order"][order["erp_id"]] == {
            "pos_reference": "POS/0001",
            "partner_id": 1,
            "amount_total": 120.0,
        }
        points = [
            p for p in erp.records["loyalty.points"].values() if p["order_id"] == order["erp_id"]
        ]
        assert points == [
            {"partner_id": 1, "order_id": order["erp_id"], "points": 12, "reason": "earn"}
        ]

        # Reference-data webhooks: the record is read back from the ERP into the cache.
        assert erp.change("res.partner", 2, {"name": "Budi Santoso"}) == 202
        assert erp.change("product.product", 1, {"list_price": 21.0}) == 202
        assert erp.change("loyalty.card", 3, {"tier": "gold"}) == 202
        assert wait_for(
            lambda: pos.cached(engine, "res.partner").get(2, {}).get("name") == "Budi Santoso"
        )
        assert wait_for(lambda: pos.cached(engine, "loyalty.card").get(3, {}).get("tier") == "gold")
        assert wait_for(
            lambda: pos.cached(engine, "product.product").get(1, {}).get("list_price") == 21.0
        )
        # The partner's change re-read its card too (invalidate_loyalty_card in the write-up).
        assert wait_for(lambda: 2 in pos.cached(engine, "loyalty.card"))
        assert pos.cached(engine, "loyalty.card")[2]["partner_id"] == 2
        forged = urllib.request.Request(
            f"{web}/hooks/erp",
            data=b'{"model": "res.partner", "id": 1}',
            headers={"X-Erp-Signature": "sha256=00", "X-Erp-Event": "evil"},
            method="POST",
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(forged, timeout=5)
        assert refused.value.code == 401 and 1 not in pos.cached(engine, "res.partner")

        # The 5-minute batch (a fast clock): the balance history in one create, and an order
        # written without a job.
        assert app.schedules.get("erp-batch-sync").cron == BATCH_CRON == "*/5 * * * *"
        later = record_sale(app, pos.Sale("POS/2000", 4, 70.0), realtime=False)
        rows = pos.snapshot_balances(engine, "2026-12-01")
        clock = [time.time()]
        scheduler = Scheduler(
            app.schedules, lambda: app.store, app.tasks.enqueue, clock=lambda: clock[0]
        )
        scheduler.tick()
        assert not [f for f in scheduler.tick() if f.schedule == "erp-batch-sync"]
        clock[0] += 300
        assert [f.schedule for f in scheduler.tick() if f.schedule == "erp-batch-sync"] == [
            "erp-batch-sync"
        ]
        assert wait_for(lambda: synced(engine, later) and not pos.unsynced_history(engine))
        history = [c for c in erp.calls if c["model"] == "loyalty.history"]
        assert [c["size"] for c in history] == [rows] and rows == 12

        # On demand: one order pushed in the caller, nothing stored for it.
        offline = record_sale(app, pos.Sale("POS/2001", 5, 80.0), realtime=False)
        jobs_before = len(app.list_jobs(limit=500))
        result = sync_now(app, offline, 5)
        assert synced(engine, offline) and result["pos.order"] in erp.records["pos.order"]
        assert len(app.list_jobs(limit=500)) == jobs_before

        # A 429: the connection waits out Retry-After, no attempt used. A bad record (a card
        # the ERP does not know): a Fault, dead at once; the rest of its bundle goes through.
        erp.throttle = 1
        throttled = record_sale(app, pos.Sale("POS/3000", 1, 30.0))
        bad = record_sale(app, pos.Sale("POS/3001", 999, 20.0))
        good = record_sale(app, pos.Sale("POS/3002", 2, 40.0))
        assert wait_for(lambda: synced(engine, throttled, good))
        assert wait_for(lambda: job_of(app, bad).state == "dead")
        assert 429 in [r["status"] for r in erp.requests]
        assert job_of(app, throttled).attempts == 1
        dead = job_of(app, bad)
        assert dead.attempts == 1 and "res.partner(999) does not exist" in (dead.last_error or "")
        assert PASSWORD not in (dead.last_error or "")

        # An outage (connection refused): exponential backoff, capped, then the dead letters;
        # replayed once the ERP is back.
        erp.outage = True
        down = record_sale(app, pos.Sale("POS/3003", 3, 60.0))
        assert wait_for(lambda: job_of(app, down).state == "dead")
        down_job = job_of(app, down).id  # type: ignore[attr-defined]
        assert [d for j, d in retried if j == down_job] == [0.05, 0.1, 0.2, 0.2]
        assert job_of(app, down).attempts == 5
        erp.outage = False
        # A dead order holds its card's later moves back: they reach the ERP in order.
        held = record_sale(app, pos.Sale("POS/3004", 3, 10.0))
        assert job_of(app, held).state == "waiting"
        app.retry_jobs([down_job])
        assert wait_for(lambda: synced(engine, down, held))
        assert (
            pos.order_to_sync(engine, down)[0]["erp_id"]
            < pos.order_to_sync(engine, held)[0]["erp_id"]
        )

        # The dead-letter alert: once per window in the ops chat, however many went dead.
        assert wait_for(lambda: chat.messages)
        app.alerts.flush()
        assert [a.kind for a in app.alerts.recent()] == ["dead_letters"]
        assert len(chat.messages) == 1 and "dead letter" in chat.messages[0]["text"]

        # Metrics: pending / synced / failed, from the store, as /metrics shows them.
        assert wait_for(lambda: sync_metrics(app)["pending"] == 0)
        metrics = sync_metrics(app)
        assert metrics == {"pending": 0, "synced": metrics["synced"], "failed": 1}
        with urllib.request.urlopen(f"{web}/metrics", timeout=5) as response:
            text = response.read().decode()
        assert f'conveyor_queue_depth{{queue="{SYNC_QUEUE}",state="dead"}} 1.0' in text
        assert f'state="succeeded"}} {metrics["synced"]}.0' in text

        # Health: the database, the ERP (reachable, the login accepted) and the queue.
        report = health(app)
        assert report["database"]["status"] == "ok" and report["erp"]["status"] == "ok"
        assert "uid 2" in report["erp"]["reason"]
        assert report["queue"]["status"] == "warn" and report["status"] == "degraded"  # 1 dead
        erp.outage = True
        assert health(app)["erp"]["status"] == "fail"
        erp.outage = False


def test_the_stand_in_speaks_odoo(erp: Erp) -> None:
    common = xmlrpc.client.ServerProxy(f"{erp.url}/xmlrpc/2/common")
    objects = xmlrpc.client.ServerProxy(f"{erp.url}/xmlrpc/2/object", allow_none=True)
    assert common.authenticate(DB, LOGIN, PASSWORD, {}) == UID
    assert common.authenticate(DB, LOGIN, "wrong", {}) is False
    domain = [["name", "=", "Ana"]]
    rows = objects.execute_kw(
        DB, UID, PASSWORD, "res.partner", "search_read", [domain], {"fields": ["email"]}
    )
    assert rows == [{"id": 1, "email": "ana@example.com"}]
    found = objects.execute_kw(
        DB, UID, PASSWORD, "res.partner", "read", [[1]], {"fields": ["name"]}
    )
    assert found == [{"id": 1, "name": "Ana"}]
    assert objects.execute_kw(DB, UID, PASSWORD, "res.partner", "write", [[1], {"phone": "12"}], {})
    assert erp.records["res.partner"][1]["phone"] == "12"
    with pytest.raises(xmlrpc.client.Fault, match="required"):
        objects.execute_kw(DB, UID, PASSWORD, "pos.order", "create", [{"amount_total": 1.0}], {})
    with pytest.raises(xmlrpc.client.Fault, match="Invalid field 'colour'"):
        objects.execute_kw(DB, UID, PASSWORD, "pos.order", "create", [{"colour": "red"}], {})
    with pytest.raises(xmlrpc.client.Fault, match="Access Denied"):
        objects.execute_kw(DB, UID, "wrong", "res.partner", "read", [[1]], {})
    erp.throttle = 1
    with pytest.raises(xmlrpc.client.ProtocolError) as throttled:
        common.version()
    assert throttled.value.errcode == 429 and throttled.value.headers["Retry-After"] == "1"
    erp.outage = True
    with pytest.raises(ConnectionRefusedError):
        common.version()
    erp.outage = False
    assert common.version()["server_version"] == "17.0"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_refused_login_is_named_by_health_and_kills_the_job(
    database_url: str, erp: Erp, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ERP_PASSWORD", "not-the-password")
    app = make_app(database_url, erp.url, backoff=BACKOFF, attempts=5)
    migrate(app)
    try:
        report = health(app)
        assert report["erp"]["status"] == "fail" and "refused the login" in report["erp"]["reason"]
        assert report["status"] == "degraded" and report["queue"]["status"] == "warn"  # no worker
        order = record_sale(app, pos.Sale("POS/0001", 1, 10.0))
        app.run_worker(burst=True, install_signal_handlers=False, middleware=[])
        job = job_of(app, order)
        assert job.state == "dead" and job.attempts == 1  # type: ignore[attr-defined]
        assert "refused the login 'pos-sync'" in (job.last_error or "")  # type: ignore[attr-defined]
        assert "not-the-password" not in (job.last_error or "")  # type: ignore[attr-defined]
        assert erp.records["pos.order"] == {}
    finally:
        pos.drop_tables(pos.engine_for(database_url))
        app.close()
