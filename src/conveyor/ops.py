"""The operator service: everything an operator looks at and does to jobs, in one place.

The CLI uses it today, the HTTP API and the dashboard will: none of them calls the store. It
takes the store (opened on first use), the task lookup (an edited payload is validated by its
task) and the wake-up of this process's workers, not the app; `app.get_job`, `app.retry_jobs`
and the like are one-line delegations to it.

Actions take job ids, or a `JobFilter` for every job that matches it (its `limit` is a listing's
page size and does not bound an action; a filter other than "dead jobs of a queue or task" acts
on at most `BULK_LIMIT` jobs, and refuses more). They return the ids acted on; `why_not` says
why an id was not (unknown, or in a state the action does not allow).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from . import options as check
from . import politeness, settings
from .batches.registry import BatchOperations
from .breaker import BreakerRecord
from .connections.masking import SecretMask, connection_secret_values
from .connections.tester import ConnectionCheck
from .errors import ConfigurationError, JobNotFound
from .events import ConnectionPaused, ConnectionResumed, EventSink
from .finish_tally import Minute, per_minute
from .job import STATES, BlockedKey, Job, JobFilter
from .politeness import Hold
from .schedule.scheduler import Scheduler
from .shared_reads import SharedReads
from .store import Store
from .store.jobs import FINAL_WINDOW
from .store.overview import DeadGroup
from .sync.operations import SyncOperations
from .tokens import ApiTokens
from .types import ConnectionLookup, TaskHost
from .workers import Unserved, WorkerRecord, no_worker_reason, unserved

BULK_LIMIT = 10_000
SHARED_DEAD_GROUPS = 200  # the dead-letter groups the server shares (the page shows fewer)
MAX_FILTER_TEXT = 1000  # longer than any stored task, queue, key or connection name


@dataclass(frozen=True)
class Action:
    """An operator action, as reported: its name, its past tense, and the rule it follows."""

    name: str
    past: str
    rule: str


RETRY = Action("retry", "retried", "only dead or retrying jobs can be retried")
CANCEL = Action("cancel", "cancelled", "succeeded and cancelled jobs cannot be cancelled")
DELETE = Action("delete", "deleted", "running jobs cannot be deleted; cancel them first")


@dataclass(frozen=True)
class Stats:
    """What `conveyor stats` shows: {queue: {state: count}}, the live workers, the runnable
    jobs none of them can run, every circuit breaker that has a state, and the connections that
    are paused or slowed."""

    queues: dict[str, dict[str, int]]
    workers: list[WorkerRecord]
    no_worker: list[Unserved]
    breakers: list[BreakerRecord]
    holds: list[Hold]


class Operations:
    """Look at jobs, act on them, and see who works on what."""

    def __init__(
        self,
        store: Callable[[], Store],
        tasks: TaskHost,
        wake: Callable[[], None],
        *,
        connections: ConnectionLookup | None = None,
        events: EventSink | None = None,
        sync: SyncOperations,
        schedules: Scheduler,
        tester: Callable[[str], ConnectionCheck] | None = None,
    ) -> None:
        self._store = store
        self._tasks = tasks
        self._wake = wake
        self._connections = connections
        self._events = events
        self._tester = tester  # the connection's check request, run to its end
        self.sync = sync  # pull syncs: runs, records, owners, re-extraction
        self.schedules = schedules  # cron entries: next and last run (views), fire now (tick)
        self.tokens = ApiTokens(store)  # the operator API's and the dashboard's bearer tokens
        self.batches = BatchOperations(store)  # batches with their progress (get, list)
        # The server's aggregates, read once per max age for every client (shared_reads.py).
        self.shared = SharedReads(
            self.live_now,
            lambda since: self.store.finished_per_second(since),
            lambda: self.store.clock(),
            self.runnable_now,
            lambda: self.dead_groups(limit=SHARED_DEAD_GROUPS),
            max_age=settings.counts_max_age(),
        )

    @property
    def store(self) -> Store:
        return self._store()

    # -- looking ------------------------------------------------------------------------------

    def get_job(self, job_id: int) -> Job:
        if not check.job_ids([job_id]):  # past what a store holds: sqlite3 would overflow
            raise JobNotFound(f"no job with id {check.show(job_id)}")
        return self.store.get(job_id)

    def get_jobs(self, job_ids: Sequence[int]) -> dict[int, Job]:
        """{id: job} of these ids, one read (an id not found is left out)."""
        return {job.id: job for job in self.store.jobs_by_id(check.job_ids(job_ids))}

    def list_jobs(self, filter: JobFilter | None = None, **filters: Any) -> list[Job]:
        """Jobs, newest first: `filter`, or its fields as keywords (state, task, queue, key,
        connection, error: text in the last error, since, batch_id, before_id, limit: 50)."""
        return self.store.list_jobs(_checked(filter) if filter else self.job_filter(**filters))

    def failed_since(self, since: float, limit: int = 5000) -> list[Job]:
        """Dead and retrying jobs that failed since `since` (the digest's input), newest first."""
        return [
            job
            for state in ("dead", "retrying")
            for job in self.store.list_jobs(JobFilter(state=state, since=since, limit=limit))
        ]

    def dead_since(self, since: float, cap: int) -> int:
        """How many jobs died since `since`, counted up to `cap` (the dead-letter alert)."""
        return self.store.dead_since(since, cap)

    def job_filter(self, **filters: Any) -> JobFilter:
        """A checked filter: an unknown field or state is refused, naming the known ones."""
        unknown = sorted(set(filters) - set(JobFilter.__dataclass_fields__))
        if unknown:
            known = ", ".join(JobFilter.__dataclass_fields__)
            raise ConfigurationError(f"unknown job filter {unknown[0]!r} (known: {known})")
        return _checked(JobFilter(**filters))

    def states(self, job_ids: Sequence[int]) -> dict[int, str]:
        return self.store.states(check.job_ids(job_ids))

    def blocked_keys(self, limit: int = 100, after: int = 0) -> list[BlockedKey]:
        return self.store.blocked_keys(limit, after)

    def counts(self, final_window: float = FINAL_WINDOW) -> dict[str, dict[str, int]]:
        """{queue: {state: count}}: every unfinished and dead job; succeeded and cancelled jobs
        finished within the last hour (`store.jobs.FINAL_WINDOW`, or `final_window` seconds:
        counting them all scans the table, 1 s at 1,000,000 jobs). Read now; the server's pages
        use `shared.counts()`."""
        counts: dict[str, dict[str, int]] = {}
        for queue, state, n in self.store.stats(final_window):
            counts.setdefault(queue, {})[state] = n
        return counts

    def throughput(self, minutes: int = 60) -> list[Minute]:
        """Jobs finished per minute over the last `minutes` (oldest first, the current minute
        last, empty minutes included): one range read of the finished-time index."""
        now = self.store.clock()
        first = int(now // 60) - minutes + 1
        found: dict[int, dict[str, int]] = {}
        for minute, state, n in self.store.finished_per_minute(first * 60.0):
            found.setdefault(minute, {})[state] = n
        return per_minute(found, now, minutes)

    def oldest_waits(self) -> dict[str, dict[str, float]]:
        """{queue: {state: seconds since its oldest unfinished job was created}}."""
        now = self.store.clock()
        ages: dict[str, dict[str, float]] = {}
        for queue, state, created in self.store.oldest_unfinished():
            ages.setdefault(queue, {})[state] = max(0.0, now - created)
        return ages

    def live_now(self) -> tuple[dict[str, dict[str, int]], dict[str, dict[str, float]]]:
        """`counts(final_window=0)` and `oldest_waits()` from one read of the live set (every
        unfinished and dead job): the shared reads', a backlog walked once."""
        now = self.store.clock()
        counts: dict[str, dict[str, int]] = {}
        waits: dict[str, dict[str, float]] = {}
        for queue, state, n, created in self.store.live_summary():
            counts.setdefault(queue, {})[state] = n
            if created is not None:
                waits.setdefault(queue, {})[state] = max(0.0, now - created)
        return counts, waits

    def dead_groups(
        self, since: float | None = None, limit: int = 200, connection: str | None = None
    ) -> list[DeadGroup]:
        """Dead jobs (dead since `since`; of one connection if given) per task, connection and
        error class, the largest groups first."""
        return self.store.dead_groups(since, min(max(limit, 1), BULK_LIMIT), connection)

    def dead_in_group(
        self,
        task: str,
        connection: str | None,
        error_class: str,
        since: float | None = None,
        limit: int = 50,
    ) -> list[Job]:
        """One group's dead jobs, newest first (`limit` up to BULK_LIMIT, for a bulk action);
        `connection` None: the group of jobs for no connection."""
        limit = min(max(limit, 1), BULK_LIMIT)
        return self.store.dead_in_group(task, connection, error_class, since, limit)

    def dead_in_groups(
        self, groups: Sequence[DeadGroup], since: float | None = None, limit: int = 5
    ) -> list[list[Job]]:
        """The newest `limit` dead jobs of each group (dead since `since`), in one read."""
        keys = [(group.task, group.connection, group.error_class) for group in groups]
        return self.store.dead_in_groups(keys, since, min(max(limit, 1), BULK_LIMIT))

    def stats(self) -> Stats:
        workers = self.workers()
        return Stats(
            self.counts(),
            workers,
            unserved(self.store.runnable_counts(), workers),
            self.breakers(),
            self.holds(),
        )

    def workers(self) -> list[WorkerRecord]:
        """The live workers (seen within three leases), with their tasks and queues."""
        return self.store.list_workers()

    def jobs_without_worker(self) -> list[Unserved]:
        """Queued and retrying jobs, per task and queue, that no live worker can run."""
        return unserved(self.store.runnable_counts(), self.workers())

    def runnable_now(self) -> tuple[dict[str, float], list[Unserved]]:
        """`store.oldest_due()` and `jobs_without_worker()` from one read of the runnable jobs
        (the shared reads': a backlog of 700,000 jobs took 200 ms to walk, twice)."""
        due: dict[str, float] = {}
        counts: list[tuple[str, str, int]] = []
        for queue, task, n, age in self.store.runnable_summary():
            counts.append((queue, task, n))
            if age is not None:
                due[queue] = max(due.get(queue, 0.0), age)
        return due, unserved(counts, self.workers())

    def no_worker_reason(self, job: Job) -> str | None:
        """Why a queued or retrying job waits for a worker, or None if a live one can run it."""
        if job.state not in ("queued", "retrying"):
            return None
        return no_worker_reason(job.task, job.queue, self.workers())

    def breakers(self) -> list[BreakerRecord]:
        """The circuit breakers that have a state (a connection never called has none)."""
        return self.store.breakers()

    def holds(self, include_spent: bool = False) -> list[Hold]:
        """The connections that are paused or slowed now (`include_spent`: also a slow-down
        whose quiet has passed, kept for its back-off until a success clears it)."""
        holds = self.store.holds()
        if include_spent:
            return holds
        now = self.store.clock()
        return [hold for hold in holds if hold.active(now)]

    # -- connections --------------------------------------------------------------------------

    def pause_connection(self, name: str, reason: str = "paused by an operator") -> Hold:
        """Stop every worker's requests to a connection until `resume_connection`; its jobs wait
        without using attempts. Pausing a paused connection keeps its first reason."""
        self._connection(name)
        before, after = self.store.change_hold(
            name,
            lambda current, now: politeness.pause(current, name, now, reason),
            self._bucket(name),
        )
        self.shared.forget()
        if after is not None and self._events is not None:
            self._events.publish(ConnectionPaused(name, reason))
        hold = after or before
        assert hold is not None
        return hold

    def resume_connection(self, name: str) -> int:
        """Lift a connection's hold (paused or slowed): its postponed jobs are due at once.
        Returns how many jobs were woken."""
        self._connection(name)
        bucket = self._bucket(name)
        released, woken = self.store.release_hold(name, bucket[0] if bucket else None)
        self.shared.forget()
        if released is not None and self._events is not None:
            self._events.publish(ConnectionResumed(name, woken))
        self._wake()
        return woken

    def test_connection(self, name: str) -> ConnectionCheck:
        """Send the connection's check request (breaker and rate limit bypassed) and say what
        came back, every secret the connection resolves to masked out of the texts."""
        self._connection(name)
        if self._tester is None:
            raise ConfigurationError("this operator service cannot test connections")
        check = self._tester(name)
        assert self._connections is not None
        mask = SecretMask(connection_secret_values(self._connections.get_connection(name)))
        identity = None if check.identity is None else mask.text(check.identity)
        return replace(check, message=mask.text(check.message), identity=identity)

    def _connection(self, name: str) -> None:
        if self._connections is None:
            raise ConfigurationError("this operator service has no connections")
        self._connections.get_connection(name)  # UnknownConnection for a name nobody declared

    def _bucket(self, name: str) -> Any:
        assert self._connections is not None
        conn = self._connections.get_connection(name)
        return None if conn.rate_limit is None else (conn.bucket, conn.rate_limit)

    # -- acting -------------------------------------------------------------------------------

    def enqueue(self, task: str, payload: Any = None, **options: Any) -> int:
        """Store one job (the HTTP API's enqueue): validated by its task, as `app.enqueue`."""
        job_id = self._tasks.enqueue(task, payload, **options)
        self.shared.forget()
        return job_id

    def retry(
        self,
        job_ids: Sequence[int] | None = None,
        *,
        filter: JobFilter | None = None,
        payload: Any = None,
    ) -> list[int]:
        """Dead (or retrying) jobs go back to queued with their attempts reset. `payload`
        replaces the payload of one job, validated by its task."""
        text = None
        if payload is not None:
            if filter is not None or job_ids is None or len(job_ids) != 1:
                raise ConfigurationError("an edited payload retries exactly one job")
            job = self.get_job(job_ids[0])
            text = self._tasks.get_task(job.task).serialize(payload)[0]
        done = self.store.retry(self._select(job_ids, filter), payload=text)
        self.shared.forget()
        self._wake()
        return done

    def cancel(
        self, job_ids: Sequence[int] | None = None, *, filter: JobFilter | None = None
    ) -> list[int]:
        """Cancel unfinished jobs; return the ids acted on.

        A running job is only marked ("cancellation requested": it stays `running`, with
        `cancel_requested_at` set): its worker cancels an async task and sets
        `current_job().cancelled` for a sync one, and the job ends `cancelled` (its key released)
        when the attempt ends, whatever the attempt did, or when its lease expires.
        """
        done = self.store.cancel(self._select(job_ids, filter))
        self.shared.forget()
        self._wake()
        return done

    def delete(
        self, job_ids: Sequence[int] | None = None, *, filter: JobFilter | None = None
    ) -> list[int]:
        """Delete jobs for good (not running ones)."""
        done = self.store.delete(self._select(job_ids, filter))
        self.shared.forget()
        return done

    def why_not(self, action: Action, job_id: int) -> str:
        """Why `action` did not act on `job_id`: it is unknown, or its state forbids it."""
        try:
            state = self.get_job(job_id).state
        except JobNotFound:
            return f"job {job_id} not {action.past}: no such job"
        return f"job {job_id} not {action.past}: it is {state} ({action.rule})"

    def prune(self, older_than: float) -> int:
        """Delete succeeded and cancelled jobs that finished more than `older_than` s ago."""
        pruned = self.store.prune(older_than)
        self.shared.forget()
        return pruned

    def _select(self, job_ids: Sequence[int] | None, filter: JobFilter | None) -> list[int]:
        if (job_ids is None) == (filter is None):
            raise ConfigurationError("give job ids or a filter (not both)")
        if filter is None:
            assert job_ids is not None
            return check.job_ids(job_ids)
        _checked(filter)
        if filter.state == "dead" and filter.plain:  # every dead job: ids only, any number
            return self.store.dead_job_ids(queue=filter.queue, task=filter.task)
        jobs = self.store.list_jobs(replace(filter, limit=BULK_LIMIT + 1))
        if len(jobs) > BULK_LIMIT:
            raise ConfigurationError(
                f"more than {BULK_LIMIT} jobs match; narrow the filter (state, task, queue, key,"
                " connection, error, since, batch_id)"
            )
        return sorted(job.id for job in jobs)


def _checked(filter: JobFilter) -> JobFilter:
    """Refuse what the store could not compare: a value of the wrong type, NUL, an unknown state."""
    for name in ("state", "task", "queue", "key", "connection", "error"):
        value = getattr(filter, name)
        if value is not None:
            check.text(value, f"filter {name}", MAX_FILTER_TEXT)
    if filter.batch_id is not None:
        check.integer(filter.batch_id, "filter batch_id", 1, check.ID_MAX)
    if filter.state is not None and filter.state not in STATES:
        choices = ", ".join(STATES)
        raise ConfigurationError(f"unknown state {filter.state!r} (choose from {choices})")
    return filter
