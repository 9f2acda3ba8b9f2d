"""The Spark integrations demo (001): two users connect their bank over OAuth, their history is
pulled once, a schedule checks for updates, signed health webhooks arrive, the bank goes down
and the failed fetches are retried all at once. A worker pool per queue, uvicorn for the HTTP."""

from __future__ import annotations

import json
import os
import time
import urllib.request
from datetime import UTC, datetime
from typing import Any

from conveyor import Conveyor
from conveyor.accounts import generate_key
from conveyor.schedule.scheduler import Scheduler

from .integration import SparkApp, make_app
from .remote import BankApi, HealthSender
from .running import wait_for, web_server, worker_pools

USERS = ("alice", "bob")


def main(database_url: str) -> None:
    os.environ.setdefault("CONVEYOR_SECRET_KEY", generate_key())  # seals the users' tokens
    bank = BankApi(expires_in=2)  # access tokens live 2 s: refreshed (and rotated) as we go
    for user in USERS:
        bank.add_customer(user)
    bank.start()
    app = make_app(database_url, bank.url, retry_after=0.3, per_page=10)
    app.migrate()
    clock = FastClock(app)
    try:
        with web_server(app) as web, worker_pools(app):
            connect_users(app, bank, web)
            check_for_updates(app, bank, clock)
            health_webhooks(app, web)
            outage(app, bank, clock, web)
    finally:
        bank.stop()
        app.ledger.close()
        app.close()
    print("look at it: conveyor --app examples.integrations.integration:app serve")


def connect_users(app: SparkApp, bank: BankApi, web: str) -> None:
    """Each user connects the bank over OAuth; that enqueues their historical initialisation."""
    for user in USERS:
        connect(bank, web, user)
    ledger = app.ledger
    wait_for(lambda: settled(app) and len(ledger.rows("transaction")) == 80, 20, "init")
    history = sum(1 for path, *_ in bank.requests if path == "/transactions")
    print(
        f"OAuth: {', '.join(USERS)} connected ({bank.code_exchanges} codes exchanged); init pool:"
        f" {len(ledger.rows('transaction'))} transactions in {history} requests (30-day"
        f" windows), {len(ledger.rows('account'))} accounts, {len(ledger.rows('pot'))} pots"
    )


def check_for_updates(app: SparkApp, bank: BankApi, clock: FastClock) -> None:
    """The schedule fires 15 minutes later: new spending, a 429 on the way, tokens expired."""
    bank.add_transactions("alice", 3)
    bank.throttle = 1
    fired = clock.advance(15 * 60)
    wait_for(lambda: settled(app) and len(app.ledger.rows("transaction")) == 83, 20, "update")
    throttled = sum(1 for _, status, _ in bank.requests if status == 429)
    print(
        f"check-for-updates at {fired} (fast clock): {fetches(app, 'fetch')} fetches on the"
        f" fetch pool, 3 new transactions processed; {throttled} 429 waited out;"
        f" {bank.refreshes} token refreshes, each rotating the refresh token"
    )


def health_webhooks(app: SparkApp, web: str) -> None:
    """Signed health events: split into jobs at intake; a resend and a forgery."""
    sender = HealthSender()
    hook = f"{web}/hooks/health"
    first = sender.send(hook, health_items("alice"), event_id="msg_demo_1")
    again = sender.send(hook, health_items("alice"), event_id="msg_demo_1")
    forged = sender.send(hook, health_items("alice"), forge=True)
    wait_for(lambda: len(app.ledger.rows("metric")) == 2 and settled(app), 10, "hooks")
    print(
        f"health webhook: {first[0]}, {len(first[1]['jobs'])} jobs (1 workout, 2 metrics) on the"
        f" webhook pool; sent again: {again[0]} duplicate; forged signature: {forged[0]}"
    )


def outage(app: SparkApp, bank: BankApi, clock: FastClock, web: str) -> None:
    """The bank goes down for a check: the fetches die; after it, an operator retries them all."""
    bank.outage = True
    clock.advance(15 * 60)
    wait_for(lambda: len(app.list_jobs(state="dead")) == 8, 20, "dead fetches")
    dead = app.list_jobs(state="dead")
    print(
        f"bank outage: {len(dead)} fetches dead after 2 attempts (conveyor jobs list --state"
        f" dead), e.g. {(dead[0].last_error or '')[:40]}"
    )
    bank.outage = False
    retried = retry_all(app, web)
    wait_for(lambda: settled(app), 20, "retried")
    rows = app.ledger.rows("transaction")
    once = "each written once" if {r["writes"] for r in rows.values()} == {1} else "REWRITTEN"
    print(
        f"retry all (POST /api/jobs/retry, filter state=dead): {len(retried)} fetches"
        f" succeeded; {len(rows)} transactions in the ledger, {once}"
    )


class FastClock:
    """Wall time plus an offset the demo moves: 15 minutes of schedule in no time. The
    scheduler is the one `conveyor worker --scheduler` runs, on this clock."""

    def __init__(self, app: Conveyor) -> None:
        self.offset = 0.0
        self.scheduler = Scheduler(app.schedules, lambda: app.store, app.tasks.enqueue, clock=self)
        self.scheduler.tick()  # the first sight of check-for-updates: it fires from now on

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> str:
        self.offset += seconds
        fired = self.scheduler.tick()
        return ", ".join(f"{f.fire_at:%H:%M}" for f in fired if f.schedule == "check-for-updates")


def connect(bank: BankApi, web: str, user: str) -> dict[str, Any]:
    """What the user's browser does: the app's start page, the bank's consent, the callback."""
    bank.user = user  # logged in at the bank
    with urllib.request.urlopen(f"{web}/oauth/bank/start?owner={user}", timeout=10) as answer:
        result: dict[str, Any] = json.loads(answer.read())
    return result


def settled(app: Conveyor) -> bool:
    """Nothing queued, running or retrying on any queue."""
    counts = app.stats()
    busy = ("queued", "running", "retrying")
    return not any(states.get(s, 0) for states in counts.values() for s in busy)


def fetches(app: Conveyor, queue: str) -> int:
    return len(app.list_jobs(task="conveyor.sync", queue=queue, limit=500))


def health_items(user: str) -> list[dict[str, Any]]:
    now = datetime.now(UTC).replace(microsecond=0).isoformat()
    workout = {"id": f"w-{user}-1", "activity": "run", "minutes": 31.5, "started": now}
    return [
        {"type": "workout", "user": user, **workout},
        {
            "type": "metric",
            "user": user,
            "name": "heart_rate",
            "value": 61,
            "unit": "bpm",
            "at": now,
        },
        {
            "type": "metric",
            "user": user,
            "name": "steps",
            "value": 8042,
            "unit": "count",
            "at": now,
        },
    ]


def retry_all(app: Conveyor, web: str) -> list[int]:
    """What an operator does: POST /api/jobs/retry with a filter, with an API token."""
    token = app.ops.tokens.create(f"demo-{int(time.time() * 1000)}")
    request = urllib.request.Request(
        f"{web}/api/jobs/retry",
        data=json.dumps({"filter": {"state": "dead"}}).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        body = json.loads(answer.read())
    ids: list[int] = body["retried"]
    return ids
