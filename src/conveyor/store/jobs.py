"""The jobs slice: enqueue, the worker's claim/complete/renew/recover, and the operators' reads
and actions on jobs. Its SQL is `sql/<dialect>/jobs.sql`; its contract tests
`tests/store/test_jobs.py`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

from ..job import BlockedKey, ClaimedJob, Job, JobFilter, NewJob, Outcome, PostponedJobs

IDEMPOTENCY_RETENTION = 30 * 24 * 3600.0
# The window of the succeeded and cancelled counts (stats): the last hour, as a dashboard shows.
FINAL_WINDOW = 3600.0


class JobStore(ABC):
    """Durable jobs. Every method is one short transaction."""

    # -- enqueue --------------------------------------------------------------------------

    @abstractmethod
    def enqueue(self, jobs: Sequence[NewJob], connection: Any = None) -> list[int]:
        """Store jobs (in `connection`'s open transaction when given); return their ids.

        A job whose idempotency key is already known returns the id of the job that holds it.
        """

    @abstractmethod
    def record_finished(
        self,
        job: NewJob,
        state: str,
        started: float,
        result: str | None = None,
        error: dict[str, Any] | None = None,
    ) -> int:
        """Store a job that already ran in the caller (run_now with persist=True)."""

    # -- the worker's side ----------------------------------------------------------------

    @abstractmethod
    def claim(
        self,
        worker_id: str,
        queues: Sequence[str] | None,
        limit: int,
        lease_seconds: float,
        tasks: Sequence[str] | None = None,
    ) -> list[ClaimedJob]:
        """Lease up to `limit` due jobs of `queues` and `tasks` (None: all).

        A worker passes the tasks it has: a job it could not run is never claimed, so it keeps
        its attempts and waits for a worker that has its task.
        """

    @abstractmethod
    def complete(self, outcomes: Sequence[Outcome]) -> None:
        """Write attempt outcomes, promoting the next job of each key that was released."""

    @abstractmethod
    def renew(self, leases: Sequence[tuple[int, int]], lease_seconds: float) -> set[int]:
        """Extend the leases (job id, token) still held; return the ids whose lease was lost."""

    @abstractmethod
    def recover_expired(self) -> int:
        """Put back running jobs whose lease expired (their worker died); return how many.

        One whose cancel was requested is cancelled instead, and its key released. Also prunes
        the registry rows of workers unseen for `STALE_AFTER_LEASES` leases.
        """

    @abstractmethod
    def cancel_requested(self, job_ids: Sequence[int]) -> set[int]:
        """Those of these running jobs whose cancel was requested (the worker polls this)."""

    @abstractmethod
    def seconds_until_due(
        self, queues: Sequence[str] | None, tasks: Sequence[str] | None = None
    ) -> float | None:
        """Seconds until the earliest queued/retrying job of `queues` and `tasks` (None: all)
        is due (<= 0: now), None if none."""

    @abstractmethod
    def postponed_jobs(
        self, queues: Sequence[str] | None, tasks: Sequence[str] | None = None
    ) -> PostponedJobs:
        """The queued/retrying jobs of `queues` and `tasks` (None: all) that wait out a
        postponement (rate limit, breaker, slowed or paused connection, a task's `Postpone`):
        how many, how many on hold, when the first throttled one is due. For burst workers."""

    # -- operators ------------------------------------------------------------------------

    @abstractmethod
    def get(self, job_id: int) -> Job:
        """The job, or `JobNotFound`."""

    @abstractmethod
    def list_jobs(self, filters: JobFilter) -> list[Job]:
        """Newest first."""

    @abstractmethod
    def states(self, job_ids: Sequence[int]) -> dict[int, str]:
        """The state of each of these jobs that exists, in the order asked."""

    @abstractmethod
    def retry(self, job_ids: Sequence[int], payload: str | None = None) -> list[int]:
        """Operator retry of dead (or retrying) jobs: back to queued, attempts reset."""

    @abstractmethod
    def dead_job_ids(self, queue: str | None = None, task: str | None = None) -> list[int]:
        """Dead jobs (of `queue`, of `task`), oldest first: what `retry --all-dead` retries."""

    @abstractmethod
    def dead_since(self, since: float, cap: int) -> int:
        """How many jobs died (finished dead) since `since` (epoch seconds), counted up to `cap`:
        the dead-letter alert's cheap question, a range of the finished-time index."""

    @abstractmethod
    def cancel(self, job_ids: Sequence[int]) -> list[int]:
        """Cancel unfinished jobs; return the ids acted on.

        A running job is only marked (`cancel_requested_at`): its code may still run, so it keeps
        its key until the attempt ends, then ends `cancelled` whatever the attempt did.
        """

    @abstractmethod
    def delete(self, job_ids: Sequence[int]) -> list[int]:
        """Delete jobs that are not running (their keys released); return the ids deleted."""

    @abstractmethod
    def stats(self, final_window: float = FINAL_WINDOW) -> list[tuple[str, str, int]]:
        """(queue, state, count) rows: every unfinished and dead job; succeeded and cancelled
        ones only if they finished within the last `final_window` seconds (all of them would
        be a scan of the table)."""

    @abstractmethod
    def prune(
        self, older_than: float, idempotency_older_than: float = IDEMPOTENCY_RETENTION
    ) -> int:
        """Delete succeeded/cancelled jobs finished more than `older_than` seconds ago, and
        idempotency keys older than `idempotency_older_than`; return the jobs deleted."""

    @abstractmethod
    def blocked_keys(self, limit: int = 100, after: int = 0) -> list[BlockedKey]:
        """Keys held by a dead head, with how many jobs wait behind it: oldest head first,
        those whose head's id is above `after` (the keyset page after it)."""
