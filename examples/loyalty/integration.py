"""The Magento -> Leat loyalty integration (000) on Conveyor.

One connection per store (`leat-<store>`), each with that store's personal access token and
shop id, 5 requests/s, a circuit breaker and the connection tester (`GET /company`, which
answers the company's name). The job types (`job_types.py`) are registered by code with 7
attempts, linear delays (at once, then 2 h ... 24 h) and the customer's ordering key, which
contact-create leads. The shop manager gets a mail when Leat cannot be reached, and the weekly
error digest; succeeded jobs are purged monthly.

    conveyor --app examples.loyalty.integration:app connections test leat-nl
    conveyor --app examples.loyalty.integration:app serve
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from conveyor import Bearer, Breaker, Conveyor, Linear

from .job_types import connection, register_types
from .remote import COMPANIES

HOUR = 3600.0
MANAGER = "manager@shop.test"
SHOP_TZ = "Europe/Amsterdam"


@dataclass(frozen=True)
class StoreCredentials:
    """A store's Leat credentials: the token (a literal or `env:NAME`) and its shop id."""

    token: str
    shop: str


def default_stores() -> dict[str, StoreCredentials]:
    """The stand-in's demo company, two stores; the environment may give real ones."""
    demo = COMPANIES[0]
    return {
        store: StoreCredentials(
            os.environ.get(f"LEAT_TOKEN_{store.upper()}", demo.token),
            os.environ.get(f"LEAT_SHOP_{store.upper()}", shop),
        )
        for store, shop in zip(("nl", "be"), demo.shops, strict=True)
    }


def make_app(
    database_url: str,
    remote_url: str,
    *,
    stores: dict[str, StoreCredentials] | None = None,
    hour: float = HOUR,
    rate_limit: str = "5/s",
    breaker: Breaker | None = None,
    smtp: str | None = None,
    manager: str = MANAGER,
) -> Conveyor:
    """`hour` is the length of an hour for the retry delays: the demo's fast clock shortens it."""
    app = Conveyor(database_url)
    for store, credentials in (stores or default_stores()).items():
        app.connection(
            connection(store),
            base_url=remote_url,
            auth=Bearer(credentials.token),
            headers={"X-Shop-Uuid": credentials.shop},
            rate_limit=rate_limit,
            breaker=breaker or Breaker(failures=5, cool_off=60),
            check="GET /company",
            identity="{name} ({id})",  # the company the token and shop id belong to
        )
    # 7 attempts: the first at once, then 2 h, 6.4 h, 10.8 h, 15.2 h, 19.6 h and 24 h after.
    register_types(app, Linear(first=2 * hour, last=24 * hour), max_attempts=7)
    if smtp:
        # Breaker opened ("leat-nl cannot be reached") and closed become mails; the weekly
        # digest of the errors kept on the jobs goes to the same address.
        app.alerts.email(smtp, "conveyor@shop.test", [manager])
        app.alerts.digest_when_empty = False  # the Monday mail only if errors were reported
    app.schedule("conveyor.digest", "0 10 * * MON", tz=SHOP_TZ)  # Monday 10:00, shop time
    app.schedule("conveyor.prune", "0 3 1 * *", tz=SHOP_TZ)  # the 1st of the month
    return app


app = make_app(
    os.environ.get("CONVEYOR_DATABASE_URL", "sqlite:///conveyor.db"),
    os.environ.get("LEAT_API_URL", "http://127.0.0.1:8000"),
    smtp=os.environ.get("LEAT_ALERT_SMTP"),
    manager=os.environ.get("LEAT_MANAGER_EMAIL", MANAGER),
)
