"""Spark's integration jobs (write-up 001) on Conveyor: a bank pulled per user over OAuth, and a
signed health-data webhook, each kind of job on its own queue and worker pool.

- fetch:   `conveyor.sync` jobs of the four bank sources (accounts, pots, balances,
           transactions), dispatched by `check_for_updates` (a schedule); each page's changes
           fan out into processing jobs in the page's own transaction (`process=`).
- process: `process_account`, `process_pot`, `process_balance`, `process_transaction`: read the
           stored record, upsert it into the application's ledger.
- webhook: `process_workout`, `process_metric`: the health webhook's items, split at intake.
- init:    `initialise` (enqueued when a user connects the bank) and the historical syncs it
           dispatches: transactions since HISTORY_DAYS ago, 30 days at a time.

    conveyor --app examples.integrations.integration:app worker --queues fetch --scheduler
    conveyor --app examples.integrations.integration:app worker --queues process --concurrency 20
    conveyor --app examples.integrations.integration:app worker --queues webhook
    conveyor --app examples.integrations.integration:app worker --queues init --concurrency 2
    conveyor --app examples.integrations.integration:app serve --no-worker   # hooks, OAuth, API
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field

from conveyor import (
    Breaker,
    Conveyor,
    Cursor,
    Incremental,
    OAuth2AuthorizationCode,
    StandardWebhooks,
    current_job,
)
from conveyor.events import AccountAuthorized

from .ledger import Ledger
from .remote import CLIENT_ID, CLIENT_SECRET, COLLECTIONS, HEALTH_SECRET

QUEUES = ("fetch", "process", "webhook", "init")
HISTORY_DAYS = 180
KINDS = {"accounts": "account", "pots": "pot", "balances": "balance", "transactions": "transaction"}


class Workout(BaseModel):
    id: str
    user: str
    activity: str
    minutes: float = Field(gt=0)
    started: datetime


class Metric(BaseModel):
    user: str
    name: str
    value: float
    unit: str
    at: datetime


class Connected(BaseModel):
    owner: str


@dataclass(frozen=True)
class SyncOrder:
    """One fetch to dispatch: an owner's sync of one source."""

    source: str
    owner: str
    mode: Literal["incremental", "full", "since"] = "incremental"
    since: str | None = None
    queue: str | None = None  # None: the source's own (fetch)
    idempotency_key: str | None = field(default=None)


def fan_out(app: Conveyor, orders: Sequence[SyncOrder]) -> list[int]:
    """The one place a job enqueues further jobs (`check_for_updates`, `initialise`).

    Today the children are stored together, all or none, in a transaction of their own before
    the parent finishes: a crash in between leaves them stored and the parent retried, and
    their idempotency keys make the retry get the stored ones back instead of new ones. With
    `current_job().enqueue(...)` the children would commit with the parent's completion
    instead; this function is where to switch."""
    jobs = [
        app.sources.sync_job(
            o.source,
            o.owner,
            mode=o.mode,
            since=o.since,
            queue=o.queue,
            idempotency_key=o.idempotency_key,
        )
        for o in orders
    ]
    return app.tasks.store_jobs(jobs)


class SparkApp(Conveyor):
    """The app, with the application's own ledger beside Conveyor's tables."""

    def __init__(self, database_url: str) -> None:
        super().__init__(database_url)
        self.ledger = Ledger(lambda: self.database_url)


def make_app(
    database_url: str, bank_url: str, *, retry_after: float = 60.0, per_page: int = 50
) -> SparkApp:
    app = SparkApp(database_url)
    ledger = app.ledger
    app.connection(
        "bank",
        base_url=bank_url,
        auth=OAuth2AuthorizationCode(
            authorize_url=f"{bank_url}/oauth/authorize",
            token_url=f"{bank_url}/oauth/token",
            client_id=os.environ.get("BANK_CLIENT_ID", CLIENT_ID),
            client_secret=os.environ.get("BANK_CLIENT_SECRET", CLIENT_SECRET),
            scopes=["read"],
        ),
        check="GET /me",
        identity="name",
        rate_limit="50/s",
        # A short outage costs a fetch its two attempts (dead: `jobs retry --dead`); a long one
        # opens the breaker, which holds every fetch without using attempts.
        breaker=Breaker(failures=25, cool_off=5),
    )

    # -- process: one job per created or updated record, on the process pool ---------------

    def processor(collection: str) -> Any:
        def process(change: dict[str, Any]) -> None:
            record = app.record(change["source"], change["owner"], change["id"])
            if record is not None:  # None: the record was deleted since (nothing to do)
                ledger.put(KINDS[collection], change["owner"], change["id"], record.data)

        process.__doc__ = f"Upsert one of an owner's {collection} into the ledger."
        return process

    for collection in COLLECTIONS:
        app.task(name=f"process_{KINDS[collection]}", queue="process")(processor(collection))
        incremental = None
        if collection == "transactions":  # new ones since the newest seen; history by window
            incremental = Incremental(
                field="created", param="since", until_param="before", window="30d"
            )
        app.source(
            f"bank_{collection}",
            connection="bank",
            path=f"/{collection}",
            items=collection,
            paginate=Cursor(next="next_cursor", param="cursor", size="limit", per_page=per_page),
            incremental=incremental,
            process=f"process_{KINDS[collection]}",
            queue="fetch",
            owner_credentials=True,
            max_attempts=2,
            retry_after=retry_after,
            page_retries=1,
        )

    # -- webhook: the health sender's events, split at intake into workouts and metrics ------

    @app.task(queue="webhook")
    def process_workout(workout: Workout) -> None:
        ledger.put("workout", workout.user, workout.id, workout.model_dump(mode="json"))

    @app.task(queue="webhook")
    def process_metric(metric: Metric) -> None:
        item_id = f"{metric.user}:{metric.name}:{metric.at.isoformat()}"
        ledger.put("metric", metric.user, item_id, metric.model_dump(mode="json"))

    app.webhook(
        "health",
        verify=StandardWebhooks(os.environ.get("HEALTH_WEBHOOK_SECRET", HEALTH_SECRET)),
        split="$.data",
        route=("type", {"workout": process_workout, "metric": process_metric}),
    )

    # -- init: a user's history, once, when they connect the bank ---------------------------

    @app.task(queue="init")
    def initialise(user: Connected) -> list[int]:
        since = (datetime.now(UTC) - timedelta(days=HISTORY_DAYS)).date().isoformat()
        orders = [SyncOrder(f"bank_{c}", user.owner, "full", queue="init") for c in COLLECTIONS[:3]]
        orders.append(SyncOrder("bank_transactions", user.owner, "since", since, "init"))
        return fan_out(app, orders)

    def connected(event: AccountAuthorized) -> None:
        if event.connection == "bank":
            initialise.enqueue({"owner": event.owner}, idempotency_key=f"init:{event.owner}")

    app.events.subscribe(connected, AccountAuthorized)

    # -- fetch: the periodic check for updates dispatches every user's fetches --------------

    @app.task(queue="fetch")
    def check_for_updates(payload: dict[str, Any] | None = None) -> list[int]:
        job = current_job()
        stored = job is not None and job.id > 0  # not app.run_now(...), which stores no job
        users = [a.owner for a in app.list_accounts("bank") if a.state == "active"]
        orders = [
            # The same keys if this job is retried: the fetches it stored already come back.
            SyncOrder(f"bank_{c}", user, idempotency_key=f"updates:{job.id}:{c}:{user}")
            if stored and job is not None
            else SyncOrder(f"bank_{c}", user)
            for user in users
            for c in COLLECTIONS
        ]
        return fan_out(app, orders)

    app.schedule("check-for-updates", "*/15 * * * *", check_for_updates)
    return app


app = make_app(
    os.environ.get("CONVEYOR_DATABASE_URL", "sqlite:///conveyor.db"),
    os.environ.get("BANK_API_URL", "http://127.0.0.1:8001"),
)
