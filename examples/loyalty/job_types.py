"""The job types: one task per Leat API operation, registered by its type code.

What the Magento module did with `Type` classes and `RequestTypePool` in di.xml is a mapping
here: type code -> function (`JOB_TYPES`), registered on the app by `register_types`. Each
function is only the API call; the engine does the rest (ordering key, retries, rate limit,
breaker, errors kept per attempt). Controllers never enqueue these directly: the builder
services (`builders.py`) do.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, Field

from conveyor import Conveyor
from conveyor.connections import current_remote
from conveyor.retry import RetryPolicy

PREFIX = "leat."


class Customer(BaseModel):
    store: str  # which store's credentials (one connection per store: `leat-<store>`)
    customer_id: int


class ContactIn(Customer):
    email: str
    name: str | None = None


class ContactChange(Customer):
    email: str | None = None
    name: str | None = None


class CreditIn(Customer):
    credits: int
    reference: str  # the booking's own id: the remote books it once, however often sent


class OrderItem(BaseModel):
    sku: str
    price: float = Field(ge=0)
    quantity: int = Field(ge=1)


class OrderIn(Customer):
    order_id: int
    items: list[OrderItem]


class StoreIn(BaseModel):
    store: str


class RedeemIn(Customer):
    reward_id: int


def connection(store: str) -> str:
    return f"leat-{store}"


def customer_key(payload: dict[str, Any]) -> str:
    """The ordering key: one customer of one store, in the order the shop made the jobs."""
    return f"{payload['store']}:customer:{payload['customer_id']}"


async def contact_create(payload: ContactIn) -> Any:
    body = {"ref": str(payload.customer_id), "email": payload.email, "name": payload.name}
    response = await current_remote().request(
        connection(payload.store), "POST", "/contacts", json_body=body
    )
    return response.json()


async def contact_update(payload: ContactChange) -> Any:
    body = payload.model_dump(include={"email", "name"}, exclude_none=True)
    path = f"/contacts/{payload.customer_id}"
    response = await current_remote().request(
        connection(payload.store), "PATCH", path, json_body=body
    )
    return response.json()


async def credit_transaction(payload: CreditIn) -> Any:
    body = {"credits": payload.credits, "ref": payload.reference}
    response = await current_remote().request(
        connection(payload.store),
        "POST",
        f"/contacts/{payload.customer_id}/credits",
        json_body=body,
        idempotency_key=f"credit:{payload.store}:{payload.reference}",
    )
    return response.json()


async def order_item_transaction(payload: OrderIn) -> Any:
    body = {"ref": f"order-{payload.order_id}", "items": [i.model_dump() for i in payload.items]}
    response = await current_remote().request(
        connection(payload.store),
        "POST",
        f"/contacts/{payload.customer_id}/orders",
        json_body=body,
        idempotency_key=f"order:{payload.store}:{payload.order_id}",
    )
    return response.json()


async def list_rewards(payload: StoreIn) -> Any:
    response = await current_remote().request(connection(payload.store), "GET", "/rewards")
    return response.json()["data"]


async def redeem_reward(payload: RedeemIn) -> Any:
    response = await current_remote().request(
        connection(payload.store),
        "POST",
        f"/contacts/{payload.customer_id}/redeem",
        json_body={"reward_id": payload.reward_id},
    )
    return response.json()


# Type code -> (function, keyed by customer, leads the customer's key).
JOB_TYPES: dict[str, tuple[Callable[..., Any], bool, bool]] = {
    "contact_create": (contact_create, True, True),
    "contact_update": (contact_update, True, False),
    "credit_transaction": (credit_transaction, True, False),
    "order_item_transaction": (order_item_transaction, True, False),
    # Rewards: not keyed. A redeem refused (too few credits) is recorded dead, and a dead job
    # holds its key: keyed, it would stop every later job of that customer.
    "list_rewards": (list_rewards, False, False),
    "redeem_reward": (redeem_reward, False, False),
}


def register_types(app: Conveyor, retry: RetryPolicy, max_attempts: int = 7) -> None:
    """Register every job type on the app as the task `leat.<type code>`; a job for a store
    without credentials is refused at enqueue (UnknownConnection)."""

    def known_store(payload: Any) -> None:
        app.get_connection(connection(payload.store))

    for code, (function, keyed, leads) in JOB_TYPES.items():
        app.tasks.register(
            function,
            name=PREFIX + code,
            key=customer_key if keyed else None,
            leads_key=leads,
            max_attempts=max_attempts,
            retry=retry,
            timeout=30,
            check=known_store,
        )
