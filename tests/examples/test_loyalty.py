"""examples/loyalty (000) against its stand-in Leat API, on both backends.

The retry delays are the real ones (2 h ... 24 h): the test moves a retrying job's `run_at` to
now in the database (`due_now`) instead of waiting, and checks each delay the engine chose.
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import io
import json
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from aiosmtpd.controller import Controller
from rich.console import Console

from conveyor import Breaker, Conveyor, ConveyorError, PermanentStatus, Postponed
from conveyor.errors import JobNotFound
from conveyor.events import BreakerOpened, JobRetried
from conveyor.schedule.scheduler import Scheduler
from examples.loyalty import mass_create as command
from examples.loyalty.builders import ContactBuilder, OrderBuilder, RewardBuilder
from examples.loyalty.integration import StoreCredentials, default_stores, make_app
from examples.loyalty.remote import COMPANIES, LoyaltyApi

HOUR = 3600.0
DELAYS = [2 * HOUR, 6.4 * HOUR, 10.8 * HOUR, 15.2 * HOUR, 19.6 * HOUR, 24 * HOUR]


class Inbox:
    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append(parsed)  # type: ignore[arg-type]
        return "250 OK"

    def subjects(self) -> list[str]:
        return [str(m["Subject"]) for m in self.messages]


@pytest.fixture
def api() -> Iterator[LoyaltyApi]:
    remote = LoyaltyApi()
    remote.start()
    yield remote
    remote.stop()


@pytest.fixture
def smtp() -> Iterator[tuple[str, Inbox]]:
    inbox = Inbox()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield f"smtp://127.0.0.1:{port}", inbox
    controller.stop()


def execute(database_url: str, sqlite_sql: str, postgres_sql: str, *args: Any) -> None:
    """Time travel for the test: the real delays are hours."""
    if database_url.startswith("sqlite"):
        with contextlib.closing(sqlite3.connect(database_url.removeprefix("sqlite:///"))) as c:
            c.execute(sqlite_sql, args)
            c.commit()
    else:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(postgres_sql, args)  # type: ignore[arg-type]


def due_now(database_url: str, ids: Sequence[int]) -> None:
    for job_id in ids:
        execute(
            database_url,
            "UPDATE conveyor_jobs SET run_at = ? WHERE id = ?",
            "UPDATE conveyor_jobs SET run_at = now() WHERE id = %s",
            *((time.time(), job_id) if database_url.startswith("sqlite") else (job_id,)),
        )


def finished_days_ago(database_url: str, job_id: int, days: int) -> None:
    sqlite_args = (time.time() - days * 86400, job_id)
    execute(
        database_url,
        "UPDATE conveyor_jobs SET finished_at = ? WHERE id = ?",
        f"UPDATE conveyor_jobs SET finished_at = now() - interval '{days} days' WHERE id = %s",
        *(sqlite_args if database_url.startswith("sqlite") else (job_id,)),
    )


def fast_app(database_url: str, api: LoyaltyApi, smtp: str, failures: int = 3) -> Conveyor:
    """The example's app with a quick rate limit and breaker cool-off (5/s has its own test)."""
    api.limit = 1000
    app = make_app(
        database_url,
        api.url,
        rate_limit="200/s",
        breaker=Breaker(failures=failures, cool_off=0.2, max_cool_off=0.2),
        smtp=smtp,
    )
    app.migrate()
    return app


def test_job_types_ordering_retries_and_errors(
    database_url: str, api: LoyaltyApi, smtp: tuple[str, Inbox]
) -> None:
    app = fast_app(database_url, api, smtp[0], failures=10)  # the outage has its own test
    contacts, orders, rewards = ContactBuilder(app), OrderBuilder(app), RewardBuilder(app)
    delays: dict[int, list[float]] = {}
    app.events.subscribe(lambda e: delays.setdefault(e.job_id, []).append(e.delay), JobRetried)

    # Job types registered by code: 7 attempts, linear 2 h ... 24 h, keyed per customer.
    create = app.get_task("leat.contact_create")
    assert create.leads_key and create.max_attempts == 7
    assert [create.retry.delay(n) for n in range(1, 7)] == pytest.approx(DELAYS, abs=1e-6)
    for code in ("contact_update", "credit_transaction", "order_item_transaction"):
        task = app.get_task(f"leat.{code}")
        assert not task.leads_key and task.max_attempts == 7 and task.key_function is not None
    assert app.get_task("leat.redeem_reward").key_function is None  # a dead redeem blocks none

    # Contact-create leads its customer's key: made last, sent first; the rest in order.
    update = contacts.update("nl", 7, name="Ann")
    credit = rewards.credit("nl", 7, 100, reference="welcome-7")
    order = orders.order_placed("nl", 7, 5001, [{"sku": "mug", "price": 12.5, "quantity": 2}])
    first = contacts.create("nl", 7, "ann@example.com")
    assert contacts.create("nl", 7, "ann@example.com") == first  # once per customer
    app.run_worker(burst=True)
    assert api.calls() == [
        "POST /contacts",
        "PATCH /contacts/7",
        "POST /contacts/7/credits",
        "POST /contacts/7/orders",
    ]
    assert {app.get_job(i).state for i in (first, update, credit, order)} == {"succeeded"}
    assert api.contact("shop-nl-0001", 7) == {
        "ref": "7",
        "email": "ann@example.com",
        "name": "Ann",
        "credits": 125,
    }

    # Validation: a bad payload is refused at enqueue, a remote 422 is dead at once, kept.
    with pytest.raises(ConveyorError):
        contacts.create("fr", 1, "x@example.com")  # no credentials for that store
    bad = contacts.create("nl", 70, "not-an-address")
    app.run_worker(burst=True)
    job = app.get_job(bad)
    assert job.state == "dead" and job.attempts == 1
    assert job.errors[0]["status"] == 422 and "not a valid e-mail" in job.errors[0]["response"]

    # A create that fails holds its customer's later jobs; other customers go on.
    api.broken = {"8"}
    poison = contacts.create("be", 8, "bert@example.com")
    behind = contacts.update("be", 8, name="Bert")
    other = contacts.create("be", 9, "bo@example.com")
    failed_at = time.time()
    app.run_worker(burst=True)
    job = app.get_job(poison)
    assert job.state == "retrying" and delays[poison] == [DELAYS[0]]
    assert job.run_at is not None and abs(job.run_at.timestamp() - failed_at - DELAYS[0]) < 10
    assert app.get_job(other).state == "succeeded"
    assert app.get_job(behind).state in ("waiting", "queued") and "PATCH /contacts/8" not in (
        api.calls()
    )

    # Seven attempts, each delay exactly the policy's; every error kept on the job.
    for attempt in range(2, 8):
        due_now(database_url, [poison])
        app.run_worker(burst=True)
        assert app.get_job(poison).attempts == attempt
    job = app.get_job(poison)
    assert job.state == "dead" and delays[poison] == pytest.approx(DELAYS, abs=1e-6)
    assert len(job.errors) == 7 and all(e["status"] == 500 for e in job.errors)
    # A dead contact-create holds its customer (the 422 one above too) until an operator acts.
    assert {k.key for k in app.blocked_keys()} == {"be:customer:8", "nl:customer:70"}
    assert app.get_job(behind).state in ("waiting", "queued")
    assert api.calls().count("POST /contacts") == 1 + 1 + 7 + 1  # 7, 70, 8 (x7), 9

    # Fixed remotely, the operator retries it: the customer's jobs follow, in order.
    api.broken = set()
    app.retry_jobs([poison])
    app.run_worker(burst=True)
    assert app.get_job(poison).state == "succeeded" and app.get_job(behind).state == "succeeded"
    assert api.contact("shop-be-0002", 8)["name"] == "Bert"  # type: ignore[index]
    assert api.contact("shop-nl-0001", 8) is None  # credentials per store: the be shop's
    app.close()


def test_outage_mail_rewards_now_and_schedules(
    database_url: str, api: LoyaltyApi, smtp: tuple[str, Inbox]
) -> None:
    url, inbox = smtp
    app = fast_app(database_url, api, url)
    contacts, rewards = ContactBuilder(app), RewardBuilder(app)
    opened = threading.Event()
    app.events.subscribe(lambda e: opened.set(), BreakerOpened)

    # Leat refuses connections: the breaker opens and the shop manager gets a mail.
    api.set_outage("refuse")
    ids = [contacts.create("nl", n, f"c{n}@example.com") for n in range(20, 24)]
    app.run_worker(burst=True)
    assert opened.is_set()
    app.alerts.flush()
    assert inbox.subjects() == ["[conveyor] leat-nl cannot be reached"]
    assert inbox.messages[0]["To"] == "manager@shop.test"
    jobs = [app.get_job(i) for i in ids]
    assert [j.state for j in jobs] == ["retrying"] * 4 and [j.attempts for j in jobs] == [1] * 4
    assert all("cannot connect" in j.errors[0]["message"] for j in jobs)  # kept on each job
    with pytest.raises(ConveyorError):  # an answer-now call says so at once
        rewards.list_rewards("nl")

    # Back: the retries go through, the breaker closes, and the manager hears of it.
    api.set_outage(None)
    due_now(database_url, ids)
    app.run_worker(burst=True)
    assert [app.get_job(i).state for i in ids] == ["succeeded"] * 4
    app.alerts.flush()
    assert inbox.subjects()[1:] == ["[conveyor] leat-nl answers again"]

    # Maintenance (503): nothing is spent, the answer-now call is postponed.
    api.set_outage("503")
    with pytest.raises(Postponed):
        app.run_now("leat.list_rewards", {"store": "be"})
    api.set_outage(None)

    # Read-only calls run at once, stored nowhere; a redeem is stored and run at once.
    stored = len(app.list_jobs(limit=500))
    assert [r["title"] for r in rewards.list_rewards("nl")] == [
        "Free coffee",
        "10% off",
        "Tote bag",
    ]
    assert len(app.list_jobs(limit=500)) == stored
    rewards.credit("nl", 20, 60, reference="gift")
    app.run_worker(burst=True)
    assert rewards.redeem("nl", 20, 1) == {"reward": "Free coffee", "balance": 10}
    with pytest.raises(PermanentStatus) as refused:
        rewards.redeem("nl", 20, 3)
    assert refused.value.status == 422
    redeems = app.list_jobs(task="leat.redeem_reward")
    assert [j.state for j in redeems] == ["dead", "succeeded"]
    assert "needs 300 credits" in json.dumps(redeems[0].errors)

    # The schedules: the Monday 10:00 digest and the monthly purge, fired by a scheduler
    # whose clock is at 1 June 2026 (a Monday and the first of the month).
    views = {v.name: v for v in app.scheduler.views()}
    assert (views["conveyor.digest"].cron, views["conveyor.digest"].tz) == (
        "0 10 * * MON",
        "Europe/Amsterdam",
    )
    assert views["conveyor.prune"].cron == "0 3 1 * *"
    assert {views[n].status for n in ("conveyor.digest", "conveyor.prune")} == {"active"}
    finished_days_ago(database_url, ids[0], 40)
    now = [datetime(2026, 6, 1, 0, 30, tzinfo=UTC).timestamp()]
    scheduler = Scheduler(app.schedules, lambda: app.store, app.tasks.enqueue, lambda: now[0])
    assert scheduler.tick() == []  # first sight: from now on
    now[0] = datetime(2026, 6, 1, 8, 1, tzinfo=UTC).timestamp()  # 10:01 in Amsterdam
    fired = {f.schedule: f for f in scheduler.tick()}
    assert {"conveyor.digest", "conveyor.prune"} <= set(fired)
    with pytest.raises(JobNotFound):
        app.get_job(ids[0])  # succeeded 40 days ago: purged
    assert app.get_job(ids[1]).state == "succeeded"  # this month's stay
    app.run_worker(burst=True)  # the digest job
    app.alerts.flush()
    digest = inbox.messages[-1]
    assert str(digest["Subject"]).startswith("[conveyor] ")
    assert "leat.redeem_reward: PermanentStatus 422 x1" in digest.get_content()
    assert app.alerts.digest_when_empty is False  # a week without errors: no mail
    app.close()


def test_five_requests_a_second_and_mass_create(database_url: str, api: LoyaltyApi) -> None:
    app = make_app(database_url, api.url)  # the example's own 5/s
    app.migrate()
    assert str(app.get_connection("leat-nl").rate_limit) == "RateLimit(rate=5.0, burst=1)"
    api.throttle = 1  # the first answer is a 429 with Retry-After: 1
    out = io.StringIO()
    counts = command.mass_create(
        app, "nl", command.customers(6), console=Console(file=out, width=100)
    )
    assert counts == {"succeeded": 6}
    assert "6/6" in out.getvalue()
    created = [r for r in api.requests if r["status"] == 201]
    assert len(created) == 6 and api.requests[0]["status"] == 429
    # Spaced by the connection's limit: 5 gaps of 0.2 s at least (less the requests' jitter).
    assert created[-1]["at"] - created[0]["at"] >= 0.5
    assert {j.attempts for j in app.list_jobs(limit=20)} == {1}  # the 429 spent no attempt
    assert len(api.contacts["shop-nl-0001"]) == 6
    app.close()


def test_connection_tester_per_store(tmp_path: Any, api: LoyaltyApi) -> None:
    other = COMPANIES[1]
    stores = {
        **default_stores(),
        "uk": StoreCredentials(COMPANIES[0].token, other.shops[0]),  # not this token's shop
        "xx": StoreCredentials("pat-wrong", "shop-nl-0001"),
        "other": StoreCredentials(other.token, other.shops[0]),
    }
    app = make_app(f"sqlite:///{tmp_path}/t.db", api.url, stores=stores)
    checks = {name: app.test_connection(f"leat-{name}") for name in stores}
    assert (checks["nl"].ok, checks["nl"].identity) == (True, "Demo Shop BV (c-1001)")
    assert (checks["be"].ok, checks["be"].identity) == (True, "Demo Shop BV (c-1001)")
    assert (checks["other"].ok, checks["other"].identity) == (True, "Other Retail Ltd (c-2002)")
    assert (checks["uk"].ok, checks["uk"].status) == (False, 403)
    assert (checks["xx"].ok, checks["xx"].status) == (False, 401)
    assert "refused the credentials" in checks["xx"].message
    assert [r["shop"] for r in api.requests] == [
        "shop-nl-0001",
        "shop-be-0002",
        "shop-uk-0003",
        "shop-nl-0001",
        "shop-uk-0003",
    ]
    assert command.main(["--count", "0"]) == 2
    assert command.main(["--store", "fr", "--with-remote", "--count", "1"]) == 2
