"""The inbound slice: received webhook events, stored with their jobs in one transaction.

Its SQL is `sql/<dialect>/inbound.sql`; its contract tests `tests/store/test_inbound.py`. The
event and the jobs it splits into are written together or not at all: a crash between the two
would either lose the jobs of an event the sender was told was received (it will not resend),
or run jobs of an event whose dedupe record is missing (a resend would run them twice).
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

from ..inbound.records import NewEvent, ReceivedEvent
from ..job import NewJob
from .common import When, as_stored

Received = tuple[NewEvent, Sequence[NewJob]]  # an event and the jobs it splits into


class InboundStore(ABC):
    def receive_event(self, event: NewEvent, jobs: Sequence[NewJob]) -> tuple[bool, list[int]]:
        """Store the event and enqueue its jobs in one transaction: (True, new job ids). An
        event id the webhook already has stores nothing: (False, the job ids stored with it
        the first time). Two requests with one id at once: exactly one stores."""
        return self.receive_events([(event, jobs)])[0]

    @abstractmethod
    def receive_events(self, batch: Sequence[Received]) -> list[tuple[bool, list[int]]]:
        """`receive_event` for many events in one transaction (all or none), in order: an
        event id given twice in the batch is stored once, the later one a duplicate. One
        commit for many requests at once is what lets the intake keep up (group commit)."""

    @abstractmethod
    def get_event(self, webhook: str, event_id: str) -> ReceivedEvent | None: ...

    @abstractmethod
    def list_events(self, webhook: str | None = None, limit: int = 50) -> list[ReceivedEvent]:
        """Newest first."""


def event_from_row(row: Any, when: When = as_stored, json_text: bool = False) -> ReceivedEvent:
    """A `conveyor_inbound_events` row. SQLite: `when=utc, json_text=True`."""
    headers, job_ids = row["headers"], row["job_ids"]
    if json_text:
        headers, job_ids = json.loads(headers), json.loads(job_ids)
    return ReceivedEvent(
        id=int(row["id"]),
        webhook=row["webhook"],
        event_id=row["event_id"],
        received_at=when(row["received_at"]),
        headers=dict(headers),
        body=bytes(row["body"]),
        job_ids=[int(job_id) for job_id in job_ids],
    )
