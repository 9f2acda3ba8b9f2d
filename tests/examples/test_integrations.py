"""examples/integrations (001) against its stand-in bank and health sender, on both backends:
a worker per queue and uvicorn, as in the demo, each behaviour of the README asserted."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from typer.testing import CliRunner

from conveyor import Conveyor
from conveyor.accounts import generate_key
from conveyor.cli import cli
from conveyor.schedule.scheduler import Scheduler
from examples.integrations.demo import FastClock, connect, health_items, retry_all, settled
from examples.integrations.integration import (
    HISTORY_DAYS,
    SparkApp,
    SyncOrder,
    fan_out,
    make_app,
)
from examples.integrations.remote import CLIENT_ID, CLIENT_SECRET, BankApi, HealthSender
from examples.integrations.running import wait_for, web_server, worker_pools

USERS = ("alice", "bob")


@pytest.fixture
def bank() -> Iterator[BankApi]:
    remote = BankApi(expires_in=2)
    for user in USERS:
        remote.add_customer(user)
    remote.start()
    yield remote
    remote.stop()


@pytest.fixture
def app(database_url: str, bank: BankApi, monkeypatch: pytest.MonkeyPatch) -> Iterator[Conveyor]:
    monkeypatch.setenv("CONVEYOR_SECRET_KEY", generate_key())
    application = make_app(database_url, bank.url, retry_after=0.3, per_page=10)
    application.migrate()
    yield application
    application.ledger.drop()
    application.close()


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).replace(tzinfo=UTC)


def jobs(app: Conveyor, task: str, **filters: Any) -> list[Any]:
    return app.list_jobs(task=task, limit=500, **filters)


def test_integrations_end_to_end(app: SparkApp, bank: BankApi, database_url: str) -> None:
    ledger = app.ledger
    clock = FastClock(app)  # its scheduler has seen check-for-updates: it fires from now on
    scheduler = clock.scheduler
    other = Scheduler(app.schedules, lambda: app.store, app.tasks.enqueue, clock=clock)
    with web_server(app) as web, worker_pools(app) as pools:
        # OAuth authorization code: the start page, the bank's consent, the callback.
        assert connect(bank, web, "alice") == {
            "connected": True,
            "connection": "bank",
            "owner": "alice",
        }
        connect(bank, web, "bob")
        assert bank.code_exchanges == 2
        assert {(a.owner, a.state) for a in app.list_accounts("bank")} == {
            ("alice", "active"),
            ("bob", "active"),
        }

        # Connecting enqueued the historical initialisation once per user, on the init pool.
        wait_for(lambda: settled(app) and len(ledger.rows("transaction")) == 80, 20, "init")
        inits = jobs(app, "initialise")
        assert sorted(j.idempotency_key for j in inits) == ["init:alice", "init:bob"]
        assert {j.queue for j in inits} == {"init"}
        init_syncs = jobs(app, "conveyor.sync", queue="init")
        assert len(init_syncs) == 8 and {j.state for j in init_syncs} == {"succeeded"}
        assert {j.worker_id for j in init_syncs} == {pools["init"].worker_id}
        history = [q for path, status, q in bank.requests if path == "/transactions"]
        assert len(history) >= 12 and all("since" in q and "before" in q for q in history)
        starts = sorted({moment(q["since"]) for q in history})
        ends = {moment(q["before"]) for q in history}
        assert abs(datetime.now(UTC) - timedelta(days=HISTORY_DAYS) - starts[0]) < timedelta(1)
        assert len(starts) >= 6 and set(starts[1:]) <= ends  # 30-day windows, one after another
        for user in USERS:
            assert len(ledger.rows("transaction", user)) == 40
            assert len(ledger.rows("account", user)) == len(ledger.rows("pot", user)) == 2
            assert len(ledger.rows("balance", user)) == 2
        processed = jobs(app, "process_transaction")
        assert len(processed) == 80 and {j.queue for j in processed} == {"process"}
        assert {j.worker_id for j in processed} == {pools["process"].worker_id}

        # The periodic check for updates: fired once per fire time however many schedulers.
        bank.add_transactions("alice", 3)
        bank.throttle = 1  # the next request: 429 with Retry-After: 1
        clock.offset += 15 * 60  # two schedulers, the same fire time
        fired = scheduler.tick() + other.tick()
        assert [f.schedule for f in fired if f.job_id] == ["check-for-updates"]  # once
        wait_for(lambda: settled(app) and len(ledger.rows("transaction")) == 83, 20, "updates")
        [check] = jobs(app, "check_for_updates")
        assert check.queue == "fetch" and check.state == "succeeded" and len(check.result) == 8
        fetched = jobs(app, "conveyor.sync", queue="fetch")
        assert sorted(j.id for j in fetched) == sorted(check.result)
        assert {j.worker_id for j in fetched} == {pools["fetch"].worker_id}
        assert {j.state for j in fetched} == {"succeeded"}
        assert any(status == 429 for _, status, _ in bank.requests)
        latest = [q for path, _, q in bank.requests if path == "/transactions"][-2:]
        assert all("since" in q and "before" not in q for q in latest)  # incremental
        # Exactly one processing job per change: only the 3 new transactions were processed.
        assert len(jobs(app, "process_transaction")) == 83
        # A retried dispatcher stores no second fetch (the same idempotency keys).
        orders = [SyncOrder("bank_pots", "alice", idempotency_key=f"updates:{check.id}:pots:alice")]
        assert fan_out(app, orders)[0] in check.result
        # Tokens expired (2 s) and were refreshed, each refresh rotating the refresh token.
        assert bank.refreshes >= 1
        assert all(bank.live_refresh_tokens(user) == 1 for user in USERS)

        # The signed health webhook, split at intake into workout and metric jobs.
        sender = HealthSender()
        hook = f"{web}/hooks/health"
        status, body = sender.send(hook, health_items("alice"), event_id="msg_1")
        assert status == 202 and len(body["jobs"]) == 3
        split = sorted((app.get_job(i).task, app.get_job(i).queue) for i in body["jobs"])
        assert split == [
            ("process_metric", "webhook"),
            ("process_metric", "webhook"),
            ("process_workout", "webhook"),
        ]
        again = sender.send(hook, health_items("alice"), event_id="msg_1")
        assert again[0] == 200 and again[1]["duplicate"] and again[1]["jobs"] == body["jobs"]
        assert sender.send(hook, health_items("bob"), forge=True)[0] == 401
        bad = [{**health_items("bob")[0], "minutes": -5}]
        assert sender.send(hook, bad)[0] == 422
        assert len(jobs(app, "process_workout")) == 1  # nothing stored for the refused event
        wait_for(lambda: len(ledger.rows("metric")) == 2 and settled(app), 10, "hooks")
        assert ledger.rows("workout")["w-alice-1"]["data"]["minutes"] == 31.5
        assert {j.worker_id for j in jobs(app, "process_metric")} == {pools["webhook"].worker_id}

        # An outage: every fetch dies after its two attempts; processing goes on meanwhile.
        bank.outage = True
        clock.advance(15 * 60)
        wait_for(lambda: len(app.list_jobs(state="dead")) == 8, 20, "dead fetches")
        status, body = sender.send(hook, health_items("bob"), event_id="msg_2")
        wait_for(lambda: bool(ledger.rows("workout", "bob")), 10, "a webhook in the outage")
        dead = app.list_jobs(state="dead")
        assert {j.task for j in dead} == {"conveyor.sync"} and all(j.attempts == 2 for j in dead)
        assert "500" in (dead[0].last_error or "")
        listed = CliRunner(env={"CONVEYOR_APP": None, "CONVEYOR_DATABASE_URL": None}).invoke(
            cli,
            [
                "--app",
                "examples.integrations.integration:app",
                "--database-url",
                database_url,
                "jobs",
                "list",
                "--state",
                "dead",
                "--json",
            ],
        )
        assert listed.exit_code == 0, listed.output
        rows = [json.loads(line) for line in listed.stdout.splitlines()]  # JSON lines
        assert sorted(row["id"] for row in rows) == sorted(j.id for j in dead)

        # Retry all: the operator API's POST /api/jobs/retry with a filter.
        bank.outage = False
        bank.add_transactions("bob", 2)
        assert sorted(retry_all(app, web)) == sorted(j.id for j in dead)
        wait_for(lambda: settled(app) and len(ledger.rows("transaction")) == 85, 20, "retried")
        assert app.list_jobs(state="dead") == []
        assert len(jobs(app, "process_transaction")) == 85  # none processed twice
        assert {r["writes"] for r in ledger.rows("transaction").values()} == {1}

        # Idempotent processing: the same processing job run again leaves one row.
        job = jobs(app, "process_transaction")[0]
        app.enqueue("process_transaction", job.payload)
        wait_for(lambda: settled(app), 10, "rerun")
        assert len(ledger.rows("transaction")) == 85
        assert ledger.rows("transaction")[job.payload["id"]]["writes"] == 2


def test_the_bank_checks_tokens_and_input(bank: BankApi) -> None:
    def get(path: str, token: str = "") -> tuple[int, dict[str, Any]]:
        request = urllib.request.Request(
            f"{bank.url}{path}", headers={"Authorization": f"Bearer {token}"}
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as answer:
                return answer.status, json.loads(answer.read())
        except urllib.error.HTTPError as error:
            with error:
                return error.code, json.loads(error.read())

    assert get("/accounts") == (401, {"error": "invalid_token", "message": "expired or unknown"})
    basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    refused = urllib.request.Request(
        f"{bank.url}/oauth/token",
        data=b"grant_type=refresh_token&refresh_token=nope",
        headers={"Authorization": f"Basic {basic}"},
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(refused, timeout=5)
    with error.value:
        assert (
            error.value.code == 400 and json.loads(error.value.read())["error"] == "invalid_grant"
        )
    token = bank.grant("alice")
    assert get("/me", token) == (200, {"user_id": "alice", "name": "Alice"})
    assert get("/transactions?limit=500", token)[0] == 400
    assert "limit must be 1..100" in get("/transactions?limit=500", token)[1]["message"]
    assert "since must be an ISO 8601" in get("/transactions?since=yesterday", token)[1]["message"]
    page = get("/transactions?limit=15", token)[1]
    assert len(page["transactions"]) == 15 and page["next_cursor"] == "15"
    last = get("/transactions?limit=15&cursor=30", token)[1]
    assert len(last["transactions"]) == 10 and last["next_cursor"] is None
    bank.throttle = 1
    assert get("/me", token)[0] == 429
    bank.outage = True
    assert get("/me", token)[0] == 500
