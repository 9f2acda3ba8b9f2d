"""Zuora workflows → local records, per customer (004), on Conveyor.

One source declares the whole sync: the paginated listing (`page`, `page_length`, `hasMore`),
each new or changed workflow's export downloaded, upserted, its tasks extracted as child
records, workflows Zuora no longer has marked deleted after a complete scan, and the stats of
every run stored. The OAuth token (client credentials) is cached for its lifetime by the
connection; each customer's access is checked before its sync (`check_owner`); a failed sync is
tried 3 times, 60 s apart; an hourly schedule syncs every customer.

    conveyor --app examples.workflows.integration:app sync workflows --owner acme --now
    conveyor --app examples.workflows.integration:app sync workflows --all
    conveyor --app examples.workflows.integration:app records reextract workflows
    conveyor --app examples.workflows.integration:app serve
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import structlog

from conveyor import Children, Conveyor, OAuth2ClientCredentials, PageNumber

from .remote import CLIENT_ID, CLIENT_SECRET

CUSTOMERS = ("acme", "globex", "initech")  # the application's customers table, in short
SYNC_ALL = "workflows.sync_all_customers"
SYNC_DONE = "workflows.all_customers_synced"
log = structlog.get_logger("examples.workflows")


def make_app(database_url: str, remote_url: str, customers: Sequence[str] = CUSTOMERS) -> Conveyor:
    app = Conveyor(database_url)
    app.connection(
        "zuora",
        base_url=remote_url,
        auth=OAuth2ClientCredentials(
            f"{remote_url}/oauth/token",
            os.environ.get("ZUORA_CLIENT_ID", CLIENT_ID),
            os.environ.get("ZUORA_CLIENT_SECRET", CLIENT_SECRET),
        ),
        rate_limit="50/s",
        check="GET /me",
    )
    app.source(
        "workflows",
        connection="zuora",
        path="/workflows",
        items="data",
        paginate=PageNumber(page="page", size="page_length", per_page=50, has_more="hasMore"),
        detail="/workflows/{id}/export",  # the full JSON, kept: tasks re-extract from it
        children={"tasks": Children("tasks", id="id")},
        owner_param="customer",
        owners=lambda: list(customers),
        check_owner=True,  # the customer's access, checked before the first page
        page_retries=1,  # one 429/503 waited out in place, then the job's own tries:
        max_attempts=3,  # 3 tries,
        retry_after=60,  # 60 s apart
    )

    @app.task(name=SYNC_ALL)
    def sync_all_customers(payload: object = None) -> int:
        """ "Sync all customers": one batch of keyed sync jobs, one per customer, whose
        progress (done / failed / total) the dashboard, the API and the CLI show."""
        jobs = [app.sources.sync_job("workflows", customer) for customer in customers]
        return app.batch(jobs, name="sync all customers", on_complete=SYNC_DONE).id

    @app.task(name=SYNC_DONE)
    def all_customers_synced(payload: dict[str, object]) -> None:
        """The batch's callback, once every customer's sync is final."""
        log.info("workflows.synced_all", batch=payload["batch_id"], state=payload["state"])

    app.schedule("sync-workflows", "0 * * * *", SYNC_ALL)  # hourly
    return app


app = make_app(
    os.environ.get("CONVEYOR_DATABASE_URL", "sqlite:///conveyor.db"),
    os.environ.get("ZUORA_API_URL", "http://127.0.0.1:8004"),
)
