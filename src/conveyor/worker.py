"""The worker: claims jobs in batches, runs them on one event loop, writes outcomes in batches.

One dedicated thread talks to the store, so the loop never blocks on the database; sync task
functions run in a thread pool. Outcomes are collected for a few milliseconds and written in one
transaction: a job that finished but was not written yet simply runs again after a crash
(at-least-once).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import structlog
from pydantic import ValidationError

from .errors import ConfigurationError, Postpone, StoreError
from .job import ClaimedJob, Outcome
from .logs import configure_logging
from .middleware import Logging, Middleware
from .retry import DEFAULT_RETRY, RetryPolicy, decide
from .store.base import error_record
from .task import JobContext, Task, bind_current
from .task import _first as first_problem
from .workers import worker_tasks

if TYPE_CHECKING:
    from .app import Conveyor

T = TypeVar("T")
# Backoff between store calls while the store is unreachable, doubling up to the cap: the cap
# (plus the store's own short wait for a connection) bounds how long after the database answers
# again the worker claims again.
STORE_RETRY_FIRST = 0.05
STORE_RETRY_MAX = 1.0


@dataclass
class WorkerStats:
    claimed: int = 0
    succeeded: int = 0
    retried: int = 0
    dead: int = 0
    handed_back: int = 0
    cancelled: int = 0
    postponed: int = 0
    lost_leases: int = 0
    abandoned: int = 0
    started_at: float = field(default_factory=time.monotonic)


class Worker:
    """Runs jobs of `queues` (all when None), up to `concurrency` at once.

    `burst`: exit once nothing is runnable: nothing running, no job due within `burst_wait`
    seconds, and no job merely postponed by a rate limit or breaker (those are runnable, only
    throttled; jobs waiting for a retry delay or a later `run_at` do not hold a burst worker).
    `grace`: seconds that running jobs get to finish on SIGTERM/SIGINT before async ones are
    handed back; a second signal ends the grace at once; a third leaves jobs whose threads still
    run to their lease's expiry and exits the process (a thread cannot be stopped, and a job whose
    code still runs is never handed back). `poll_interval`: the safety-net poll when no wake-up
    arrives.
    """

    def __init__(
        self,
        app: Conveyor,
        *,
        queues: Sequence[str] | None = None,
        concurrency: int = 10,
        burst: bool = False,
        burst_wait: float = 0.1,
        grace: float = 30.0,
        poll_interval: float = 1.0,
        flush_interval: float = 0.002,
        middleware: Sequence[Middleware] | None = None,
        install_signal_handlers: bool = True,
        worker_id: str | None = None,
    ) -> None:
        if concurrency < 1:
            raise ConfigurationError("concurrency must be at least 1")
        if burst_wait < 0:
            raise ConfigurationError("burst_wait must be >= 0 seconds")
        # Only jobs of these tasks are claimed: one this worker cannot run keeps its attempts.
        self.tasks = worker_tasks(app.tasks, bool(app.connections))
        if not self.tasks:
            raise ConfigurationError(
                "no tasks registered: a worker needs tasks (@app.task) or a declared connection"
                " (for deliveries); is the application that declares them imported?"
            )
        self.app = app
        self.store = app.store
        self.queues = list(queues) if queues else None
        self.concurrency = concurrency
        self.burst = burst
        self.burst_wait = burst_wait
        self.grace = grace
        self.poll_interval = poll_interval
        self.flush_interval = flush_interval
        if not structlog.is_configured():
            configure_logging()
        self.middleware = list(middleware) if middleware is not None else [Logging()]
        self.install_signal_handlers = install_signal_handlers
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{os.urandom(3).hex()}"
        self.lease_seconds = app.lease_seconds
        self.stats = WorkerStats()
        self._running: dict[int, tuple[ClaimedJob, asyncio.Task[None]]] = {}
        self._pending: list[Outcome] = []
        # One per attempt under way; set when an operator cancels the job (`current_job()`).
        self._cancel_signals: dict[int, threading.Event] = {}
        self.cancel_poll_interval = 0.5
        # Claims and outcome writes each get a database thread, so a claim never waits for a
        # write (on PostgreSQL each thread holds its own pooled connection).
        self._db = ThreadPoolExecutor(1, thread_name_prefix="conveyor-db")
        self._db_writes = ThreadPoolExecutor(1, thread_name_prefix="conveyor-db-writes")
        self._threads = ThreadPoolExecutor(concurrency, thread_name_prefix="conveyor-task")
        self._stopping = False
        self._signals = 0
        self._grace_over: asyncio.Event | None = None
        self._abandon: asyncio.Event | None = None
        self._wake: asyncio.Event | None = None
        self._flush_needed: asyncio.Event | None = None
        self._flush_lock: asyncio.Lock | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        # The store outage being waited out: when it was noticed (None: the store answers), and
        # when the last one ended. Calls that began before a change of state do not count.
        self._down_since: float | None = None
        self._back_since = float("-inf")

    # -- public ---------------------------------------------------------------------------

    def request_stop(self) -> None:
        """Stop claiming; running jobs get `grace` seconds. Safe from any thread."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._begin_stop)
        else:
            self._stopping = True

    async def run(self) -> WorkerStats:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._flush_needed = asyncio.Event()
        self._flush_lock = asyncio.Lock()
        self._grace_over = asyncio.Event()
        self._abandon = asyncio.Event()
        stop_listener = self._start_wakeups()
        self._install_signals()
        helpers = [
            asyncio.create_task(self._flusher(), name="conveyor-flush"),
            asyncio.create_task(self._renewer(), name="conveyor-renew"),
            asyncio.create_task(self._recoverer(), name="conveyor-recover"),
            asyncio.create_task(self._cancel_watcher(), name="conveyor-cancel"),
        ]
        if stop_listener is None:
            helpers.append(asyncio.create_task(self._change_poller(), name="conveyor-poll"))
        self._emit(
            "started",
            worker_id=self.worker_id,
            queues=self.queues,
            tasks=self.tasks,
            concurrency=self.concurrency,
        )
        try:
            # Not seen by operators until the store answers: the heartbeat registers it then.
            with contextlib.suppress(StoreError):
                await self._tracked(self._register)
            await self._claim_loop()
            await self._drain()
        finally:
            for helper in helpers:
                helper.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)
            await self._flush()
            with contextlib.suppress(Exception):  # if not now, it is pruned after 3 leases
                await self._call(self.store.unregister_worker, self.worker_id)
            await self.app.close_remote()
            if stop_listener is not None:
                stop_listener()
            self.app._wakers.discard(self._wake_soon)
            self._remove_signals()
            self._db.shutdown(wait=True)
            self._db_writes.shutdown(wait=True)
            self._threads.shutdown(wait=False, cancel_futures=True)
            self._emit(
                "stopped",
                worker_id=self.worker_id,
                succeeded=self.stats.succeeded,
                retried=self.stats.retried,
                dead=self.stats.dead,
            )
        if self.stats.abandoned and self.install_signal_handlers:
            # Three signals: the process must end now, and the abandoned threads would keep it
            # alive (and their jobs running) past their lease. Everything else is written.
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(130)
        return self.stats

    # -- the loop -------------------------------------------------------------------------

    async def _claim_loop(self) -> None:
        assert self._wake is not None
        more_likely = True
        while not self._stopping:
            self._wake.clear()  # before looking: a wake-up from here on is never lost
            free = self.concurrency - len(self._running)
            if free > 0 and more_likely:
                jobs = await self._until_answered(
                    self.store.claim,
                    self.worker_id,
                    self.queues,
                    free,
                    self.lease_seconds,
                    self.tasks,
                )
                if jobs is None:  # asked to stop during an outage
                    break
                self.stats.claimed += len(jobs)
                for job in jobs:
                    self._start(job)
                more_likely = len(jobs) == free
                if jobs:
                    continue
            if self.burst and not self._running and not more_likely and await self._idle():
                return
            timeout = await self._wait_timeout() if not more_likely else self.poll_interval
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
            if not self._stopping:
                more_likely = True

    async def _idle(self) -> bool:
        """Burst mode: true when nothing is running or unwritten, no job is due within
        `burst_wait`, and no job is merely postponed (throttled jobs are runnable)."""
        await self._flush()
        due = await self._until_answered(self.store.seconds_until_due, self.queues, self.tasks)
        if due is not None and due <= self.burst_wait:
            return False
        return not await self._until_answered(self.store.any_postponed, self.queues, self.tasks)

    async def _wait_timeout(self) -> float:
        due = await self._until_answered(self.store.seconds_until_due, self.queues, self.tasks)
        if due is None:
            return self.poll_interval
        return min(self.poll_interval, max(due, 0.001))

    def _start(self, job: ClaimedJob) -> None:
        task = asyncio.create_task(self._attempt(job))
        self._running[job.id] = (job, task)

    async def _attempt(self, job: ClaimedJob) -> None:
        started = time.monotonic()
        for middleware in self.middleware:
            middleware.before_attempt(job)
        try:
            outcome = await self._execute_cancellable(job)
        except asyncio.CancelledError:
            outcome = Outcome(job.id, job.token, "handback", key=job.key)
        seconds = time.monotonic() - started
        for middleware in self.middleware:
            middleware.after_attempt(job, outcome, seconds)
        self._record(outcome)
        self._running.pop(job.id, None)
        if self._wake is not None and not self._stopping:
            self._wake.set()

    async def _execute_cancellable(self, job: ClaimedJob) -> Outcome:
        """`_execute`, ending `cancelled` if the job was cancelled while it ran.

        Whatever the attempt did after the request (got `CancelledError`, returned early, raised),
        the job is not retried: the cancel wins. The store applies the same rule to a request this
        worker had not learnt of yet.
        """
        cancel = self._cancel_signals.setdefault(job.id, threading.Event())
        try:
            outcome = await self._execute(job)
        except asyncio.CancelledError:
            if not cancel.is_set():
                raise  # a shutdown: `_attempt` hands the job back
            current = asyncio.current_task()
            if current is not None:
                current.uncancel()  # ours, and handled: the attempt task carries on
            outcome = Outcome(job.id, job.token, "cancelled", key=job.key)
        finally:
            self._cancel_signals.pop(job.id, None)
        if cancel.is_set() and outcome.kind != "cancelled":
            outcome = Outcome(
                job.id,
                job.token,
                "cancelled",
                key=job.key,
                result=outcome.result,
                error=outcome.error,
            )
        return outcome

    async def _execute(self, job: ClaimedJob) -> Outcome:
        retry_policy: RetryPolicy = DEFAULT_RETRY
        try:
            task = self.app.get_task(job.task)
            retry_policy = task.retry
            try:
                argument = _load(task, job)
            except Exception as error:  # retrying would load the same row again: dead now
                return self._unloadable(job, error)
            cancel = self._cancel_signals.setdefault(job.id, threading.Event())
            bind_current(
                JobContext(
                    job.id, job.task, job.key, job.attempt, job.max_attempts, job.queue, cancel
                )
            )
            result = await self._call_task(task, argument)
            return Outcome(
                job.id, job.token, "succeeded", key=job.key, result=task.result_json(result)
            )
        except asyncio.CancelledError:
            raise
        except Postpone as postpone:
            return Outcome(
                job.id,
                job.token,
                "postpone",
                key=job.key,
                delay=postpone.after,
                reason=postpone.reason,
            )
        except Exception as error:
            return self._failure(job, error, retry_policy)

    async def _call_task(self, task: Task, argument: Any) -> Any:
        if not task.is_async:
            return await self._call_in_thread(task, argument)
        if task.timeout is None:
            return await task.call(argument)
        deadline = asyncio.timeout(task.timeout)
        try:
            async with deadline:
                return await task.call(argument)
        except TimeoutError:
            if deadline.expired():  # ours, not a TimeoutError raised by the task itself
                raise TimeoutError(f"attempt timed out after {task.timeout} s") from None
            raise

    async def _call_in_thread(self, task: Task, argument: Any) -> Any:
        """A sync task's attempt ends when its thread does, never before: a thread cannot be
        stopped, and a job reported finished or handed back while its code still runs could run
        twice at once. Past its timeout it is waited for, then failed as timed out; a cancel
        (a second Ctrl-C) waits likewise and reports what the thread really did."""
        assert self._loop is not None
        ctx = contextvars.copy_context()
        future = self._loop.run_in_executor(self._threads, ctx.run, task.call, argument)
        overran = False
        while not future.done():
            try:
                await asyncio.wait([future], timeout=None if overran else task.timeout)
            except asyncio.CancelledError:
                continue
            if not future.done():
                overran = True
                self._emit("thread_overran", task=task.name, timeout=task.timeout)
        if overran:
            raise TimeoutError(
                f"attempt timed out after {task.timeout} s (its thread ran on until it returned)"
            )
        return future.result()

    def _failure(self, job: ClaimedJob, error: BaseException, policy: Any) -> Outcome:
        decision = decide(error, job.attempt, job.max_attempts, policy)
        record = error_record(error, job.attempt, time.time())
        if decision.retry:
            return Outcome(
                job.id, job.token, "retry", key=job.key, error=record, delay=decision.delay
            )
        return Outcome(job.id, job.token, "dead", key=job.key, error=record)

    def _unloadable(self, job: ClaimedJob, error: Exception) -> Outcome:
        record = error_record(error, job.attempt, time.time())
        record["message"] = f"cannot load job: {_describe_load_error(error)}"
        return Outcome(job.id, job.token, "dead", key=job.key, error=record)

    def _record(self, outcome: Outcome) -> None:
        if outcome.kind == "succeeded":
            self.stats.succeeded += 1
        elif outcome.kind == "retry":
            self.stats.retried += 1
        elif outcome.kind == "dead":
            self.stats.dead += 1
        elif outcome.kind == "postpone":
            self.stats.postponed += 1
        elif outcome.kind == "cancelled":
            self.stats.cancelled += 1
        else:
            self.stats.handed_back += 1
        self._pending.append(outcome)
        assert self._flush_needed is not None
        self._flush_needed.set()

    # -- background helpers ---------------------------------------------------------------

    async def _flusher(self) -> None:
        assert self._flush_needed is not None
        while True:
            await self._flush_needed.wait()
            if len(self._pending) < self.concurrency:
                await asyncio.sleep(self.flush_interval)
            await self._flush()

    async def _flush(self) -> None:
        """Write the pending outcomes. Holding the lock, a caller also waits for a write already
        in flight on the writes thread: after `await self._flush()` every outcome is stored."""
        assert self._flush_needed is not None and self._flush_lock is not None
        async with self._flush_lock:
            self._flush_needed.clear()
            if not self._pending:
                return
            batch, self._pending = self._pending, []
            try:
                await self._tracked(self.store.complete, batch, executor=self._db_writes)
            except asyncio.CancelledError:
                # Cancelled at shutdown, maybe before the database thread even started the
                # write (a queued executor call is dropped). Keep the batch for the final flush:
                # writing it twice is harmless, every write is fenced by its lease token.
                self._pending[:0] = batch
                raise
            except Exception as error:  # the database hiccuped: keep the outcomes, try again
                self._pending[:0] = batch
                if not isinstance(error, StoreError):  # a store error is logged as an outage
                    self._emit("flush_failed", error=str(error), outcomes=len(batch))
                await asyncio.sleep(0.5)
                self._flush_needed.set()
                return
        if self._wake is not None and any(o.key for o in batch):
            self._wake.set()  # this worker may just have promoted the next job of a key

    async def _renewer(self) -> None:
        interval = self.lease_seconds / 3
        wait = interval
        while True:
            await asyncio.sleep(wait)
            wait = interval
            held = [(job.id, job.token) for job, _ in self._running.values()]
            held += [(o.job_id, o.token) for o in self._pending]
            try:
                lost = await self._tracked(self.store.renew, held, self.lease_seconds)
                await self._tracked(self._heartbeat)  # idle or not: operators see it alive
            except StoreError:
                # Try again soon: once the store answers, the leases are renewed within about a
                # second, before anyone recovers them (the token still matches until then).
                wait = min(interval, STORE_RETRY_MAX)
                continue
            except Exception as error:
                self._emit("renew_failed", error=str(error))
                continue
            if lost:
                self.stats.lost_leases += len(lost)
                self._emit("lease_lost", job_ids=sorted(lost))

    def _register(self) -> None:
        """Make this worker visible to operators: its tasks and queues (`conveyor stats`)."""
        self.store.register_worker(
            self.worker_id,
            socket.gethostname(),
            os.getpid(),
            self.queues,
            self.tasks,
            self.lease_seconds,
        )

    def _heartbeat(self) -> None:
        if not self.store.heartbeat_worker(self.worker_id):  # pruned while this worker stalled
            self._register()

    async def _recoverer(self) -> None:
        interval = max(self.lease_seconds / 2, 0.5)
        while True:
            try:
                recovered = await self._tracked(self.store.recover_expired)
            except StoreError:
                recovered = 0
            except Exception as error:
                self._emit("recover_failed", error=str(error))
                recovered = 0
            if recovered:
                self._emit("recovered", jobs=recovered)
                self._wake_soon()
            await asyncio.sleep(interval)
            # After an outage, leases that ran out only because the store was unreachable get
            # `interval` to be renewed by their workers before any of them is recovered.
            while self._down_since is not None or time.monotonic() - self._back_since < interval:
                await asyncio.sleep(min(interval, STORE_RETRY_MAX))

    async def _cancel_watcher(self) -> None:
        """Learn within about `cancel_poll_interval` that a running job was cancelled.

        The store is asked only while jobs run. An async task gets `CancelledError`; a sync
        task's thread cannot be interrupted, so it only sees `current_job().cancelled` turn true
        (and the worker waits for it as for any running job: it is never handed back).
        """
        while True:
            await asyncio.sleep(self.cancel_poll_interval)
            watched = [i for i, flag in self._cancel_signals.items() if not flag.is_set()]
            if not watched:
                continue
            try:
                requested = await self._call(self.store.cancel_requested, watched)
            except Exception as error:
                self._emit("cancel_check_failed", error=str(error))
                continue
            cancelling = [job_id for job_id in sorted(requested) if self._cancel_running(job_id)]
            if cancelling:
                self._emit("cancelling", job_ids=cancelling)

    def _cancel_running(self, job_id: int) -> bool:
        flag = self._cancel_signals.get(job_id)
        entry = self._running.get(job_id)
        if flag is None or entry is None or flag.is_set():
            return False  # ended meanwhile
        flag.set()
        job, attempt = entry
        task = self.app.tasks.get(job.task)
        if task is not None and task.is_async:
            attempt.cancel()
        return True

    async def _change_poller(self) -> None:
        """Backends without notifications: watch a cheap change counter, a few ms apart."""
        counter: Callable[[], int] | None = getattr(self.store, "change_counter", None)
        if counter is None:
            return
        last = -1
        while True:
            await asyncio.sleep(0.002 if self._running else 0.005)
            try:  # not `_tracked`: a read that works while writes are locked out ends no outage
                current = await self._call(counter)
            except StoreError:
                await asyncio.sleep(STORE_RETRY_MAX)
                continue
            if current != last:
                last = current
                self._wake_soon()

    # -- wake-ups, signals, shutdown ------------------------------------------------------

    def _wake_soon(self) -> None:
        if self._loop is None or self._wake is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            self._wake.set()
        elif not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake.set)

    def _start_wakeups(self) -> Callable[[], None] | None:
        self.app._wakers.add(self._wake_soon)
        return self.store.wake_listener(self._wake_soon)

    def _begin_stop(self) -> None:
        """First signal: stop claiming, give running jobs the grace period. Second: end the grace
        now (async jobs are handed back, threads still waited for). Third: leave the jobs whose
        threads still run to their lease's expiry and exit."""
        assert self._grace_over is not None and self._abandon is not None
        self._signals += 1
        if self._signals == 1 or not self._stopping:
            self._stopping = True
            self._emit("stopping", running=len(self._running), grace=self.grace)
            if self._wake is not None:
                self._wake.set()
        elif not self._grace_over.is_set():
            self.grace = 0
            self._grace_over.set()
            threads = self._thread_job_ids()
            self._emit(
                "stopping_now",
                handing_back=sorted(set(self._running) - set(threads)),
                waiting_for_threads=threads,
            )
        else:
            self._abandon.set()

    async def _drain(self) -> None:
        """Give running jobs `grace` seconds, then hand the async ones back to the queue.

        A sync job runs in a thread, which cannot be interrupted: it is waited for (its lease
        still renewed), since handing it back would let another worker run it meanwhile. Only a
        third signal stops the wait; those jobs then run again once their lease expires.
        """
        assert self._grace_over is not None and self._abandon is not None
        if not self._running:
            return
        tasks = {task for _, task in self._running.values()}
        await _wait_unless(tasks, self._grace_over, self.grace)
        threads = {task for job, task in self._running.values() if self._in_thread(job)}
        cancelled = {task for task in tasks - threads if not task.done()}
        for task in cancelled:
            task.cancel()
        if cancelled:
            await asyncio.wait(cancelled, timeout=5)
        if any(not task.done() for task in threads):
            self._emit(
                "waiting_for_threads",
                job_ids=self._thread_job_ids(),
                hint="a second signal ends the grace period; a third exits, leaving these jobs"
                " to run again after their lease expires",
            )
            await _wait_unless(threads, self._abandon, None)
        abandoned = self._thread_job_ids()
        if abandoned:
            self.stats.abandoned = len(abandoned)
            for job_id in abandoned:
                self._running.pop(job_id, None)  # no outcome, no renewal: the lease will expire
            self._emit("abandoned", job_ids=abandoned, lease_seconds=self.lease_seconds)

    def _thread_job_ids(self) -> list[int]:
        return sorted(
            job.id
            for job, task in self._running.values()
            if self._in_thread(job) and not task.done()
        )

    def _in_thread(self, job: ClaimedJob) -> bool:
        task = self.app.tasks.get(job.task)
        return task is not None and not task.is_async

    def _install_signals(self) -> None:
        if not self.install_signal_handlers or self._loop is None:
            return
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                self._loop.add_signal_handler(sig, self._begin_stop)

    def _remove_signals(self) -> None:
        if not self.install_signal_handlers or self._loop is None:
            return
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                self._loop.remove_signal_handler(sig)

    async def _call(
        self, fn: Callable[..., T], *args: Any, executor: ThreadPoolExecutor | None = None
    ) -> T:
        assert self._loop is not None
        return await self._loop.run_in_executor(executor or self._db, fn, *args)

    async def _tracked(
        self, fn: Callable[..., T], *args: Any, executor: ThreadPoolExecutor | None = None
    ) -> T:
        """`_call` for the worker's own store traffic, telling the outage log how it went."""
        began = time.monotonic()
        try:
            result = await self._call(fn, *args, executor=executor)
        except StoreError as error:
            if self._down_since is None and began >= self._back_since:
                self._down_since = time.monotonic()
                self._emit("store_unavailable", error=str(error))
            raise
        if self._down_since is not None and began >= self._down_since:
            now = time.monotonic()
            outage, self._down_since, self._back_since = now - self._down_since, None, now
            self._emit("store_available", outage_seconds=round(outage, 3))
        return result

    async def _until_answered(self, fn: Callable[..., T], *args: Any) -> T | None:
        """A store call of the claim loop, repeated with capped backoff until the store answers
        (a database restart or outage, a SQLite lock past the busy timeout, a disk error).
        None when the worker is asked to stop meanwhile."""
        delay = STORE_RETRY_FIRST
        while True:
            try:
                return await self._tracked(fn, *args)
            except StoreError:
                await asyncio.sleep(delay)
                delay = min(delay * 2, STORE_RETRY_MAX)
                if self._stopping:
                    return None

    def _emit(self, event: str, **fields: Any) -> None:
        for middleware in self.middleware:
            middleware.worker_event(event, **fields)


async def _wait_unless(
    tasks: set[asyncio.Task[None]], stop: asyncio.Event, timeout: float | None
) -> None:
    """Wait for every task, at most `timeout` seconds, and no longer once `stop` is set."""
    if stop.is_set():
        return
    everything = asyncio.ensure_future(asyncio.wait(tasks))
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait(
            [everything, stopped], timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        everything.cancel()  # cancels the wait only, never the tasks
        stopped.cancel()


def _load(task: Task, job: ClaimedJob) -> Any:
    """The task's argument for a claimed row, which another program may have written."""
    for name in ("priority", "attempt", "max_attempts"):
        value = getattr(job, name)
        if type(value) is not int:
            raise TypeError(f"{name} {value!r:.60} is not an integer")
    if not isinstance(job.payload, str):
        raise TypeError(f"payload {job.payload!r:.60} is not JSON text")
    return task.load(job.payload)


def _describe_load_error(error: Exception) -> str:
    if isinstance(error, ValidationError):
        return f"the payload does not match the task's schema: {first_problem(error)}"
    if isinstance(error, json.JSONDecodeError):
        return f"the payload is not JSON: {error}"
    return str(error) or type(error).__name__
