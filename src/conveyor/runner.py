"""One attempt of one job, the same in a worker and in `run_now`.

Loads the payload (a row that cannot be loaded is dead at once: retrying would load the same row
again), binds `current_job()` with its cancel flag, calls the task under its timeout (an async
task is cancelled at the deadline; a sync task's thread is waited for, never abandoned), calls the
middleware hooks, and classifies what happened into an `Outcome`: succeeded, retry or dead
(`retry.decide`), postponed (with its reason), cancelled, or handed back when the attempt itself
was cancelled (a worker stopping). The caller decides what to do with it: the worker writes it,
`run_now` returns the result or raises the error.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import time
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import ValidationError

from .errors import Postpone
from .events import EventSink, ThreadOverran
from .job import ClaimedJob, Outcome
from .middleware import Middleware
from .retry import DEFAULT_RETRY, RetryPolicy, decide
from .store.base import error_record
from .task import CancelFlag, JobContext, Task, bind_current, unbind_current
from .task import _first as first_problem


class TaskLookup(Protocol):
    """Where the runner finds a job's task (the app's task registry)."""

    def get_task(self, name: str) -> Task: ...


@dataclass(slots=True)
class Attempt:
    """How one attempt ended: the `outcome` a worker writes, and for `run_now` the task's
    return value or the exception it raised (a `Postpone` for a postponement)."""

    outcome: Outcome
    seconds: float = 0.0
    result: Any = None
    error: BaseException | None = None


class AttemptRunner:
    """Runs attempts of the tasks in `tasks`. `threads` runs sync tasks (the loop's default
    executor when None); `events` hears of threads that overrun their timeout."""

    def __init__(
        self,
        tasks: TaskLookup,
        *,
        middleware: Sequence[Middleware] = (),
        events: EventSink | None = None,
        threads: Executor | None = None,
    ) -> None:
        self.tasks = tasks
        self.middleware = list(middleware)
        self.events = events
        self.threads = threads

    async def run(self, job: ClaimedJob, cancel: CancelFlag | None = None) -> Attempt:
        """One attempt. `cancel` is set when an operator cancels the job: the attempt then
        ends `cancelled` whatever it did. Cancelling the awaiting task hands the job back.
        `current_job()` is bound for the whole attempt, middleware hooks included."""
        if cancel is None:
            cancel = CancelFlag()
        context = JobContext(
            job.id, job.task, job.key, job.attempt, job.max_attempts, job.queue, cancel
        )
        token = bind_current(context)
        try:
            started = time.monotonic()
            for middleware in self.middleware:
                middleware.before_attempt(job)
            try:
                attempt = await self._cancellable(job, cancel)
            except asyncio.CancelledError:
                attempt = Attempt(Outcome(job.id, job.token, "handback", key=job.key))
            attempt.seconds = time.monotonic() - started
            for middleware in self.middleware:
                middleware.after_attempt(job, attempt.outcome, attempt.seconds)
            return attempt
        finally:
            unbind_current(token)

    async def _cancellable(self, job: ClaimedJob, cancel: CancelFlag) -> Attempt:
        """`_execute`, ending `cancelled` if the job was cancelled while it ran.

        Whatever the attempt did after the request (got `CancelledError`, returned early, raised),
        the job is not retried: the cancel wins. The store applies the same rule to a request the
        worker had not learnt of yet.
        """
        try:
            attempt = await self._execute(job)
        except asyncio.CancelledError:
            if not cancel.is_set():
                raise  # a shutdown: the job is handed back
            current = asyncio.current_task()
            if current is not None:
                current.uncancel()  # ours, and handled: the attempt carries on
            return Attempt(Outcome(job.id, job.token, "cancelled", key=job.key))
        outcome = attempt.outcome
        if cancel.is_set() and outcome.kind != "cancelled":
            attempt.outcome = Outcome(
                job.id,
                job.token,
                "cancelled",
                key=job.key,
                result=outcome.result,
                error=outcome.error,
            )
        return attempt

    async def _execute(self, job: ClaimedJob) -> Attempt:
        retry_policy: RetryPolicy = DEFAULT_RETRY
        try:
            task = self.tasks.get_task(job.task)
            retry_policy = task.retry
            try:
                argument = load(task, job)
            except Exception as error:  # retrying would load the same row again: dead now
                return unloadable(job, error)
            result = await self._call_task(task, argument, job)
            outcome = Outcome(
                job.id, job.token, "succeeded", key=job.key, result=task.result_json(result)
            )
            return Attempt(outcome, result=result)
        except asyncio.CancelledError:
            raise
        except Postpone as postpone:
            outcome = Outcome(
                job.id,
                job.token,
                "postpone",
                key=job.key,
                delay=postpone.after,
                reason=postpone.reason,
            )
            return Attempt(outcome, error=postpone)
        except Exception as error:
            return Attempt(failure(job, error, retry_policy), error=error)

    async def _call_task(self, task: Task, argument: Any, job: ClaimedJob) -> Any:
        if not task.is_async:
            return await self._call_in_thread(task, argument, job)
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

    async def _call_in_thread(self, task: Task, argument: Any, job: ClaimedJob) -> Any:
        """A sync task's attempt ends when its thread does, never before: a thread cannot be
        stopped, and a job reported finished or handed back while its code still runs could run
        twice at once. Past its timeout it is waited for, then failed as timed out; a cancel
        (a second Ctrl-C) waits likewise and reports what the thread really did."""
        ctx = contextvars.copy_context()
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self.threads, ctx.run, task.call, argument)
        overran = False
        while not future.done():
            try:
                await asyncio.wait([future], timeout=None if overran else task.timeout)
            except asyncio.CancelledError:
                continue
            if not future.done():
                overran = True
                if self.events is not None:
                    self.events.publish(ThreadOverran(job.id, task.name, task.timeout))
        if overran:
            raise TimeoutError(
                f"attempt timed out after {task.timeout} s (its thread ran on until it returned)"
            )
        return future.result()


def load(task: Task, job: ClaimedJob) -> Any:
    """The task's argument for a claimed row, which another program may have written."""
    for name in ("priority", "attempt", "max_attempts"):
        value = getattr(job, name)
        if type(value) is not int:
            raise TypeError(f"{name} {value!r:.60} is not an integer")
    if not isinstance(job.payload, str):
        raise TypeError(f"payload {job.payload!r:.60} is not JSON text")
    return task.load(job.payload)


def failure(job: ClaimedJob, error: BaseException, policy: RetryPolicy) -> Outcome:
    decision = decide(error, job.attempt, job.max_attempts, policy)
    record = error_record(error, job.attempt, time.time())
    if decision.retry:
        return Outcome(job.id, job.token, "retry", key=job.key, error=record, delay=decision.delay)
    return Outcome(job.id, job.token, "dead", key=job.key, error=record)


def unloadable(job: ClaimedJob, error: Exception) -> Attempt:
    record = error_record(error, job.attempt, time.time())
    record["message"] = f"cannot load job: {_describe_load_error(error)}"
    return Attempt(Outcome(job.id, job.token, "dead", key=job.key, error=record), error=error)


def _describe_load_error(error: Exception) -> str:
    if isinstance(error, ValidationError):
        return f"the payload does not match the task's schema: {first_problem(error)}"
    if isinstance(error, json.JSONDecodeError):
        return f"the payload is not JSON: {error}"
    return str(error) or type(error).__name__
