"""The workers slice: the registry of running workers (who runs which tasks), for operators.

Its SQL is `sql/<dialect>/workers.sql`; its contract tests `tests/store/test_workers.py`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

from ..workers import WorkerRecord


class WorkerStore(ABC):
    """Worker rows: upserted at start, refreshed by heartbeats, deleted on a clean stop."""

    @abstractmethod
    def register_worker(
        self,
        worker_id: str,
        hostname: str,
        pid: int,
        queues: Sequence[str] | None,
        tasks: Sequence[str],
        lease_seconds: float,
    ) -> None:
        """Insert (or replace) a running worker's row, seen now."""

    @abstractmethod
    def heartbeat_worker(self, worker_id: str) -> bool:
        """Mark the worker seen now; False when its row is gone (pruned), to register again."""

    @abstractmethod
    def unregister_worker(self, worker_id: str) -> None: ...

    @abstractmethod
    def list_workers(self) -> list[WorkerRecord]:
        """The live workers: seen within `STALE_AFTER_LEASES` of their own lease."""

    @abstractmethod
    def runnable_counts(self) -> list[tuple[str, str, int]]:
        """(queue, task, count) of queued and retrying jobs: set against the live workers'
        tasks, it shows the jobs no worker runs."""
