"""The builder services: what controllers, blocks and commands call, never the job types.

ContactBuilder and OrderBuilder store jobs (the worker sends them, in order per customer).
RewardBuilder answers at once: listing rewards runs without storing anything (`run_now`), a
redeem is stored for traceability and run at once (`run_now(persist=True)`); crediting is a job.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

from conveyor import Conveyor, Postponed

from .job_types import PREFIX

WAIT_FOR_TOKEN = 5.0  # how long an answer-now call waits for the rate limit before giving up


class ContactBuilder:
    def __init__(self, app: Conveyor) -> None:
        self.app = app

    def create(self, store: str, customer_id: int, email: str, name: str | None = None) -> int:
        """Leads its customer's key: the customer's other jobs wait until it succeeded."""
        payload = {"store": store, "customer_id": customer_id, "email": email, "name": name}
        return self.app.enqueue(
            PREFIX + "contact_create", payload, idempotency_key=f"contact:{store}:{customer_id}"
        )

    def update(self, store: str, customer_id: int, **changes: Any) -> int:
        payload = {"store": store, "customer_id": customer_id, **changes}
        return self.app.enqueue(PREFIX + "contact_update", payload)

    def mass_create(self, store: str, customers: Iterable[dict[str, Any]]) -> list[int]:
        """Many contact-creates in one transaction (`leat:mass:create-contact`)."""
        rows = [{"store": store, **customer} for customer in customers]
        keys = [f"contact:{store}:{row['customer_id']}" for row in rows]
        return self.app.enqueue_many(PREFIX + "contact_create", rows, idempotency_keys=keys)


class OrderBuilder:
    def __init__(self, app: Conveyor) -> None:
        self.app = app

    def order_placed(
        self, store: str, customer_id: int, order_id: int, items: Sequence[dict[str, Any]]
    ) -> int:
        payload = {
            "store": store,
            "customer_id": customer_id,
            "order_id": order_id,
            "items": list(items),
        }
        return self.app.enqueue(
            PREFIX + "order_item_transaction", payload, idempotency_key=f"order:{store}:{order_id}"
        )


class RewardBuilder:
    def __init__(self, app: Conveyor) -> None:
        self.app = app

    def credit(self, store: str, customer_id: int, credits: int, reference: str) -> int:
        payload = {
            "store": store,
            "customer_id": customer_id,
            "credits": credits,
            "reference": reference,
        }
        return self.app.enqueue(
            PREFIX + "credit_transaction", payload, idempotency_key=f"credit:{store}:{reference}"
        )

    def list_rewards(self, store: str) -> list[dict[str, Any]]:
        """Read-only: run at once, nothing stored."""
        rewards: list[dict[str, Any]] = self._now("list_rewards", {"store": store})
        return rewards

    def redeem(self, store: str, customer_id: int, reward_id: int) -> dict[str, Any]:
        """A write that needs its answer: stored as it ended (succeeded, or dead with the
        remote's 422), and run at once. Raises what the remote refused (PermanentStatus)."""
        payload = {"store": store, "customer_id": customer_id, "reward_id": reward_id}
        answer: dict[str, Any] = self._now("redeem_reward", payload, persist=True)
        return answer

    def _now(self, code: str, payload: dict[str, Any], persist: bool = False) -> Any:
        deadline = time.monotonic() + WAIT_FOR_TOKEN
        while True:  # the rate limit is shared with the queue: wait for a token, briefly
            try:
                return self.app.run_now(PREFIX + code, payload, persist=persist)
            except Postponed as postponed:
                if time.monotonic() + postponed.after > deadline:
                    raise
                time.sleep(postponed.after)
