"""The composition root: settings, the store, one registry per area, and one-line delegations.

`Conveyor` is what applications import; it holds no logic of its own. Each area owns a registry
in its own module: `app.tasks` (tasks.py: declaring, looking up, enqueueing), `app.connections`
(connections/registry.py), the per-owner credentials of connections `app.accounts`
(accounts/registry.py), and the operator service `app.ops` (ops.py). The areas to come get
theirs the same way, beside these: `app.sources` (pull syncs), `app.webhooks` (inbound webhooks),
`app.schedules` (the scheduler) and `app.alerts`, each with its store slice (docs/design.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any, Unpack, overload

import structlog

from . import settings
from .accounts.registry import Account, AccountCheck, AccountRegistry
from .alerts import AlertRegistry
from .batches.core import JobSpec
from .batches.registry import Batch, BatchRegistry
from .connections.auth import Auth
from .connections.builtins import builtin_tasks
from .connections.client import RemoteClient, Resources
from .connections.connection import Connection
from .connections.deliver import DeliveryOptions, enqueue_delivery
from .connections.registry import ConnectionRegistry
from .connections.rpc_jobs import enqueue_rpc
from .connections.tester import ConnectionCheck
from .events import EventBus
from .inbound import DEFAULT_MAX_BODY, Verifier, Webhook, WebhookRegistry
from .job import BlockedKey, Job, JobFilter, NewJob
from .loops import refuse_in_event_loop, run_closing
from .metrics import Metrics
from .middleware import Logging, Middleware
from .ops import Operations
from .politeness import Hold
from .run_now import RunNow
from .schedule.registry import Schedule, ScheduleRegistry
from .schedule.scheduler import Scheduler
from .store import Store, open_store
from .store.lazy import LazyStore
from .store.records import RunMode, StoredRecord, SyncRun
from .sync.operations import SyncOperations
from .sync.registry import SourceRegistry
from .sync.source import Source
from .task import Task
from .tasks import TaskOptions, TaskRegistry
from .types import JobOptions
from .workers import Unserved, WorkerRecord

log = structlog.get_logger("conveyor")


class Conveyor:
    """Durable, ordered jobs on SQLite or PostgreSQL.

    The store opens on first use, so an application module can create its `Conveyor` at import
    time and a CLI can still point it at another database.
    """

    def __init__(
        self,
        database_url: str | None = None,
        *,
        lease_seconds: float | None = None,
        default_queue: str = "default",
    ) -> None:
        self._store = LazyStore(settings.database_url(database_url), open_store)
        self.lease_seconds = settings.lease_seconds(lease_seconds)
        self.default_queue = default_queue
        self.events = EventBus(Logging())  # every event of the app, logged; subscribe here
        # Wakes the workers of this process at once on enqueue (no NOTIFY round trip needed).
        self.local_wakers: set[Callable[[], None]] = set()
        self.connections = ConnectionRegistry(lambda: self.store, self.events)
        attempt = Resources(self.connections.client, lambda job_id: self.store.get(job_id))
        self.tasks = TaskRegistry(
            lambda: self.store,
            default_queue=default_queue,
            wake=self._wake_local_workers,
            on_call=attempt.bind,
        )
        self.tasks.include(builtin_tasks, check=self.connections.check_named)
        self.accounts = AccountRegistry(
            lambda: self.store, self.connections, self.events, self.connections.client
        )
        self.connections.owners = self.accounts  # `request(..., owner=)` uses their credentials
        self.sources = SourceRegistry(
            lambda: self.store,
            self.connections,
            self.tasks,
            lambda job: self.tasks.store_jobs([job])[0],
            self.connections.client,
            self.accounts,
            self.events,
        )
        self.tasks.include(self.sources.tasks)
        self.webhooks = WebhookRegistry(
            self.tasks, lambda: self.store, self.events, wake=self._wake_local_workers
        )
        self.schedules = ScheduleRegistry(lambda name: name in self.tasks)
        self.scheduler = Scheduler(self.schedules, lambda: self.store, self.tasks.enqueue)
        self.ops = Operations(
            lambda: self.store,
            self.tasks,
            self._wake_local_workers,
            connections=self.connections,
            events=self.events,
            sync=SyncOperations(lambda: self.store, self.sources),
            schedules=self.scheduler,
            tester=self.test_connection,
        )
        self.immediate = RunNow(self.tasks, lambda: self.store, self.events)  # run_now
        self.batches = BatchRegistry(lambda: self.store, self.tasks)
        self.metrics = Metrics(self.ops, self.events)  # counters: events
        self.alerts = AlertRegistry(
            lambda: self.store,
            self.events.subscribe,
            self.tasks.register,
            self.ops.failed_since,
            dead_since=self.ops.dead_since,
        )

    # -- configuration --------------------------------------------------------------------

    @property
    def database_url(self) -> str:
        return self._store.url

    def use_database(self, url: str) -> None:
        """Point the app at another database (before its store is opened)."""
        self._store.point_at(url)

    @property
    def store(self) -> Store:
        return self._store.get()

    def migrate(self) -> list[str]:
        return self.store.migrate()

    def close(self) -> None:
        self._store.close()

    # -- tasks and enqueue: app.tasks -----------------------------------------------------

    @overload
    def task(self, fn: Callable[..., Any], /) -> Task: ...

    @overload
    def task(
        self, fn: None = None, /, **options: Unpack[TaskOptions]
    ) -> Callable[[Callable[..., Any]], Task]: ...

    def task(
        self, fn: Callable[..., Any] | None = None, /, **options: Unpack[TaskOptions]
    ) -> Task | Callable[[Callable[..., Any]], Task]:
        """Register a function as a task: `@app.task` or `@app.task(queue=..., key=...)`."""
        return self.tasks.task(**options) if fn is None else self.tasks.register(fn, **options)

    def get_task(self, name: str) -> Task:
        return self.tasks.get_task(name)

    def enqueue(
        self,
        task: str | Task,
        payload: Any = None,
        *,
        db: Any = None,
        **options: Unpack[JobOptions],
    ) -> int:
        """Store one job and return its id (the existing job's id for a known idempotency key).

        With `db=` (the application's own open database connection) the job is written in the
        caller's transaction: it exists if and only if that transaction commits.
        """
        return self.tasks.enqueue(task, payload, db=db, **options)

    def enqueue_many(self, task: str | Task, payloads: Sequence[Any], **options: Any) -> list[int]:
        """Store many jobs of one task in one transaction (all or none); the options apply to
        every job, `idempotency_keys=[...]` gives each its own key."""
        return self.tasks.enqueue_many(task, payloads, **options)

    async def enqueue_async(self, task: str | Task, payload: Any = None, **options: Any) -> int:
        return await asyncio.to_thread(self.enqueue, task, payload, **options)

    def build_job(
        self, task: str | Task, payload: Any = None, **options: Unpack[JobOptions]
    ) -> NewJob:
        """Validate and serialise a job without storing it. Raises PayloadError, TaskNotFound,
        ConfigurationError (an option of the wrong type or out of range, named)."""
        return self.tasks.build_job(task, payload, **options)

    def batch(
        self,
        jobs: Sequence[JobSpec],
        *,
        on_complete: str | Task | None = None,
        on_failure: str | Task | None = None,
        payload: Any = None,
        name: str | None = None,
        db: Any = None,
    ) -> Batch:
        """Store jobs as one batch (one transaction; with `db=`, the caller's, as for enqueue)
        with a callback when all are final: see `conveyor.batches` for what a job may be and
        when each callback runs."""
        return self.batches.create(
            jobs, on_complete=on_complete, on_failure=on_failure, payload=payload, name=name, db=db
        )

    def schedule(
        self, name: str, cron: str, task: str | Task | None = None, **options: Any
    ) -> Schedule:
        """A cron entry enqueueing `task` (see `ScheduleRegistry.add`), fired by the schedulers
        of `conveyor worker --scheduler` and `conveyor serve`, exactly once per fire time."""
        return self.schedules.add(
            name, cron, task.name if isinstance(task, Task) else task, **options
        )

    def _wake_local_workers(self) -> None:
        for wake in list(self.local_wakers):
            wake()

    # -- workers --------------------------------------------------------------------------

    def worker(self, **options: Any) -> Any:
        """A `Worker` for this app; see `conveyor.worker.Worker` for the options."""
        from .worker import Worker

        return Worker(self, **options)

    def run_worker(self, **options: Any) -> Any:
        """Run a worker in this thread until it stops (SIGTERM/SIGINT, or drained with burst).
        From async code, `await app.worker(...).run()`."""
        refuse_in_event_loop("run_worker()", "await app.worker(...).run()")
        return asyncio.run(self.worker(**options).run())

    # -- operators: app.ops ---------------------------------------------------------------

    def get_job(self, job_id: int) -> Job:
        return self.ops.get_job(job_id)

    def list_jobs(self, **filters: Any) -> list[Job]:
        """Jobs, newest first; filters: state, task, queue, key, limit (50)."""
        return self.ops.list_jobs(**filters)

    def retry_jobs(self, job_ids: Sequence[int], payload: Any = None) -> list[int]:
        """Operator retry: dead (or retrying) jobs go back to queued with their attempts reset."""
        return self.ops.retry(job_ids, payload=payload)

    def retry_dead(self, queue: str | None = None, task: str | None = None) -> list[int]:
        return self.ops.retry(filter=JobFilter(state="dead", queue=queue, task=task))

    def cancel_jobs(self, job_ids: Sequence[int]) -> list[int]:
        """Cancel unfinished jobs (a running one when its attempt ends: `Operations.cancel`)."""
        return self.ops.cancel(job_ids)

    def delete_jobs(self, job_ids: Sequence[int]) -> list[int]:
        return self.ops.delete(job_ids)

    def stats(self) -> dict[str, dict[str, int]]:
        """{queue: {state: count}}."""
        return self.ops.counts()

    def prune(self, older_than: float) -> int:
        return self.ops.prune(older_than)

    def blocked_keys(self, limit: int = 100) -> list[BlockedKey]:
        return self.ops.blocked_keys(limit)

    def workers(self) -> list[WorkerRecord]:
        """The live workers (seen within three leases), with their tasks and queues."""
        return self.ops.workers()

    def jobs_without_worker(self) -> list[Unserved]:
        """Queued and retrying jobs, per task and queue, that no live worker can run."""
        return self.ops.jobs_without_worker()

    def no_worker_reason(self, job: Job) -> str | None:
        """Why a queued or retrying job waits for a worker, or None if a live one can run it."""
        return self.ops.no_worker_reason(job)

    # -- inbound webhooks: app.webhooks ---------------------------------------------------

    def webhook(
        self,
        name: str,
        *,
        verify: Verifier,
        event_id: str | None = None,
        split: str | None = None,
        task: str | Task | None = None,
        route: tuple[str, dict[str, str | Task]] | None = None,
        max_body: int = DEFAULT_MAX_BODY,
    ) -> Webhook:
        """Declare `POST /hooks/<name>` (served by `conveyor serve`): the signature check, where
        the event id is, how the event splits into jobs, and their task(s). See
        `conveyor.inbound.webhook.make_webhook` for every argument."""
        return self.webhooks.declare(
            name,
            verify=verify,
            event_id=event_id,
            split=split,
            task=task,
            route=route,
            max_body=max_body,
        )

    # -- connections: app.connections -----------------------------------------------------

    def connection(
        self, name: str, base_url: str, *, auth: Auth | None = None, **options: Any
    ) -> Connection:
        """Declare an external system: base URL, auth, timeouts, headers, signing, rate limit,
        breaker. See `conveyor.connections.make_connection` for every option."""
        return self.connections.declare(name, base_url, auth=auth, **options)

    def get_connection(self, name: str) -> Connection:
        return self.connections.get_connection(name)

    def pause_connection(self, name: str, reason: str = "paused by an operator") -> Hold:
        """Stop every worker's requests to a connection until resumed (attempts unused)."""
        return self.ops.pause_connection(name, reason)

    def resume_connection(self, name: str) -> int:
        """Lift a connection's pause or slow-down; returns how many waiting jobs were woken."""
        return self.ops.resume_connection(name)

    def remote(self) -> RemoteClient:
        """The connection client of the running event loop (one pooled HTTP client per loop)."""
        return self.connections.client()

    async def close_remote(self) -> None:
        await self.connections.close_client()

    def deliver(
        self, connection: str, path: str, payload: Any = None, **options: Unpack[DeliveryOptions]
    ) -> int:
        """Enqueue a delivery of `payload` (JSON) to a connection; returns the job id."""
        return enqueue_delivery(self, connection, path, payload, **options)

    def rpc(self, connection: str, method: str, params: Any = None, **options: Any) -> int:
        """Enqueue a JSON-RPC (or `protocol="xmlrpc"`) call to a connection; returns the job id.
        See `conveyor.connections.rpc_jobs.enqueue_rpc` for the options."""
        return enqueue_rpc(self, connection, method, params, **options)

    def run_now(
        self,
        task: str | Task,
        payload: Any = None,
        *,
        persist: bool = False,
        middleware: Sequence[Middleware] = (),
    ) -> Any:
        """Run a task at once in the caller, with the same connections, rate limits, breakers,
        timeout and attempt runner as a worker. Stores nothing unless `persist=True`; returns the
        result or raises (`Postponed` when the rate limit or the breaker lets nothing through
        yet). Use `run_now_async` from async code."""
        refuse_in_event_loop("run_now()", "await app.run_now_async(...)")
        coro = self.run_now_async(task, payload, persist=persist, middleware=middleware)
        return run_closing(coro, self.close_remote)

    async def run_now_async(
        self,
        task: str | Task,
        payload: Any = None,
        *,
        persist: bool = False,
        middleware: Sequence[Middleware] = (),
    ) -> Any:
        """One attempt through the worker's runner (timeout, middleware, current_job() with id
        0): returns the result or raises what the task raised (`Postponed` for a postponement).
        With `persist=True` the job is recorded as it ended (succeeded or dead)."""
        return await self.immediate.run(task, payload, persist=persist, middleware=middleware)

    # -- pull syncs: app.sources ----------------------------------------------------------

    def source(self, name: str, **settings: Any) -> Source:
        """Declare a remote collection to sync per owner: connection, path, items, id,
        paginate, detail, children, incremental, process... (`conveyor.sync.make_source`)."""
        return self.sources.declare(name, **settings)

    def sync(
        self,
        source: str,
        owner: str,
        *,
        mode: RunMode = "incremental",
        since: str | None = None,
        queue: str | None = None,
        idempotency_key: str | None = None,
    ) -> int:
        """Enqueue one owner's sync (a `conveyor.sync` job); returns the job id. `queue=`: a
        pool other than the source's; `idempotency_key=`: enqueued once however often asked."""
        return self.sources.enqueue_sync(
            source, owner, mode=mode, since=since, queue=queue, idempotency_key=idempotency_key
        )

    def sync_now(
        self,
        source: str,
        owner: str,
        *,
        mode: RunMode = "incremental",
        since: str | None = None,
        progress: Any = None,
    ) -> SyncRun:
        """Sync one owner in the caller and return the finished run (raises SyncFailed)."""
        refuse_in_event_loop("sync_now()", "await app.sources.run(...)")
        coro = self.sources.run(source, owner, mode=mode, since=since, progress=progress)
        return run_closing(coro, self.close_remote)

    def sync_runs(
        self, source: str | None = None, owner: str | None = None, limit: int = 50
    ) -> list[SyncRun]:
        return self.ops.sync.runs(source, owner, limit)

    def records(self, source: str, **filters: Any) -> list[StoredRecord]:
        """A source's stored records; filters: owner, kind, deleted (False), after, limit."""
        return self.ops.sync.records(source, **filters)

    def record(self, source: str, owner: str, external_id: str, **key: str) -> StoredRecord | None:
        """One stored record by owner and id (`kind=`, `parent=` for a child), or None."""
        return self.ops.sync.record(source, owner, external_id, **key)

    def reextract(self, source: str, owner: str | None = None) -> list[SyncRun]:
        """Rebuild stored items' children from their stored data, without calling the remote."""
        return self.ops.sync.reextract(source, owner)

    def test_connection(self, name: str) -> ConnectionCheck:
        """Call the connection's check request; never raises for a remote failure. Use
        `test_connection_async` from async code."""
        self.get_connection(name)
        refuse_in_event_loop("test_connection()", "await app.test_connection_async(...)")
        return asyncio.run(self.connections.test(name, close=True))

    async def test_connection_async(self, name: str) -> ConnectionCheck:
        return await self.connections.test(name)

    # -- per-owner accounts: app.accounts -------------------------------------------------

    def add_account(self, connection: str, owner: str, **credentials: Any) -> Account:
        """Store an owner's credentials for a connection, sealed with CONVEYOR_SECRET_KEY: one
        of `api_key=`, `token=`, or OAuth tokens (`refresh_token=`, `access_token=`,
        `expires_in=`). Replaces the owner's account and clears a `needs_reauth` state."""
        return self.accounts.add(connection, owner, **credentials)

    def remove_account(self, connection: str, owner: str) -> bool:
        return self.accounts.remove(connection, owner)

    def list_accounts(self, connection: str | None = None) -> list[Account]:
        """Every account (of one connection), with its kind, state and expiry: never a secret."""
        return self.accounts.list(connection)

    def rotate_secret_key(self) -> int:
        """Re-seal every account secret with the first key of CONVEYOR_SECRET_KEY."""
        return self.accounts.rotate_key()

    def check_account(self, connection: str, owner: str) -> AccountCheck:
        """The credential check before a sync: the connection's check request with the owner's
        credentials. Raises AccountRejected (401/403) or NeedsReauth. Use
        `check_account_async` from async code (a sync task)."""
        refuse_in_event_loop("check_account()", "await app.check_account_async(...)")
        return run_closing(self.accounts.check(connection, owner), self.close_remote)

    async def check_account_async(self, connection: str, owner: str) -> AccountCheck:
        return await self.accounts.check(connection, owner)
