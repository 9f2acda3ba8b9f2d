"""How a worker stops: signals, the grace period, handing back, and waiting for threads.

First SIGTERM/SIGINT (or `request_stop`): stop claiming, running jobs get `grace` seconds.
Second: the grace ends now (async jobs are handed back, threads still waited for). Third: leave
the jobs whose threads still run to their lease's expiry and exit. A sync job runs in a thread,
which cannot be interrupted: it is never handed back while its code runs, since another worker
could then run it at the same time.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Mapping

from .events import EventSink, JobsAbandoned, WaitingForThreads, WorkerStopping, WorkerStoppingNow
from .job import ClaimedJob

Running = Mapping[int, tuple[ClaimedJob, "asyncio.Future[None]"]]
SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Shutdown:
    """The stop state of one worker: whether it is stopping, and how far (signals so far)."""

    def __init__(self, grace: float, events: EventSink, worker_id: str) -> None:
        self.grace = grace
        self.events = events
        self.worker_id = worker_id
        self.stopping = False
        self.signals = 0
        self.grace_over = asyncio.Event()
        self.abandon = asyncio.Event()

    def signal(self, running: Running, in_thread: Callable[[ClaimedJob], bool]) -> None:
        """One more stop signal (see the module docstring for what each one does)."""
        self.signals += 1
        if self.signals == 1 or not self.stopping:
            self.stopping = True
            self.events.publish(WorkerStopping(self.worker_id, len(running), self.grace))
        elif not self.grace_over.is_set():
            self.grace = 0
            self.grace_over.set()
            threads = thread_job_ids(running, in_thread)
            self.events.publish(
                WorkerStoppingNow(self.worker_id, sorted(set(running) - set(threads)), threads)
            )
        else:
            self.abandon.set()

    async def drain(
        self, running: Running, in_thread: Callable[[ClaimedJob], bool], lease_seconds: float
    ) -> list[int]:
        """Give running jobs `grace` seconds, then hand the async ones back to the queue, and
        wait for the threads (their leases still renewed) until the third signal. Returns the
        ids of the jobs left running in threads, with no outcome: they run again once their
        lease expires."""
        if not running:
            return []
        tasks = {task for _, task in running.values()}
        await wait_unless(tasks, self.grace_over, self.grace)
        threads = {task for job, task in running.values() if in_thread(job)}
        cancelled = {task for task in tasks - threads if not task.done()}
        for task in cancelled:
            task.cancel()
        if cancelled:
            await asyncio.wait(cancelled, timeout=5)
        if any(not task.done() for task in threads):
            self.events.publish(
                WaitingForThreads(
                    self.worker_id,
                    thread_job_ids(running, in_thread),
                    "a second signal ends the grace period; a third exits, leaving these jobs"
                    " to run again after their lease expires",
                )
            )
            await wait_unless(threads, self.abandon, None)
        abandoned = thread_job_ids(running, in_thread)
        if abandoned:
            self.events.publish(JobsAbandoned(self.worker_id, abandoned, lease_seconds))
        return abandoned


def thread_job_ids(running: Running, in_thread: Callable[[ClaimedJob], bool]) -> list[int]:
    """The running jobs whose sync code still runs in a thread."""
    return sorted(job.id for job, task in running.values() if in_thread(job) and not task.done())


async def wait_unless(
    tasks: set[asyncio.Future[None]], stop: asyncio.Event, timeout: float | None
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


def install_signals(loop: asyncio.AbstractEventLoop, handler: Callable[[], None]) -> None:
    for sig in SIGNALS:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, handler)


def remove_signals(loop: asyncio.AbstractEventLoop) -> None:
    for sig in SIGNALS:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.remove_signal_handler(sig)
