"""Typed events: one dataclass per thing that happens, and the bus they are published on.

Every app has one bus, `app.events`; logging, metrics, alerts and the live dashboard subscribe
there (`app.events.subscribe(handler, JobDead, BreakerOpened)`). Each event's `name` is stable
(the log line's `event` field). What fires each one:

Jobs (a worker's attempt ended; `duration` in seconds; `run_now` publishes none of these):
    JobSucceeded      the task returned
    JobRetried        it failed and runs again after `delay` seconds (`error`)
    JobDead           it failed for the last time, was discarded, or could not be loaded
    JobPostponed      a rate limit or an open breaker let nothing through: back for `delay`
                      seconds, the attempt not counted (`reason`)
    JobCancelled      an operator cancelled it while it ran
    JobHandedBack     the worker stopped before it finished: queued again, attempt not counted
    ThreadOverran     a sync task ran past its timeout; its thread is waited for (also in run_now)
Breakers (a connection's circuit breaker changed; `previous` is the state it left):
    BreakerOpened     failures reached the threshold, or a probe failed: calls stop `cool_off` s
    BreakerClosed     a probe succeeded: calls flow again
Connections (politeness: a hold stops every worker's requests to a connection):
    ConnectionSlowed  a 429/503 answer: no request until `until` (epoch seconds), `reason`
    ConnectionPaused  a 410 Gone, or an operator's pause: no request until resumed
    ConnectionResumed an operator resumed it; `woken` postponed jobs are due at once
    ConnectionAuthFailed  the remote answered 401 or 403 (after any token refresh): it refuses
                      our credentials (the connection's own, or `owner`'s)
Calls (`RemoteClient`, in the calling attempt's context, so logs carry the job):
    HttpRequestFinished one request sent: `status` (None: no answer), `seconds`, the
                        `idempotency_key` sent
    RateLimitWaited     the rate limit refused a token: the call waits `seconds` (a job is
                        postponed, a sync's page waits in place)
Syncs:
    SyncRunFinished   one run of a source for an owner ended (`state`); the changes it wrote
Accounts (a connection's per-owner credentials):
    AccountAuthorized   an owner authorised the connection (OAuth callback, `accounts add`):
                        a `needs_reauth` state it had is cleared, its jobs run again
    AccountNeedsReauth  the provider refused the owner's refresh token (`invalid_grant`): its
                        jobs wait, attempts not counted, until the owner authorises again
Workers (each carries the `worker_id`):
    WorkerStarted     about to register and claim
    WorkerStopping    first signal (or request_stop): no more claims, running jobs get `grace`
    WorkerStoppingNow second signal: async jobs are handed back, threads still waited for
    WaitingForThreads the grace is over but sync jobs' threads still run
    JobsAbandoned     third signal: jobs whose threads still run are left to their lease
    LeftPostponed     a burst worker exits leaving `jobs` postponed, due `first_due` to
                      `last_due` (epoch seconds; `on_hold` of them wait for a resume)
    WorkerStopped     everything written, about to return
    LeaseLost         renewing found jobs whose lease another worker took over
    JobsRecovered     expired leases (of crashed workers) put back in the queue
    JobsCancelling    running jobs an operator cancelled: async ones get CancelledError
    StoreOutageStarted / StoreOutageEnded
                      the store stopped / started answering (once each per outage)
    FlushFailed, RenewFailed, RecoverFailed, CancelCheckFailed
                      a background store call failed for another reason than an outage
Inbound webhooks (`POST /hooks/<name>`, in the serving process's threads):
    WebhookReceived   a signed event stored with its jobs (or a known event id: `duplicate`)
    WebhookRefused    a request refused (`status`, `reason`): nothing stored

Handlers run synchronously in the publishing thread (the worker's event loop): keep them quick
and never block. A handler that raises is logged (`events.handler_failed`) and skipped; it never
breaks the worker or the other handlers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from .event_bus import Event, EventBus, EventSink, Handler

if TYPE_CHECKING:
    from .breaker import BreakerRecord
    from .job import ClaimedJob, Outcome

__all__ = [
    "AccountAuthorized",
    "AccountEvent",
    "AccountNeedsReauth",
    "BreakerClosed",
    "BreakerEvent",
    "BreakerOpened",
    "CancelCheckFailed",
    "ConnectionAuthFailed",
    "ConnectionEvent",
    "ConnectionPaused",
    "ConnectionResumed",
    "ConnectionSlowed",
    "Event",
    "EventBus",
    "EventSink",
    "FlushFailed",
    "Handler",
    "HttpRequestFinished",
    "JobCancelled",
    "JobDead",
    "JobEvent",
    "JobHandedBack",
    "JobPostponed",
    "JobRetried",
    "JobSucceeded",
    "JobsAbandoned",
    "JobsCancelling",
    "JobsRecovered",
    "LeaseLost",
    "LeftPostponed",
    "RateLimitWaited",
    "RecoverFailed",
    "RenewFailed",
    "StoreOutageEnded",
    "StoreOutageStarted",
    "SyncRunFinished",
    "ThreadOverran",
    "WaitingForThreads",
    "WebhookReceived",
    "WebhookRefused",
    "WorkerEvent",
    "WorkerStarted",
    "WorkerStopped",
    "WorkerStopping",
    "WorkerStoppingNow",
    "breaker_event",
    "job_event",
]


# -- jobs -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class JobEvent(Event):
    """One attempt of a job ended in a worker."""

    job_id: int
    task: str
    queue: str
    key: str | None
    attempt: int
    duration: float


@dataclass(frozen=True, slots=True)
class JobSucceeded(JobEvent):
    name: ClassVar[str] = "job.succeeded"


@dataclass(frozen=True, slots=True)
class JobRetried(JobEvent):
    name: ClassVar[str] = "job.retrying"
    error: str | None
    error_type: str | None
    delay: float


@dataclass(frozen=True, slots=True)
class JobDead(JobEvent):
    name: ClassVar[str] = "job.dead"
    error: str | None
    error_type: str | None


@dataclass(frozen=True, slots=True)
class JobPostponed(JobEvent):
    name: ClassVar[str] = "job.postponed"
    delay: float
    reason: str | None


@dataclass(frozen=True, slots=True)
class JobCancelled(JobEvent):
    name: ClassVar[str] = "job.cancelled"


@dataclass(frozen=True, slots=True)
class JobHandedBack(JobEvent):
    name: ClassVar[str] = "job.handed_back"


@dataclass(frozen=True, slots=True)
class ThreadOverran(Event):
    """A sync task's thread is still running past the task's timeout (it cannot be stopped)."""

    name: ClassVar[str] = "worker.thread_overran"
    job_id: int
    task: str
    timeout: float | None


def job_event(job: ClaimedJob, outcome: Outcome, seconds: float) -> JobEvent:
    """The event for an attempt's outcome."""
    common = (job.id, job.task, job.queue, job.key, job.attempt, seconds)
    error = outcome.error or {}
    if outcome.kind == "succeeded":
        return JobSucceeded(*common)
    if outcome.kind == "retry":
        return JobRetried(*common, error.get("message"), error.get("type"), outcome.delay)
    if outcome.kind == "dead":
        return JobDead(*common, error.get("message"), error.get("type"))
    if outcome.kind == "postpone":
        return JobPostponed(*common, outcome.delay, outcome.reason)
    if outcome.kind == "cancelled":
        return JobCancelled(*common)
    return JobHandedBack(*common)


# -- breakers -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BreakerEvent(Event):
    """A connection's circuit breaker changed state; `previous` is the state it left."""

    connection: str
    previous: str


@dataclass(frozen=True, slots=True)
class BreakerOpened(BreakerEvent):
    name: ClassVar[str] = "breaker.opened"
    failures: int
    cool_off: float
    error: str | None


@dataclass(frozen=True, slots=True)
class BreakerClosed(BreakerEvent):
    name: ClassVar[str] = "breaker.closed"


def breaker_event(
    connection: str, before: BreakerRecord | None, after: BreakerRecord
) -> BreakerEvent | None:
    """The event for a breaker change, or None when it neither opened nor closed (a failure
    counted while closed, a probe taken)."""
    was = before.state if before else "closed"
    if after.state == "open" and was != "open":
        return BreakerOpened(connection, was, after.failures, after.cool_off, after.last_error)
    if after.state == "closed" and was != "closed":
        return BreakerClosed(connection, was)
    return None


# -- connections ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConnectionEvent(Event):
    """A connection's hold changed (connection-wide politeness, `conveyor.politeness`)."""

    connection: str


@dataclass(frozen=True, slots=True)
class ConnectionSlowed(ConnectionEvent):
    name: ClassVar[str] = "connection.slowed"
    status: int
    until: float
    strikes: int
    reason: str


@dataclass(frozen=True, slots=True)
class ConnectionPaused(ConnectionEvent):
    name: ClassVar[str] = "connection.paused"
    reason: str


@dataclass(frozen=True, slots=True)
class ConnectionResumed(ConnectionEvent):
    name: ClassVar[str] = "connection.resumed"
    woken: int


@dataclass(frozen=True, slots=True)
class ConnectionAuthFailed(ConnectionEvent):
    name: ClassVar[str] = "connection.auth_failed"
    status: int  # 401 or 403
    owner: str | None  # whose credentials, when the call was made on an owner's behalf
    reason: str  # the error, secrets masked


# -- calls and syncs ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HttpRequestFinished(Event):
    name: ClassVar[str] = "http.request"
    connection: str
    method: str
    url: str
    status: int | None  # None: no answer (refused, timed out)
    seconds: float
    idempotency_key: str | None


@dataclass(frozen=True, slots=True)
class RateLimitWaited(Event):
    name: ClassVar[str] = "connection.rate_limited"
    connection: str
    seconds: float


@dataclass(frozen=True, slots=True)
class SyncRunFinished(Event):
    """The counts are this run's own work (a resumed run's earlier attempts not included)."""

    name: ClassVar[str] = "sync.finished"
    source: str
    owner: str
    state: str  # succeeded | failed
    changes: dict[str, int]  # created, updated, unchanged, deleted


# -- accounts -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AccountEvent(Event):
    """Something happened to one owner's account on a connection."""

    connection: str
    owner: str


@dataclass(frozen=True, slots=True)
class AccountAuthorized(AccountEvent):
    name: ClassVar[str] = "account.authorized"
    kind: str


@dataclass(frozen=True, slots=True)
class AccountNeedsReauth(AccountEvent):
    name: ClassVar[str] = "account.needs_reauth"
    reason: str


# -- workers --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WorkerEvent(Event):
    """Something in a worker's life, or in its background services."""

    worker_id: str


@dataclass(frozen=True, slots=True)
class WorkerStarted(WorkerEvent):
    name: ClassVar[str] = "worker.started"
    queues: list[str] | None
    tasks: list[str]
    concurrency: int


@dataclass(frozen=True, slots=True)
class WorkerStopping(WorkerEvent):
    name: ClassVar[str] = "worker.stopping"
    running: int
    grace: float


@dataclass(frozen=True, slots=True)
class WorkerStoppingNow(WorkerEvent):
    name: ClassVar[str] = "worker.stopping_now"
    handing_back: list[int]
    waiting_for_threads: list[int]


@dataclass(frozen=True, slots=True)
class WaitingForThreads(WorkerEvent):
    name: ClassVar[str] = "worker.waiting_for_threads"
    job_ids: list[int]
    hint: str


@dataclass(frozen=True, slots=True)
class JobsAbandoned(WorkerEvent):
    name: ClassVar[str] = "worker.abandoned"
    job_ids: list[int]
    lease_seconds: float


@dataclass(frozen=True, slots=True)
class LeftPostponed(WorkerEvent):
    name: ClassVar[str] = "worker.left_postponed"
    jobs: int
    on_hold: int
    first_due: float | None
    last_due: float | None
    hint: str


@dataclass(frozen=True, slots=True)
class WorkerStopped(WorkerEvent):
    name: ClassVar[str] = "worker.stopped"
    succeeded: int
    retried: int
    dead: int


@dataclass(frozen=True, slots=True)
class LeaseLost(WorkerEvent):
    name: ClassVar[str] = "worker.lease_lost"
    job_ids: list[int]


@dataclass(frozen=True, slots=True)
class JobsRecovered(WorkerEvent):
    name: ClassVar[str] = "worker.recovered"
    jobs: int


@dataclass(frozen=True, slots=True)
class JobsCancelling(WorkerEvent):
    name: ClassVar[str] = "worker.cancelling"
    job_ids: list[int]


@dataclass(frozen=True, slots=True)
class StoreOutageStarted(WorkerEvent):
    """Not named StoreUnavailable: that is the exception (`conveyor.StoreUnavailable`)."""

    name: ClassVar[str] = "worker.store_unavailable"
    error: str


@dataclass(frozen=True, slots=True)
class StoreOutageEnded(WorkerEvent):
    name: ClassVar[str] = "worker.store_available"
    outage_seconds: float


@dataclass(frozen=True, slots=True)
class FlushFailed(WorkerEvent):
    name: ClassVar[str] = "worker.flush_failed"
    error: str
    outcomes: int


@dataclass(frozen=True, slots=True)
class RenewFailed(WorkerEvent):
    name: ClassVar[str] = "worker.renew_failed"
    error: str


@dataclass(frozen=True, slots=True)
class RecoverFailed(WorkerEvent):
    name: ClassVar[str] = "worker.recover_failed"
    error: str


@dataclass(frozen=True, slots=True)
class CancelCheckFailed(WorkerEvent):
    name: ClassVar[str] = "worker.cancel_check_failed"
    error: str


# -- inbound webhooks -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WebhookReceived(Event):
    """A signed request was accepted: its event and jobs are stored (or, `duplicate`, the event
    id was known and nothing new was stored)."""

    name: ClassVar[str] = "webhook.received"
    webhook: str
    event_id: str
    jobs: int
    duplicate: bool


@dataclass(frozen=True, slots=True)
class WebhookRefused(Event):
    """A request was refused with `status` (401 signature, 400 malformed, 413 too large...);
    `reason` names the problem, never a secret."""

    name: ClassVar[str] = "webhook.refused"
    webhook: str
    status: int
    reason: str
