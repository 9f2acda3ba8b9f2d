"""PostgreSQL, the inbound slice: an event and its jobs in one transaction.

Two requests with one event id at once: the second's `INSERT ... ON CONFLICT DO NOTHING` waits
for the first's transaction, then finds the row and stores nothing (or, if the first rolled
back, stores its own): exactly one delivery's jobs exist.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ...inbound.records import NewEvent, ReceivedEvent
from ...job import NewJob
from ..inbound import event_from_row
from .jobs import PostgresJobs


class PostgresInbound(PostgresJobs):
    def receive_event(self, event: NewEvent, jobs: Sequence[NewJob]) -> tuple[bool, list[int]]:
        q = self._q
        params = {
            "webhook": event.webhook,
            "event_id": event.event_id,
            "headers": json.dumps(event.headers),
            "body": event.body,
        }
        with self._tx() as cur:
            row = cur.execute(q["inbound_insert"], params).fetchone()
            if row is None:
                known = cur.execute(q["inbound_known_jobs"], params).fetchone()
                return False, [] if known is None else [int(i) for i in known[0]]
            ids = self._enqueue_with(cur, jobs) if jobs else []
            if ids:
                cur.execute(q["inbound_set_jobs"], {"id": row[0], "job_ids": ids})
        return True, ids

    def _event(self, row: Any) -> ReceivedEvent:
        return event_from_row(row)
