"""The registry's seams, with the real store behind a Protocol-shaped wrapper: a batch the store
refuses is retried event by event, so one event the database refuses fails only its request."""

from __future__ import annotations

import json
from collections.abc import Sequence

from conveyor import Conveyor, StandardWebhooks
from conveyor.errors import StoreError, WebhookRejected
from conveyor.events import WebhookReceived, WebhookRefused
from conveyor.inbound import NewEvent, Receipt, WebhookRegistry
from conveyor.job import NewJob
from tests.inbound.test_verify import NOW, SECRET, signed


class Refusing:
    """The real store, except that any batch holding the event id `poison` fails."""

    def __init__(self, app: Conveyor) -> None:
        self.app = app
        self.batches: list[int] = []

    def receive_events(
        self, batch: Sequence[tuple[NewEvent, Sequence[NewJob]]]
    ) -> list[tuple[bool, list[int]]]:
        self.batches.append(len(batch))
        if any(event.event_id == "poison" for event, _ in batch):
            raise StoreError("refused")
        return self.app.store.receive_events(batch)


def test_one_refused_event_fails_only_its_own_request(app: Conveyor) -> None:
    @app.task
    def record(payload: dict) -> None: ...

    store = Refusing(app)
    seen: list[object] = []
    app.events.subscribe(seen.append, WebhookReceived, WebhookRefused)
    registry = WebhookRegistry(app.tasks, lambda: store, app.events)
    registry.declare("h", verify=StandardWebhooks(SECRET), task="record")
    body = json.dumps({"n": 1}).encode()
    requests = [("h", signed(body, msg_id=i), body) for i in ("a", "poison", "b")]
    requests.append(("h", {}, body))  # unsigned
    results = registry.receive_many(requests, now=NOW)
    assert [type(r).__name__ for r in results] == [
        "Receipt",
        "StoreError",
        "Receipt",
        "WebhookRejected",
    ]
    assert store.batches == [3, 1, 1, 1]  # the batch, then each of its events alone
    receipts = [r for r in results if isinstance(r, Receipt)]
    assert [r.event_id for r in receipts] == ["a", "b"]
    assert all(len(r.job_ids) == 1 and not r.duplicate for r in receipts)
    assert isinstance(results[3], WebhookRejected) and results[3].status == 401
    assert [type(e).__name__ for e in seen] == [
        "WebhookRefused",  # the unsigned one, refused before anything is stored
        "WebhookReceived",
        "WebhookReceived",
    ]
    assert {e.event_id for e in app.store.list_events()} == {"a", "b"}
