"""A small application for the CLI tests: `conveyor --app cli_app:app ...` (from tests/)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from conveyor import Conveyor

app = Conveyor()  # the tests always pass --database-url

not_an_app = "just a string"


class Order(BaseModel):
    customer_id: int
    amount_cents: int = Field(ge=0)


@app.task(key=lambda order: f"customer:{order['customer_id']}")
def record_order(order: Order) -> dict[str, int]:
    return {"customer_id": order.customer_id, "points": order.amount_cents // 100}


@app.task(max_attempts=1)
def always_fails(payload: dict[str, Any]) -> None:
    raise RuntimeError(f"boom: {payload.get('why', 'no reason')}")


@app.task(queue="other")
def ping() -> str:
    return "pong"


app.schedule("hourly-report", "0 * * * *", "ping")
