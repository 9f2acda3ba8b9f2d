"""`run_now`: one attempt of a task in the caller, through the worker's attempt runner.

The same connections, rate limits, breakers, timeout and middleware as in a worker, but nothing
is claimed: the job is built (validated, serialised), run once as job id 0, and stored only when
asked (`persist=True`), as it ended. A postponement stores nothing and raises `Postponed`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol, Unpack

from .errors import Postpone, Postponed
from .events import EventSink
from .job import ClaimedJob, NewJob
from .middleware import Middleware
from .runner import AttemptRunner
from .store import Store
from .store.batches import with_lineage
from .task import Task
from .types import JobOptions


class RunNowTasks(Protocol):
    """What `run_now` needs of the task registry: build a job, find its task, store children."""

    def get_task(self, name: str) -> Task: ...
    def build_job(
        self, task: str | Task, payload: Any = None, **options: Unpack[JobOptions]
    ) -> NewJob: ...
    def store_jobs(self, jobs: Sequence[NewJob]) -> list[int]: ...


class RunNow:
    """Runs attempts in the caller (`app.run_now_async`)."""

    def __init__(self, tasks: RunNowTasks, store: Callable[[], Store], events: EventSink) -> None:
        self.tasks = tasks
        self.store = store
        self.events = events

    async def run(
        self,
        task: str | Task,
        payload: Any = None,
        *,
        persist: bool = False,
        middleware: Sequence[Middleware] = (),
    ) -> Any:
        """One attempt: the result, or what the task raised (`Postponed` for a postponement).
        With `persist=True` the job is recorded as it ended (succeeded or dead), and the
        children it enqueued are stored after it, as its children."""
        job = self.tasks.build_job(task, payload)
        started = time.time()
        runner = AttemptRunner(
            self.tasks, middleware=middleware, events=self.events, builder=self.tasks
        )
        claimed = ClaimedJob(0, job.task, job.queue, job.payload, job.key, 1, 1, job.priority, 0)
        attempt = await runner.run(claimed)
        fanout = runner.extras.take(0)
        outcome, error = attempt.outcome, attempt.error
        if outcome.kind == "handback":  # the caller was cancelled
            raise asyncio.CancelledError
        if isinstance(error, Postpone):  # nothing was attempted: nothing to record
            if isinstance(error, Postponed):
                raise error
            raise Postponed(error.after, error.reason) from None
        parent_id = None
        if persist:
            state = "succeeded" if error is None else "dead"
            parent_id = await asyncio.to_thread(
                self.store().record_finished, job, state, started, outcome.result, outcome.error
            )
        if error is None and fanout is not None and fanout.children:  # after the parent's end
            children = with_lineage(fanout.children, parent_id, None) if parent_id else []
            await asyncio.to_thread(self.tasks.store_jobs, children or fanout.children)
        if error is not None:
            raise error
        return attempt.result
