"""PostgreSQL, the inbound slice: a batch of events and their jobs in one transaction, in a
fixed number of round trips whatever its size (insert the events, enqueue every new event's
jobs at once, record the job ids, read the known events' ids).

Two requests with one event id at once: the second's `INSERT ... ON CONFLICT DO NOTHING` waits
for the first's transaction, then finds the row and stores nothing (or, if the first rolled
back, stores its own): exactly one delivery's jobs exist.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ...inbound.records import ReceivedEvent
from ...job import NewJob
from ..inbound import Received, event_from_row
from .jobs import PostgresJobs


class PostgresInbound(PostgresJobs):
    def receive_events(self, batch: Sequence[Received]) -> list[tuple[bool, list[int]]]:
        q = self._q
        events = [event for event, _ in batch]
        params = {
            "webhooks": [e.webhook for e in events],
            "event_ids": [e.event_id for e in events],
            "headers": [json.dumps(e.headers) for e in events],
            "bodies": [e.body for e in events],
        }
        with self._tx() as cur:
            # The first of the batch with an id is inserted; later ones conflict with it.
            rows = cur.execute(q["inbound_insert_many"], params).fetchall()
            new = {(webhook, event_id): int(row_id) for row_id, webhook, event_id in rows}
            first: dict[tuple[str, str], int] = {}
            stored: list[int] = []  # indexes of the batch stored now
            for index, event in enumerate(events):
                key = (event.webhook, event.event_id)
                if key in new and key not in first:
                    first[key] = index
                    stored.append(index)
            jobs: list[NewJob] = [job for index in stored for job in batch[index][1]]
            ids = self._enqueue_with(cur, jobs) if jobs else []
            job_ids: dict[tuple[str, str], list[int]] = {}
            taken = 0
            for index in stored:
                count = len(batch[index][1])
                job_ids[(events[index].webhook, events[index].event_id)] = ids[
                    taken : taken + count
                ]
                taken += count
            updates = [
                {"id": new[key], "job_ids": value} for key, value in job_ids.items() if value
            ]
            if updates:
                cur.execute(q["inbound_set_jobs_many"], {"rows": json.dumps(updates)})
            known = [e for n, e in enumerate(events) if (e.webhook, e.event_id) not in job_ids]
            if known:
                lookup = {
                    "webhooks": [e.webhook for e in known],
                    "event_ids": [e.event_id for e in known],
                }
                for webhook, event_id, found in cur.execute(q["inbound_known_many"], lookup):
                    job_ids.setdefault((webhook, event_id), [int(i) for i in found])
        stored_now = set(stored)
        return [
            (n in stored_now, job_ids.get((e.webhook, e.event_id), []))
            for n, e in enumerate(events)
        ]

    def _event(self, row: Any) -> ReceivedEvent:
        return event_from_row(row)
