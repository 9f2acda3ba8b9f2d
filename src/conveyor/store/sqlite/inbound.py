"""SQLite, the inbound slice: events and their jobs in one `BEGIN IMMEDIATE` transaction, one
event after the other (each statement is microseconds in process)."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Sequence
from typing import Any

from ...inbound.records import NewEvent, ReceivedEvent
from ...job import NewJob, utc
from ..inbound import Received, event_from_row
from .jobs import SQLiteJobs


class SQLiteInbound(SQLiteJobs):
    def receive_events(self, batch: Sequence[Received]) -> list[tuple[bool, list[int]]]:
        now = time.time()
        with self._write() as cur:
            return [self._receive(cur, event, jobs, now) for event, jobs in batch]

    def _receive(
        self, cur: sqlite3.Cursor, event: NewEvent, jobs: Sequence[NewJob], now: float
    ) -> tuple[bool, list[int]]:
        q = self._q
        params = {
            "webhook": event.webhook,
            "event_id": event.event_id,
            "now": now,
            "headers": json.dumps(event.headers),
            "body": event.body,
        }
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
