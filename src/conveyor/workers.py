"""Who runs what: the live workers' registry rows, and the queued jobs none of them can run.

Pure: no I/O, no clock. A worker claims only jobs of tasks it has (a job it cannot judge must not
lose an attempt to it), so a task that no live worker has simply waits; these functions say so.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

BUILTIN_PREFIX = "conveyor."
SYNC_TASK = "conveyor.sync"  # runs a source's sync: claimed only where a source is declared
# A worker refreshes its row every lease/3; one unseen for this many leases is gone.
STALE_AFTER_LEASES = 3


ALERTS_PREFIX = "conveyor.alerts."


def worker_tasks(
    tasks: Iterable[str], has_connections: bool, has_sources: bool = False
) -> list[str]:
    """The task names a worker of this app claims: its own, and the built-in `conveyor.*` ones
    (deliveries, RPC calls) only when the app declared a connection, and syncs only when it
    declared a source too, since without them they could only fail."""

    def claims(name: str) -> bool:
        if not name.startswith(BUILTIN_PREFIX) or name.startswith(ALERTS_PREFIX):
            return True  # the digest exists only once an alert channel was added
        return has_connections and (has_sources or name != SYNC_TASK)

    return sorted(name for name in tasks if claims(name))


@dataclass(frozen=True, slots=True)
class WorkerRecord:
    """One live worker as it registered itself. `queues` None: every queue."""

    worker_id: str
    hostname: str
    pid: int
    queues: list[str] | None
    tasks: list[str]
    lease_seconds: float
    started_at: datetime | None
    last_seen_at: datetime | None

    def runs(self, task: str, queue: str) -> bool:
        return task in self.tasks and (self.queues is None or queue in self.queues)

    def to_dict(self) -> dict[str, Any]:
        return {
            "worker_id": self.worker_id,
            "hostname": self.hostname,
            "pid": self.pid,
            "queues": self.queues,
            "tasks": self.tasks,
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "last_seen_at": self.last_seen_at.isoformat() if self.last_seen_at else None,
        }


@dataclass(frozen=True, slots=True)
class Unserved:
    """Runnable (queued or retrying) jobs of one task and queue that no live worker can run."""

    task: str
    queue: str
    jobs: int
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"task": self.task, "queue": self.queue, "jobs": self.jobs, "reason": self.reason}


def no_worker_reason(task: str, queue: str, workers: Sequence[WorkerRecord]) -> str | None:
    """Why no live worker runs a job of `task` on `queue`, or None when one does."""
    if any(worker.runs(task, queue) for worker in workers):
        return None
    if any(task in worker.tasks for worker in workers):
        return f"no running worker has task {task!r} on queue {queue!r}"
    return f"no running worker has task {task!r}"


def unserved(
    counts: Iterable[tuple[str, str, int]], workers: Sequence[WorkerRecord]
) -> list[Unserved]:
    """From (queue, task, runnable jobs) rows: the groups no live worker can run."""
    found: list[Unserved] = []
    for queue, task, n in sorted(counts, key=lambda row: (row[1], row[0])):
        reason = no_worker_reason(task, queue, workers)
        if reason is not None and n:
            found.append(Unserved(task, queue, n, reason))
    return found
