"""PostgreSQL, the inbound slice: a batch of events and their jobs in one transaction, in a
fixed number of round trips whatever its size: insert the events (taking their jobs' ids from
the sequence in the same statement), enqueue every new event's jobs at once, and read the known
events' job ids when there are any.

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
from ..inbound import Received, event_from_row
from .jobs import PostgresJobs


class PostgresInbound(PostgresJobs):
    def receive_events(self, batch: Sequence[Received]) -> list[tuple[bool, list[int]]]:
        q = self._q
        events = [event for event, _ in batch]
        counts = [len(jobs) for _, jobs in batch]
        starts = [sum(counts[:n]) for n in range(len(counts))]
        params = {
            "webhooks": [e.webhook for e in events],
            "event_ids": [e.event_id for e in events],
            "headers": [json.dumps(e.headers) for e in events],
            "bodies": [e.body for e in events],
            "starts": starts,
            "counts": counts,
            "total": sum(counts),
        }
        with self._tx() as cur:
            # The first of the batch with an id is inserted; later ones conflict with it.
            rows = cur.execute(q["inbound_insert_many"], params).fetchall()
            new = {(w, e): (int(row_id), [int(i) for i in ids]) for row_id, w, e, ids in rows}
            stored: list[int] = []  # indexes of the batch stored now
            job_ids: dict[tuple[str, str], list[int]] = {}
            for index, event in enumerate(events):
                key = (event.webhook, event.event_id)
                if key in new and key not in job_ids:
                    job_ids[key] = new[key][1]
                    stored.append(index)
            jobs: list[NewJob] = [job for index in stored for job in batch[index][1]]
            taken = [job_id for index in stored for job_id in job_ids[_key(events[index])]]
            ids = self._enqueue_with(cur, jobs, taken) if jobs else []
            if ids != taken:  # idempotency keys of known jobs: the ids are theirs
                updates, offset = [], 0
                for index in stored:
                    key = _key(events[index])
                    job_ids[key] = ids[offset : offset + counts[index]]
                    offset += counts[index]
                    updates.append({"id": new[key][0], "job_ids": job_ids[key]})
                cur.execute(q["inbound_set_jobs_many"], {"rows": json.dumps(updates)})
            known = [e for e in events if _key(e) not in job_ids]
            if known:
                lookup = {
                    "webhooks": [e.webhook for e in known],
                    "event_ids": [e.event_id for e in known],
                }
                for webhook, event_id, found in cur.execute(q["inbound_known_many"], lookup):
                    job_ids.setdefault((webhook, event_id), [int(i) for i in found])
        stored_now = set(stored)
        return [(n in stored_now, job_ids.get(_key(e), [])) for n, e in enumerate(events)]

    def _event(self, row: Any) -> ReceivedEvent:
        return event_from_row(row)


def _key(event: NewEvent) -> tuple[str, str]:
    return (event.webhook, event.event_id)
