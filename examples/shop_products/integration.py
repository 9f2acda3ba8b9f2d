"""The shop → products API integration (003) on Conveyor.

The shop's product-created hook validates the payload and enqueues a delivery: it returns
before any remote call. The engine does the rest: bearer token, `Idempotency-Key`, HMAC
signature, retries with jittered backoff honouring `Retry-After`, the circuit breaker,
bundling, and the dead-letter queue (`conveyor jobs list --state dead`, `jobs retry`).

    conveyor --app examples.shop_products.integration:app serve
"""

from __future__ import annotations

import os

from pydantic import BaseModel, Field, StrictInt

from conveyor import Bearer, Breaker, Bundle, Conveyor

from .remote import SIGNING_SECRET, TOKEN

SCHEMA_VERSION = 1


class ProductPayload(BaseModel):
    """What the products API gets: validated in the shop, with a schema version."""

    version: int = SCHEMA_VERSION
    id: StrictInt
    name: str
    price: float
    stock: int = Field(ge=0)


def make_app(database_url: str, remote_url: str) -> Conveyor:
    app = Conveyor(database_url)
    app.connection(
        "products",
        base_url=remote_url,
        auth=Bearer(os.environ.get("PRODUCTS_TOKEN", TOKEN)),
        signing_secret=os.environ.get("PRODUCTS_SIGNING_SECRET", SIGNING_SECRET),
        breaker=Breaker(failures=3, cool_off=1),
        bundle=Bundle(max_size=10, max_wait=0.05),
        check="GET /",
    )
    return app


def product_created(app: Conveyor, product: dict[str, object]) -> int:
    """The hook (PrestaShop's actionObjectProductAddAfter): validate, enqueue, return."""
    payload = ProductPayload.model_validate(product)
    return app.deliver(
        "products",
        "/products",
        payload.model_dump(),
        idempotency_key=f"product:{payload.id}:v{payload.version}",
    )


app = make_app(
    os.environ.get("CONVEYOR_DATABASE_URL", "sqlite:///conveyor.db"),
    os.environ.get("PRODUCTS_API_URL", "http://127.0.0.1:8003"),
)
