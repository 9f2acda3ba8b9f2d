"""The application object: task registry, enqueue, and the operator actions the CLI exposes."""

from __future__ import annotations

import asyncio
import os
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, overload

import structlog

from . import options as check
from .breaker import BreakerRecord
from .connections import deliver, rpc
from .connections.auth import Auth
from .connections.connection import Connection, RemoteClient, make_connection
from .connections.tester import ConnectionCheck, check_connection
from .errors import (
    ConfigurationError,
    JobNotFound,
    Postpone,
    Postponed,
    TaskNotFound,
    UnknownConnection,
)
from .events import EventBus, breaker_event
from .job import STATES, BlockedKey, ClaimedJob, Job, JobFilter, NewJob
from .middleware import Logging, Middleware
from .options import MAX_KEY_LENGTH as MAX_KEY
from .options import MAX_QUEUE_LENGTH as MAX_Q
from .options import Delay
from .retry import DEFAULT_RETRY, RetryPolicy
from .runner import AttemptRunner
from .store import Store, open_store
from .task import KeyFunction, Task
from .workers import Unserved, WorkerRecord, no_worker_reason, unserved

DEFAULT_URL = "sqlite:///conveyor.db"
log = structlog.get_logger("conveyor")
DEFAULT_LEASE_SECONDS = 30.0


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
        self.database_url = database_url or os.environ.get("CONVEYOR_DATABASE_URL") or DEFAULT_URL
        env_lease = os.environ.get("CONVEYOR_LEASE_SECONDS")
        try:
            self.lease_seconds = float(lease_seconds or env_lease or DEFAULT_LEASE_SECONDS)
        except ValueError:
            raise ConfigurationError(
                f"CONVEYOR_LEASE_SECONDS must be a number of seconds, not {env_lease!r}"
            ) from None
        if self.lease_seconds <= 0:
            raise ConfigurationError("the lease must be longer than 0 seconds")
        self.default_queue = default_queue
        self.tasks: dict[str, Task] = {}
        self.connections: dict[str, Connection] = {}
        self.events = EventBus(Logging())  # every event of the app, logged; subscribe here
        self._store: Store | None = None
        self._store_lock = threading.Lock()
        self._wakers: set[Callable[[], None]] = set()
        self._remotes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, RemoteClient] = (
            weakref.WeakKeyDictionary()
        )
        deliver.register(self)
        rpc.register(self)

    # -- configuration --------------------------------------------------------------------

    def use_database(self, url: str) -> None:
        """Point the app at another database (before its store is opened)."""
        if self._store is not None and url != self.database_url:
            raise ConfigurationError("the store is already open; set the URL before using it")
        self.database_url = url

    @property
    def store(self) -> Store:
        if self._store is None:
            with self._store_lock:
                if self._store is None:
                    self._store = open_store(self.database_url)
        return self._store

    def migrate(self) -> list[str]:
        return self.store.migrate()

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    # -- tasks ----------------------------------------------------------------------------

    @overload
    def task(self, fn: Callable[..., Any], /) -> Task: ...

    @overload
    def task(
        self,
        fn: None = None,
        /,
        *,
        name: str | None = None,
        queue: str | None = None,
        max_attempts: int = 5,
        retry: RetryPolicy = DEFAULT_RETRY,
        key: KeyFunction | None = None,
        leads_key: bool = False,
        timeout: float | None = None,
        priority: int = 0,
    ) -> Callable[[Callable[..., Any]], Task]: ...

    def task(
        self,
        fn: Callable[..., Any] | None = None,
        /,
        *,
        name: str | None = None,
        queue: str | None = None,
        max_attempts: int = 5,
        retry: RetryPolicy = DEFAULT_RETRY,
        key: KeyFunction | None = None,
        leads_key: bool = False,
        timeout: float | None = None,
        priority: int = 0,
    ) -> Task | Callable[[Callable[..., Any]], Task]:
        """Register a function as a task: `@app.task` or `@app.task(queue=..., key=...)`."""

        def register(function: Callable[..., Any]) -> Task:
            task_name = name or function.__name__
            if task_name in self.tasks:
                raise ConfigurationError(f"a task named {task_name!r} is already registered")
            task = Task(
                self,
                function,
                name=task_name,
                queue=queue or self.default_queue,
                max_attempts=max_attempts,
                retry=retry,
                key=key,
                leads_key=leads_key,
                timeout=timeout,
                priority=priority,
            )
            self.tasks[task_name] = task
            return task

        return register(fn) if fn is not None else register

    def get_task(self, name: str) -> Task:
        try:
            return self.tasks[name]
        except KeyError:
            mine = sorted(n for n in self.tasks if not n.startswith("conveyor."))  # not built-ins
            known = ", ".join(mine) or "none registered"
            raise TaskNotFound(f"unknown task {name!r} (known: {known})") from None

    # -- enqueue --------------------------------------------------------------------------

    def enqueue(
        self,
        task: str | Task,
        payload: Any = None,
        *,
        key: str | None = None,
        idempotency_key: str | None = None,
        queue: str | None = None,
        delay: Delay | None = None,
        run_at: datetime | None = None,
        priority: int | None = None,
        connection: Any = None,
    ) -> int:
        """Store one job and return its id (the existing job's id for a known idempotency key).

        With `connection=` (the application's own open DB connection) the job is written in the
        caller's transaction: it exists if and only if that transaction commits.
        """
        job = self.build_job(
            task,
            payload,
            key=key,
            idempotency_key=idempotency_key,
            queue=queue,
            delay=delay,
            run_at=run_at,
            priority=priority,
        )
        job_id = self.store.enqueue([job], connection=connection)[0]
        self._wake_local_workers()
        return job_id

    def enqueue_many(
        self,
        task: str | Task,
        payloads: Sequence[Any],
        *,
        idempotency_keys: Sequence[str | None] | None = None,
        connection: Any = None,
        key: str | None = None,
        queue: str | None = None,
        delay: Delay | None = None,
        run_at: datetime | None = None,
        priority: int | None = None,
        **options: Any,
    ) -> list[int]:
        """Store many jobs of one task in one transaction (all or none).

        The options apply to every job; `idempotency_keys` gives each job its own key.
        """
        if "idempotency_key" in options:
            raise ConfigurationError("enqueue_many takes idempotency_keys=[...], one per payload")
        if options:
            raise ConfigurationError(f"unknown enqueue option: {', '.join(sorted(options))}")
        if idempotency_keys is not None and len(idempotency_keys) != len(payloads):
            raise ConfigurationError("idempotency_keys needs exactly one entry per payload")
        ikeys = idempotency_keys or [None] * len(payloads)
        jobs = [
            self.build_job(
                task,
                payload,
                key=key,
                idempotency_key=ikey,
                queue=queue,
                delay=delay,
                run_at=run_at,
                priority=priority,
            )
            for payload, ikey in zip(payloads, ikeys, strict=True)
        ]
        ids = self.store.enqueue(jobs, connection=connection) if jobs else []
        self._wake_local_workers()
        return ids

    async def enqueue_async(self, task: str | Task, payload: Any = None, **options: Any) -> int:
        return await asyncio.to_thread(self.enqueue, task, payload, **options)

    def build_job(
        self,
        task: str | Task,
        payload: Any = None,
        *,
        key: str | None = None,
        idempotency_key: str | None = None,
        queue: str | None = None,
        delay: Delay | None = None,
        run_at: datetime | None = None,
        priority: int | None = None,
    ) -> NewJob:
        """Validate and serialise a job without storing it. Raises PayloadError, TaskNotFound,
        ConfigurationError (an option of the wrong type or out of range, named)."""
        spec = self.get_task(task if isinstance(task, str) else task.name)
        text, value = spec.serialize(payload)
        if delay is not None and run_at is not None:
            raise ConfigurationError("give delay or run_at, not both")
        if key is None:
            key = spec.key_for(value)
            if key is not None:
                check.text(key, f"the key from task {spec.name!r}'s key function", MAX_KEY)
        else:
            check.text(key, "key", MAX_KEY)
        if idempotency_key is not None:
            check.text(idempotency_key, "idempotency_key", MAX_KEY)
        return NewJob(
            task=spec.name,
            queue=spec.queue if queue is None else check.text(queue, "queue", MAX_Q, empty=False),
            payload=text,
            max_attempts=spec.max_attempts,
            key=key,
            leads_key=spec.leads_key,
            idempotency_key=idempotency_key,
            priority=spec.priority if priority is None else check.integer(priority, "priority"),
            delay=0.0 if delay is None else check.seconds(delay, "delay"),
            run_at=None if run_at is None else check.moment(run_at),
        )

    def _wake_local_workers(self) -> None:
        for wake in list(self._wakers):
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

    # -- operators ------------------------------------------------------------------------

    def get_job(self, job_id: int) -> Job:
        if not check.job_ids([job_id]):  # past what a store holds: sqlite3 would overflow
            raise JobNotFound(f"no job with id {check.show(job_id)}")
        return self.store.get(job_id)

    def list_jobs(self, **filters: Any) -> list[Job]:
        """Jobs, newest first; filters: state, task, queue, key, limit (50)."""
        unknown = sorted(set(filters) - set(JobFilter.__dataclass_fields__))
        if unknown:
            known = ", ".join(JobFilter.__dataclass_fields__)
            raise ConfigurationError(f"unknown job filter {unknown[0]!r} (known: {known})")
        state = filters.get("state")
        if state is not None and state not in STATES:
            raise ConfigurationError(f"unknown state {state!r} (choose from {', '.join(STATES)})")
        return self.store.list_jobs(JobFilter(**filters))

    def retry_jobs(self, job_ids: Sequence[int], payload: Any = None) -> list[int]:
        """Operator retry: dead (or retrying) jobs go back to queued with their attempts reset."""
        text = None
        if payload is not None:
            if len(job_ids) != 1:
                raise ConfigurationError("an edited payload retries exactly one job")
            job = self.get_job(job_ids[0])
            text = self.get_task(job.task).serialize(payload)[0]
        done = self.store.retry(check.job_ids(job_ids), payload=text)
        self._wake_local_workers()
        return done

    def retry_dead(self, queue: str | None = None, task: str | None = None) -> list[int]:
        return self.retry_jobs(self.store.dead_job_ids(queue=queue, task=task))

    def cancel_jobs(self, job_ids: Sequence[int]) -> list[int]:
        """Cancel unfinished jobs; return the ids acted on.

        A running job is only marked ("cancellation requested": it stays `running`, with
        `cancel_requested_at` set): its worker cancels an async task and sets
        `current_job().cancelled` for a sync one, and the job ends `cancelled` (its key released)
        when the attempt ends, whatever the attempt did, or when its lease expires.
        """
        done = self.store.cancel(check.job_ids(job_ids))
        self._wake_local_workers()
        return done

    def delete_jobs(self, job_ids: Sequence[int]) -> list[int]:
        return self.store.delete(check.job_ids(job_ids))

    def stats(self) -> dict[str, dict[str, int]]:
        """{queue: {state: count}}."""
        counts: dict[str, dict[str, int]] = {}
        for queue, state, n in self.store.stats():
            counts.setdefault(queue, {})[state] = n
        return counts

    def prune(self, older_than: float) -> int:
        return self.store.prune(older_than)

    def blocked_keys(self, limit: int = 100) -> list[BlockedKey]:
        return self.store.blocked_keys(limit)

    def workers(self) -> list[WorkerRecord]:
        """The live workers (seen within three leases), with their tasks and queues."""
        return self.store.list_workers()

    def jobs_without_worker(self) -> list[Unserved]:
        """Queued and retrying jobs, per task and queue, that no live worker can run."""
        return unserved(self.store.runnable_counts(), self.workers())

    def no_worker_reason(self, job: Job) -> str | None:
        """Why a queued or retrying job waits for a worker, or None if a live one can run it."""
        if job.state not in ("queued", "retrying"):
            return None
        return no_worker_reason(job.task, job.queue, self.workers())

    # -- connections ----------------------------------------------------------------------

    def connection(
        self, name: str, base_url: str, *, auth: Auth | None = None, **options: Any
    ) -> Connection:
        """Declare an external system: base URL, auth, timeouts, headers, signing, rate limit,
        breaker. See `conveyor.connections.make_connection` for every option."""
        if name in self.connections:
            raise ConfigurationError(f"a connection named {name!r} is already declared")
        conn = make_connection(name, base_url, auth=auth, **options)
        self.connections[name] = conn
        return conn

    def get_connection(self, name: str) -> Connection:
        try:
            return self.connections[name]
        except KeyError:
            known = ", ".join(sorted(self.connections)) or "none declared"
            raise UnknownConnection(f"unknown connection {name!r} (known: {known})") from None

    def remote(self) -> RemoteClient:
        """The connection client of the running event loop (one pooled HTTP client per loop)."""
        loop = asyncio.get_running_loop()
        client = self._remotes.get(loop)
        if client is None:
            client = self._remotes[loop] = RemoteClient(self)
        return client

    async def close_remote(self) -> None:
        client = self._remotes.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.close()

    def breaker_changed(
        self, name: str, before: BreakerRecord | None, after: BreakerRecord
    ) -> None:
        """Publish breaker openings and closings (`BreakerOpened`, `BreakerClosed`)."""
        event = breaker_event(name, before, after)
        if event is not None:
            self.events.publish(event)

    def deliver(
        self,
        connection: str,
        path: str,
        payload: Any = None,
        *,
        method: str = "POST",
        key: str | None = None,
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
        queue: str | None = None,
        delay: Delay | None = None,
        run_at: datetime | None = None,
        priority: int | None = None,
        db_connection: Any = None,
    ) -> int:
        """Enqueue a delivery of `payload` (JSON) to a connection; returns the job id."""
        self.get_connection(connection)
        delivery = {
            "connection": connection,
            "path": path,
            "method": method,
            "body": payload,
            "headers": headers or {},
            "idempotency_key": idempotency_key,  # None: one is made as it is enqueued
        }
        return self.enqueue(
            deliver.DELIVER_TASK,
            delivery,
            key=key,
            idempotency_key=idempotency_key,
            queue=queue,
            delay=delay,
            run_at=run_at,
            priority=priority,
            connection=db_connection,
        )

    def rpc(self, connection: str, method: str, params: Any = None, **options: Any) -> int:
        """Enqueue a JSON-RPC (or `protocol="xmlrpc"`) call to a connection; returns the job id.
        See `conveyor.connections.rpc.enqueue_rpc` for the options."""
        return rpc.enqueue_rpc(self, connection, method, params, **options)

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
        return asyncio.run(self._run_now_and_close(task, payload, persist, middleware))

    async def _run_now_and_close(
        self, task: str | Task, payload: Any, persist: bool, middleware: Sequence[Middleware]
    ) -> Any:
        try:
            return await self.run_now_async(task, payload, persist=persist, middleware=middleware)
        finally:
            await self.close_remote()

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
        job = self.build_job(task, payload)
        started = time.time()
        runner = AttemptRunner(self, middleware=middleware, events=self.events)
        claimed = ClaimedJob(0, job.task, job.queue, job.payload, job.key, 1, 1, job.priority, 0)
        attempt = await runner.run(claimed)
        outcome, error = attempt.outcome, attempt.error
        if outcome.kind == "handback":  # the caller was cancelled
            raise asyncio.CancelledError
        if isinstance(error, Postpone):  # nothing was attempted: nothing to record
            if isinstance(error, Postponed):
                raise error
            raise Postponed(error.after, error.reason) from None
        if persist:
            state = "succeeded" if error is None else "dead"
            await asyncio.to_thread(
                self.store.record_finished, job, state, started, outcome.result, outcome.error
            )
        if error is not None:
            raise error
        return attempt.result

    def test_connection(self, name: str) -> ConnectionCheck:
        """Call the connection's check request; never raises for a remote failure. Use
        `test_connection_async` from async code."""
        conn = self.get_connection(name)
        refuse_in_event_loop("test_connection()", "await app.test_connection_async(...)")

        async def run() -> ConnectionCheck:
            try:
                return await check_connection(self.remote(), conn)
            finally:
                await self.close_remote()

        return asyncio.run(run())

    async def test_connection_async(self, name: str) -> ConnectionCheck:
        return await check_connection(self.remote(), self.get_connection(name))


def refuse_in_event_loop(call: str, instead: str) -> None:
    """The sync facades start their own event loop: inside a running one they could only fail
    (asyncio.run refuses) or block it, so say which coroutine to await instead."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise ConfigurationError(
        f"{call} cannot be called inside a running event loop: use {instead} there"
    )
