"""The worker: claims jobs in batches, runs them on one event loop, writes outcomes in batches.

Store calls run on database threads (`outage.StoreLink`), so the loop never blocks on the
database. An async task's attempt is an asyncio task; a sync task's runs on the worker's threads
(`thread_pool.py`), which hand outcomes back in batches. Each attempt goes through the attempt
runner (`runner.py`, shared with `run_now`); its outcome is published (`conveyor.events`) and
collected for a few milliseconds, then written in one transaction (`flushing.py`): a job that
finished but was not written yet simply runs again after a crash (at-least-once). Side tasks live
in `services.py`, the stop sequence in `shutdown.py`, when a burst worker is done in `burst.py`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar, Unpack

import structlog

from . import services
from .batches.fanout import outcome_extra
from .batches.progress import flush_progress, unwritten_progress
from .burst import BURST_POSTPONED, BurstRule
from .claiming import ClaimSize
from .errors import ConfigurationError, StoreError
from .events import (
    Event,
    EventBus,
    LeaseLost,
    WorkerStarted,
    WorkerStopped,
    job_event,
)
from .flushing import OutcomeWriter
from .job import ClaimedJob, NewJob, Outcome, OutcomeKind
from .logs import configure_logging
from .middleware import Middleware
from .outage import StoreLink
from .runner import Attempt, AttemptRunner, ThreadAttempt
from .shutdown import Shutdown, install_signals, remove_signals
from .store import Store
from .store.batches import ProgressRow
from .task import CancelFlag, Task
from .thread_pool import ThreadPool
from .types import JobOptions
from .workers import worker_tasks

T = TypeVar("T")


class WorkerApp(Protocol):
    """What a worker needs of its application: the app passes itself."""

    @property
    def tasks(self) -> Mapping[str, Task]: ...
    @property
    def connections(self) -> Mapping[str, object]: ...
    @property
    def sources(self) -> Mapping[str, object]: ...
    @property
    def store(self) -> Store: ...
    @property
    def lease_seconds(self) -> float: ...
    @property
    def events(self) -> EventBus: ...
    @property
    def local_wakers(self) -> set[Callable[[], None]]: ...
    def get_task(self, name: str) -> Task: ...
    def build_job(
        self, task: str, payload: Any = None, **options: Unpack[JobOptions]
    ) -> NewJob: ...
    async def close_remote(self) -> None: ...


class SideService(Protocol):
    """A loop run beside the claim loop until the worker stops (the scheduler)."""

    async def run(self) -> None: ...


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
    left_postponed: int = 0  # burst: postponed jobs due later than `burst_postponed`, left
    started_at: float = field(default_factory=time.monotonic)


# WorkerStats counter per outcome kind.
_COUNTED = {
    "succeeded": "succeeded",
    "retry": "retried",
    "dead": "dead",
    "postpone": "postponed",
    "cancelled": "cancelled",
    "handback": "handed_back",
}


class Worker:
    """Runs jobs of `queues` (all when None), up to `concurrency` at once.

    `burst`: exit once nothing is runnable: nothing running, no job due within `burst_wait`
    seconds (retry delays, `run_at`), and no postponed job due within `burst_postponed` seconds.
    A short postponement (a rate limit's next token, a first back-off) is waited for, so rate
    limited jobs are all run; a longer one (a remote that keeps answering 429/503, an open
    breaker's cool-off, a task's long `Postpone`) is left postponed, and the worker logs how many
    jobs it left and when they are due (`LeftPostponed`). Jobs on hold (a paused connection) never
    hold it (`burst.py`).
    `grace`: seconds that running jobs get to finish on SIGTERM/SIGINT before async ones are
    handed back; a second signal ends the grace at once; a third leaves jobs whose threads still
    run to their lease's expiry and exits the process (a thread cannot be stopped, and a job whose
    code still runs is never handed back). Sync tasks run on `concurrency` threads
    (`thread_pool.py`); while only quick ones run, as many again are claimed ahead (they wait for a
    thread; at most `concurrency` jobs run at once). `poll_interval`: the safety-net poll when
    no wake-up arrives. `middleware`: hooks around each attempt; everything else is an event on
    `app.events` (logged by the app's `Logging` subscriber).
    """

    def __init__(
        self,
        app: WorkerApp,
        *,
        queues: Sequence[str] | None = None,
        concurrency: int = 10,
        burst: bool = False,
        burst_wait: float = 0.1,
        burst_postponed: float = BURST_POSTPONED,
        grace: float = 30.0,
        poll_interval: float = 1.0,
        flush_interval: float = 0.002,
        middleware: Sequence[Middleware] | None = None,
        install_signal_handlers: bool = True,
        worker_id: str | None = None,
        scheduler: SideService | None = None,
    ) -> None:
        if concurrency < 1:
            raise ConfigurationError("concurrency must be at least 1")
        if burst_wait < 0 or burst_postponed < 0:
            raise ConfigurationError("burst_wait and burst_postponed must be >= 0 seconds")
        # Only jobs of these tasks are claimed: one this worker cannot run keeps its attempts.
        self.tasks = worker_tasks(app.tasks, bool(app.connections), bool(app.sources))
        if not self.tasks:
            raise ConfigurationError(
                "no tasks registered: a worker needs tasks (@app.task) or a declared connection"
                " (for deliveries); is the application that declares them imported?"
            )
        self.app = app
        self.scheduler = scheduler  # `--scheduler`: fire the app's schedules beside the jobs
        self.store = app.store
        self.events = app.events
        self.queues = list(queues) if queues else None
        self.concurrency = concurrency
        self.burst = burst
        self.burst_wait = burst_wait
        self.burst_postponed = burst_postponed
        self.poll_interval = poll_interval
        self.flush_interval = flush_interval
        if not structlog.is_configured():
            configure_logging()
        self.middleware = list(middleware or [])
        self.install_signal_handlers = install_signal_handlers
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{os.urandom(3).hex()}"
        self.lease_seconds = app.lease_seconds
        self.cancel_poll_interval = 0.5
        self.claims = ClaimSize(concurrency)
        self.stats = WorkerStats()
        self.link = StoreLink(self.events, self.worker_id)
        self.shutdown = Shutdown(grace, self.events, self.worker_id)
        self.runner = AttemptRunner(
            app, middleware=self.middleware, events=self.events, builder=app
        )
        self._threads = ThreadPool(concurrency, self.runner, self._sync_done)
        # Each running job's handle: its asyncio task, or for a sync job a future set when its
        # thread's outcome is back on the loop.
        self._running: dict[int, tuple[ClaimedJob, asyncio.Future[None]]] = {}
        self._async_running = 0
        self._sync_running = 0  # in the threads or queued for them
        self._held: deque[ClaimedJob] = deque()  # async jobs claimed ahead, not started yet
        self._wake = asyncio.Event()  # bound to the loop of `run` on first use, like the writer
        self.writer = OutcomeWriter(
            self.store,
            self.link,
            self.events,
            self.worker_id,
            batch=concurrency,
            interval=flush_interval,
            written=self._wake.set,
        )
        self.burst_rule = BurstRule(
            self.store,
            self.queues,
            self.tasks,
            wait=burst_wait,
            postponed=burst_postponed,
            ask=self._until_answered,
            events=self.events,
            worker_id=self.worker_id,
        )
        # One per attempt under way; set when an operator cancels the job (`current_job()`).
        self._cancel_signals: dict[int, CancelFlag] = {}
        # The loop of `run` (a worker runs once: its threads end with it).
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def grace(self) -> float:
        return self.shutdown.grace

    # -- public ---------------------------------------------------------------------------

    def request_stop(self) -> None:
        """Stop claiming; running jobs get `grace` seconds. Safe from any thread."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._begin_stop)
        else:
            self.shutdown.stopping = True

    async def run(self) -> WorkerStats:
        self._loop = asyncio.get_running_loop()
        self.app.local_wakers.add(self.wake_soon)
        stop_listener = self.store.wake_listener(self.wake_soon)
        if self.install_signal_handlers:
            install_signals(self._loop, self._begin_stop)
        side_tasks = [
            asyncio.create_task(self.writer.run(), name="conveyor-flush"),
            asyncio.create_task(services.renew_leases(self), name="conveyor-renew"),
            asyncio.create_task(services.recover_expired(self), name="conveyor-recover"),
            asyncio.create_task(services.watch_cancels(self), name="conveyor-cancel"),
            asyncio.create_task(flush_progress(self), name="conveyor-progress"),
        ]
        if self.scheduler is not None:
            side_tasks.append(asyncio.create_task(self.scheduler.run(), name="conveyor-schedule"))
        if stop_listener is None:
            side_tasks.append(
                asyncio.create_task(services.poll_changes(self), name="conveyor-poll")
            )
        self.publish(WorkerStarted(self.worker_id, self.queues, self.tasks, self.concurrency))
        try:
            # Not seen by operators until the store answers: the heartbeat registers it then.
            with contextlib.suppress(StoreError):
                await self.link.tracked(services.register, self)
            await self._claim_loop()
            self._hand_back_unstarted()  # a claim that was under way as the stop began
            abandoned = await self.shutdown.drain(
                self._running, self._in_thread, self.lease_seconds
            )
            self.stats.abandoned = len(abandoned)
            for job_id in abandoned:
                self._running.pop(job_id, None)  # no outcome, no renewal: the lease will expire
        finally:
            for side_task in side_tasks:
                side_task.cancel()
            await asyncio.gather(*side_tasks, return_exceptions=True)
            await self.writer.flush()
            with contextlib.suppress(Exception):  # if not now, it is pruned after 3 leases
                await self.link.call(self.store.unregister_worker, self.worker_id)
            await self.app.close_remote()
            if stop_listener is not None:
                stop_listener()
            self.app.local_wakers.discard(self.wake_soon)
            if self.install_signal_handlers:
                remove_signals(self._loop)
            self.link.close()
            self._threads.close()
            stats = self.stats
            self.publish(WorkerStopped(self.worker_id, stats.succeeded, stats.retried, stats.dead))
        if self.stats.abandoned and self.install_signal_handlers:
            # Three signals: the process must end now, and the abandoned threads would keep it
            # alive (and their jobs running) past their lease. Everything else is written.
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(130)
        return self.stats

    # -- the loop -------------------------------------------------------------------------

    async def _claim_loop(self) -> None:
        more_likely = True
        while not self.shutdown.stopping:
            self._wake.clear()  # before looking: a wake-up from here on is never lost
            free = self.claims.free(len(self._running), bool(self._async_running or self._held))
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
            if self.burst and not self._running and not more_likely and await self._drained():
                return
            timeout = await self._wait_timeout() if not more_likely else self.poll_interval
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
            if not self.shutdown.stopping:
                more_likely = True

    async def _drained(self) -> bool:
        """Burst mode: nothing is running; once every outcome is written, the rule decides."""
        await self.writer.flush()
        done = await self.burst_rule.done()
        self.stats.left_postponed = self.burst_rule.left
        return done

    async def _wait_timeout(self) -> float:
        due = await self._until_answered(self.store.seconds_until_due, self.queues, self.tasks)
        if due is None:
            return self.poll_interval
        return min(self.poll_interval, max(due, 0.001))

    def _start(self, job: ClaimedJob) -> None:
        cancel = self._cancel_signals.setdefault(job.id, CancelFlag())
        if self._in_thread(job):
            self._sync_running += 1
            self._running[job.id] = (job, self._loop_future())
            self._threads.submit(self.runner.begin(job, cancel))
        elif self._sync_running + self._async_running >= self.concurrency:
            self._running[job.id] = (job, self._loop_future())
            self._held.append(job)  # claimed ahead: starts once a slot is free
        else:
            self._async_running += 1
            self._running[job.id] = (job, asyncio.create_task(self._attempt(job, cancel)))

    def _start_held(self) -> None:
        while self._held and self._sync_running + self._async_running < self.concurrency:
            job = self._held.popleft()
            waiting = self._running.pop(job.id)[1]
            if not waiting.done():
                waiting.set_result(None)
            if self._cancel_signals[job.id].is_set():  # cancelled before it started
                self._cancel_signals.pop(job.id)
                self._finished(job, Attempt(Outcome(job.id, job.token, "cancelled", key=job.key)))
            else:
                self._start(job)

    def _hand_back_held(self) -> None:
        """A worker stopping: the async jobs claimed ahead and not started go back now."""
        while self._held:
            job = self._held.popleft()
            cancel = self._cancel_signals.pop(job.id)
            waiting = self._running.pop(job.id)[1]
            if not waiting.done():
                waiting.set_result(None)
            kind: OutcomeKind = "cancelled" if cancel.is_set() else "handback"
            self._finished(job, Attempt(Outcome(job.id, job.token, kind, key=job.key)))

    def _loop_future(self) -> asyncio.Future[None]:
        assert self._loop is not None
        return self._loop.create_future()

    async def _attempt(self, job: ClaimedJob, cancel: CancelFlag) -> None:
        try:
            attempt = await self.runner.run(job, cancel)
        finally:
            self._cancel_signals.pop(job.id, None)
            self._async_running -= 1
        self._finished(job, attempt)
        self._running.pop(job.id, None)
        if not self.shutdown.stopping:
            self._start_held()
            self._wake.set()

    def _sync_done(self, batch: list[ThreadAttempt]) -> None:
        """A batch of sync attempts whose threads returned (on the loop, one call per batch)."""
        for call in batch:
            job = call.job
            self._cancel_signals.pop(job.id, None)
            entry = self._running.pop(job.id, None)
            if entry is None:  # abandoned (a third signal): no outcome, its lease expires
                continue
            self._sync_running -= 1
            if call.call_started is not None and call.call_ended is not None:
                self.claims.took(call.call_ended - call.call_started)
            self._finished(job, self.runner.end(call))
            entry[1].set_result(None)
        if not self.shutdown.stopping:
            self._start_held()
            self._wake.set()

    def _finished(self, job: ClaimedJob, attempt: Attempt) -> None:
        fanout = self.runner.extras.take(job.id)
        if fanout is not None or job.batch_id is not None:  # else the plain, fast write
            attempt.outcome.extra = outcome_extra(attempt.outcome.kind, job.batch_id, fanout)
        self.publish(job_event(job, attempt.outcome, attempt.seconds))
        counter = _COUNTED[attempt.outcome.kind]
        setattr(self.stats, counter, getattr(self.stats, counter) + 1)
        self.writer.add(attempt.outcome)

    async def _until_answered(self, fn: Callable[..., T], *args: object) -> T | None:
        return await self.link.until_answered(lambda: self.shutdown.stopping, fn, *args)

    # -- what the side tasks and the stop sequence see (services.Host) -------------------

    def publish(self, event: Event) -> None:
        self.events.publish(event)

    def progress_rows(self) -> list[ProgressRow]:
        return unwritten_progress(self.runner.extras, self._running)

    def held_leases(self) -> list[tuple[int, int]]:
        held = [(job.id, job.token) for job, _ in self._running.values()]
        return held + self.writer.leases()

    def leases_lost(self, job_ids: list[int]) -> None:
        self.stats.lost_leases += len(job_ids)
        self.publish(LeaseLost(self.worker_id, job_ids))

    def uncancelled_jobs(self) -> list[int]:
        return [job_id for job_id, flag in self._cancel_signals.items() if not flag.is_set()]

    def cancel_running(self, job_id: int) -> bool:
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

    def busy(self) -> bool:
        return bool(self._running)

    def wake_soon(self) -> None:
        """Look for jobs now. Safe from any thread (a store notification, a local enqueue)."""
        if self._loop is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            self._wake.set()
        elif not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake.set)

    def _begin_stop(self) -> None:
        self.shutdown.signal(self._running, self._in_thread)
        self._hand_back_unstarted()
        self._wake.set()

    def _hand_back_unstarted(self) -> None:
        """Jobs claimed ahead that have not started go back now: nothing of theirs ran."""
        self._sync_done(self._threads.take_unstarted())
        self._hand_back_held()

    def _in_thread(self, job: ClaimedJob) -> bool:
        task = self.app.tasks.get(job.task)
        return task is not None and not task.is_async
