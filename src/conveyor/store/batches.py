"""The batches slice: a group of jobs counted by state, and the one callback job enqueued when its
last member reaches a final state. SQL: `sql/<dialect>/batches.sql`; tests:
`tests/store/test_batches.py`.

A batch finishes in the transaction that writes its last member's final state (a worker's
completion, an operator's cancel or delete, a lost lease's burial): that transaction locks the
batch row (PostgreSQL), looks for an unfinished member, and finishes the row with a conditional
UPDATE that also yields the callback, so the callback is enqueued exactly once however many
workers finish members at once. The callback job also carries the idempotency key
`batch:<id>:callback`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..job import NewJob, Outcome

BATCH_STATES = ("running", "succeeded", "failed")
ProgressRow = tuple[int, int, int, int | None]  # job id, lease token, done, total


@dataclass(frozen=True, slots=True)
class NewBatch:
    """A batch about to be stored. `callback_options`: {task: {queue, max_attempts, priority}}
    for each callback task, resolved from the app's tasks when the batch is made."""

    name: str | None = None
    on_complete: str | None = None
    on_failure: str | None = None
    payload: str | None = None  # JSON text, given to the callback
    callback_options: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class BatchRecord:
    """A stored batch with its members counted by job state (`counts`)."""

    id: int
    name: str | None
    state: str
    on_complete: str | None
    on_failure: str | None
    payload: Any
    callback_job_id: int | None
    created_at: datetime | None
    finished_at: datetime | None
    counts: dict[str, int]


class BatchStore:
    def create_batch(
        self, batch: NewBatch, jobs: Sequence[NewJob], connection: Any = None
    ) -> tuple[int, list[int]]:
        """Store a batch and its members in one transaction: (batch id, job ids); with
        `connection` (the caller's own), in the caller's transaction."""
        raise NotImplementedError

    def get_batch(self, batch_id: int) -> BatchRecord | None:
        raise NotImplementedError

    def list_batches(
        self, limit: int = 50, before_id: int | None = None, state: str | None = None
    ) -> list[BatchRecord]:
        """Newest first; `before_id`: the page after the one that ended there (keyset)."""
        raise NotImplementedError

    def record_progress(self, rows: Sequence[tuple[int, int, int, int | None]]) -> None:
        """(job id, lease token, done, total) of running jobs; a lost lease writes nothing."""
        raise NotImplementedError


def callback_job(row: Sequence[Any]) -> NewJob | None:
    """The callback of a batch row just finished (`batch_finish`): `on_failure` when a member
    died and it is set, else `on_complete`; None when there is none to run."""
    batch_id, name, state, on_complete, on_failure, payload, options = tuple(row)[:7]
    task = on_failure if state == "failed" and on_failure else on_complete
    if task is None:
        return None
    resolved = _json(options) or {}
    spec = resolved.get(task, {})
    body = {"batch_id": batch_id, "name": name, "state": state, "payload": _json(payload)}
    return NewJob(
        task=task,
        queue=str(spec.get("queue", "default")),
        payload=json.dumps(body, separators=(",", ":")),
        max_attempts=int(spec.get("max_attempts", 5)),
        priority=int(spec.get("priority", 0)),
        idempotency_key=f"batch:{batch_id}:callback",
    )


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else value


def with_lineage(children: Sequence[NewJob], parent_id: int, batch_id: int | None) -> list[NewJob]:
    """A parent's children as stored: their parent, and the parent's batch (they join it)."""
    for child in children:
        child.parent_id = parent_id
        child.batch_id = batch_id
    return list(children)


def progress_rows(outcomes: Sequence[Outcome]) -> list[tuple[int, int, int, int | None]]:
    """The last progress of these attempts that was not written yet, for `job_progress`."""
    return [
        (o.job_id, o.token, *o.extra.progress)
        for o in outcomes
        if o.extra is not None and o.extra.progress is not None
    ]
