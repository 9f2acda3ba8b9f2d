"""SQLite, the inbound slice: an event and its jobs in one `BEGIN IMMEDIATE` transaction."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from ...inbound.records import NewEvent, ReceivedEvent
from ...job import NewJob, utc
from ..inbound import event_from_row
from .jobs import SQLiteJobs


class SQLiteInbound(SQLiteJobs):
    def receive_event(self, event: NewEvent, jobs: Sequence[NewJob]) -> tuple[bool, list[int]]:
        q = self._q
        params = {
            "webhook": event.webhook,
            "event_id": event.event_id,
            "now": time.time(),
            "headers": json.dumps(event.headers),
            "body": event.body,
        }
        with self._write() as cur:
            row = cur.execute(q["inbound_insert"], params).fetchone()
            if row is None:
                known = cur.execute(q["inbound_known_jobs"], params).fetchone()
                return False, [] if known is None else [int(i) for i in json.loads(known[0])]
            ids = self._enqueue_with(cur, jobs) if jobs else []
            if ids:
                cur.execute(q["inbound_set_jobs"], {"id": row[0], "job_ids": json.dumps(ids)})
        return True, ids

    def _event(self, row: Any) -> ReceivedEvent:
        return event_from_row(row, utc, json_text=True)
