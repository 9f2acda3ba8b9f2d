"""Burst mode: when a worker started with `burst=True` is done, and what it leaves postponed.

A burst worker runs until nothing is runnable: nothing running, no job due within `burst_wait`
(retry delays, `run_at`), and no postponed job due within `burst_postponed`. A postponement (a
rate limit, an open or probing breaker, a connection slowed by a 429/503, a task's `Postpone`)
is waited for while it is short: the jobs behind a `5/s` limit are all sent, a 1 s back-off is
ridden out. One due later is left postponed: a remote that keeps answering 429 doubles its
back-off up to 60 s, a breaker cools off for 30 s, and a burst run (a cron job, a CI step) must
not sit that out again and again. Jobs on hold (a paused connection, one this worker does not
declare) wait for someone and never hold it. Leaving jobs postponed, the worker says how many and
until when (`LeftPostponed`, a warning in the log).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

from .event_bus import EventSink
from .events import LeftPostponed
from .job import PostponedJobs
from .politeness import clock_text
from .store.jobs import JobStore

T = TypeVar("T")

# The longest postponement a burst worker waits for, by default (`--burst-postponed`).
BURST_POSTPONED = 10.0


class Ask(Protocol):
    """A store call retried through an outage; None when the worker is asked to stop meanwhile
    (`Worker._until_answered`)."""

    async def __call__(self, fn: Callable[..., T], /, *args: object) -> T | None: ...


class BurstRule:
    """Whether a burst worker with nothing running and every outcome written is done."""

    def __init__(
        self,
        store: JobStore,
        queues: Sequence[str] | None,
        tasks: Sequence[str],
        *,
        wait: float,
        postponed: float,
        ask: Ask,
        events: EventSink,
        worker_id: str,
    ) -> None:
        self.store = store
        self.queues = queues
        self.tasks = tasks
        self.wait = wait  # `burst_wait`
        self.postponed = postponed  # `burst_postponed`
        self.ask = ask
        self.events = events
        self.worker_id = worker_id
        self.left = 0  # the postponed jobs it exited without (`WorkerStats.left_postponed`)

    async def done(self) -> bool:
        """True when no job of its queues and tasks is due within `wait` and no postponed one
        (not on hold) within `postponed`; then the postponed jobs left behind are reported."""
        due = await self.ask(self.store.seconds_until_due, self.queues, self.tasks)
        if due is not None and due <= self.wait:
            return False
        left = await self.ask(self.store.postponed_jobs, self.queues, self.tasks)
        if left is None:  # asked to stop meanwhile
            return True
        if left.throttled_in is not None and left.throttled_in <= self.postponed:
            return False
        if left.jobs:
            self.left = left.jobs
            self.events.publish(self.report(left))
        return True

    def report(self, left: PostponedJobs) -> LeftPostponed:
        span = f"due {clock_text(left.first_due)} to {clock_text(left.last_due)}"
        held = f", {left.on_hold} on hold until resumed" if left.on_hold else ""
        hint = (
            f"exiting with {left.jobs} job(s) postponed ({span}{held}): the burst worker waits"
            f" for a postponement only up to {self.postponed:g} s (--burst-postponed);"
            " `conveyor jobs list --state queued` shows them, and a later run takes them"
        )
        return LeftPostponed(
            self.worker_id, left.jobs, left.on_hold, left.first_due, left.last_due, hint
        )
