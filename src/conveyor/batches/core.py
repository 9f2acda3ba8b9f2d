"""Batches as operators see them, and the ways a batch's jobs may be written (pure: no I/O).

A batch is `running` until every member (and every child a member enqueued) is final; it then
ends `failed` if any member died, else `succeeded` (cancelled members count as finished), and
one callback job runs: `on_failure` for a failed batch if it was given, else `on_complete`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from ..errors import ConfigurationError
from ..job import NewJob
from ..store.batches import BatchRecord

# A member as given to `app.batch([...])`: a task (no payload), (task, payload),
# (task, payload, {options}), or a job already built with `app.build_job(task, payload, ...)`.
JobSpec = Any
Build = Callable[..., NewJob]


@dataclass(frozen=True, slots=True)
class BatchView:
    """A batch with its progress: `done` succeeded, `failed` dead, `cancelled`, `pending` the
    members not final yet, of `total` (children of members included)."""

    id: int
    name: str | None
    state: str
    total: int
    done: int
    failed: int
    cancelled: int
    pending: int
    on_complete: str | None
    on_failure: str | None
    callback_job_id: int | None
    payload: Any
    created_at: datetime | None
    finished_at: datetime | None

    @property
    def progress(self) -> float:
        """The share of members that are final, 0.0 to 1.0."""
        return (self.total - self.pending) / self.total if self.total else 1.0

    def counts(self) -> dict[str, int]:
        return {
            "total": self.total,
            "done": self.done,
            "failed": self.failed,
            "cancelled": self.cancelled,
            "pending": self.pending,
        }

    def to_dict(self) -> dict[str, Any]:
        def iso(value: datetime | None) -> str | None:
            return value.isoformat() if value else None

        return {
            "id": self.id,
            "name": self.name,
            "state": self.state,
            "counts": self.counts(),
            "progress": round(self.progress, 4),
            "on_complete": self.on_complete,
            "on_failure": self.on_failure,
            "callback_job_id": self.callback_job_id,
            "payload": self.payload,
            "created_at": iso(self.created_at),
            "finished_at": iso(self.finished_at),
        }


def view(record: BatchRecord) -> BatchView:
    counts = record.counts
    total = sum(counts.values())
    done, failed = counts.get("succeeded", 0), counts.get("dead", 0)
    cancelled = counts.get("cancelled", 0)
    return BatchView(
        id=record.id,
        name=record.name,
        state=record.state,
        total=total,
        done=done,
        failed=failed,
        cancelled=cancelled,
        pending=total - done - failed - cancelled,
        on_complete=record.on_complete,
        on_failure=record.on_failure,
        callback_job_id=record.callback_job_id,
        payload=record.payload,
        created_at=record.created_at,
        finished_at=record.finished_at,
    )


def member(spec: JobSpec, build: Build) -> NewJob:
    """One member as a job to store (a copy: the caller's built job is left as it was)."""
    if isinstance(spec, NewJob):
        return replace(spec)
    if isinstance(spec, tuple):
        if not 1 <= len(spec) <= 3 or (len(spec) == 3 and not isinstance(spec[2], dict)):
            raise ConfigurationError(
                "a batch member is (task, payload) or (task, payload, {options}), not "
                f"a tuple of {len(spec)}"
            )
        task, payload, options = (*spec, None, {})[:3] if len(spec) < 3 else spec
        return build(_name(task), payload, **(options or {}))
    return build(_name(spec), None)


def members(specs: Sequence[JobSpec], build: Build) -> list[NewJob]:
    if isinstance(specs, str | bytes) or not isinstance(specs, Sequence):
        raise ConfigurationError("app.batch() takes a list of jobs")
    if not specs:
        raise ConfigurationError("a batch needs at least one job")
    return [member(spec, build) for spec in specs]


def _name(task: Any) -> str:
    name = task if isinstance(task, str) else getattr(task, "name", None)
    if not isinstance(name, str):
        raise ConfigurationError(f"a batch member's task is a name or a Task, not {task!r:.60}")
    return name
