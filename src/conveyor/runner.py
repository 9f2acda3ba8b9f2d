"""One attempt of one job, the same in a worker and in `run_now`.

Loads the payload (a row that cannot be loaded is dead at once: retrying would load the same row
again), binds `current_job()` with its cancel flag, calls the task under its timeout (an async
task is cancelled at the deadline; a sync task's thread is waited for, never abandoned), calls the
middleware hooks, and classifies what happened into an `Outcome`: succeeded, retry or dead
(`retry.decide`), postponed (with its reason), cancelled, or handed back when the attempt itself
was cancelled (a worker stopping). The caller decides what to do with it: the worker writes it,
`run_now` returns the result or raises the error.

A sync task's attempt is a `ThreadAttempt` in three steps: `begin` on the loop (context, hooks),
`ThreadAttempt.run` in a thread (load, call, classify), `end` on the loop (the cancel rule, hooks).
`run` chains them for one job; the worker's thread pool (`thread_pool.py`) runs many at once,
without an executor future and a loop wake-up per job.
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

from .batches.fanout import AttemptExtras
from .errors import Postpone
from .events import EventSink, ThreadOverran
from .job import ClaimedJob, Outcome
from .middleware import Middleware
from .retry import DEFAULT_RETRY, RetryPolicy, decide
from .store.base import error_record
from .task import CancelFlag, JobContext, Task, bind_current, unbind_current
from .task import _first as first_problem
from .types import JobBuilder


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


class ThreadAttempt:
    """A sync task's attempt: made on the loop by `AttemptRunner.begin`, run in a thread by
    `run`, ended on the loop by `AttemptRunner.end`.

    The thread only writes plain attributes (`call_started`, `call_ended`, `attempt`), which
    the loop reads to see whether the call overran its timeout while it still runs.
    """

    __slots__ = (
        "attempt",
        "call_ended",
        "call_started",
        "cancel",
        "context",
        "handle",
        "job",
        "overran_reported",
        "started",
        "tasks",
        "timeout",
    )

    def __init__(
        self,
        job: ClaimedJob,
        cancel: CancelFlag,
        context: contextvars.Context,
        tasks: TaskLookup,
        timeout: float | None,
    ) -> None:
        self.job = job
        self.cancel = cancel
        self.context = context  # current_job() and whatever the before hooks bound
        self.tasks = tasks
        self.timeout = timeout
        self.started = time.monotonic()
        self.call_started: float | None = None
        self.call_ended: float | None = None
        self.attempt: Attempt | None = None
        self.overran_reported = False
        self.handle: Any = None  # the caller's: the pool's overrun timer

    def run(self) -> None:
        """The thread's part: load, call, classify. Never raises."""
        self.attempt = self.context.run(self._execute)

    def hand_back(self) -> None:
        """End the attempt before its thread started it: the job goes back to the queue."""
        job = self.job
        self.attempt = Attempt(Outcome(job.id, job.token, "handback", key=job.key))

    def _execute(self) -> Attempt:
        job = self.job
        if self.cancel.is_set():  # cancelled while it waited for a thread: never started
            return Attempt(Outcome(job.id, job.token, "cancelled", key=job.key))
        retry_policy: RetryPolicy = DEFAULT_RETRY
        try:
            task = self.tasks.get_task(job.task)
            retry_policy = task.retry
            try:
                argument = load(task, job)
            except Exception as error:  # retrying would load the same row again: dead now
                return unloadable(job, error)
            self.call_started = time.monotonic()
            result = task.call(argument)
        except BaseException as raised:  # a SystemExit too: it must not end the pool's thread
            self._ended()
            timed_out = TimeoutError(self._overran_message()) if self.overran() else None
            return classified(job, timed_out or raised, retry_policy)
        self._ended()
        if self.overran():
            return classified(job, TimeoutError(self._overran_message()), retry_policy)
        return succeeded(job, task, result)

    def _ended(self) -> None:
        if self.call_started is not None:
            self.call_ended = time.monotonic()

    def overran(self) -> bool:
        """True once the call has run past the timeout (still running, or ended late)."""
        if self.timeout is None or self.call_started is None:
            return False
        end = self.call_ended if self.call_ended is not None else time.monotonic()
        return end - self.call_started > self.timeout

    def overrun_deadline(self) -> float | None:
        """When the loop should look again (monotonic), or None: no timeout, or done."""
        if self.timeout is None or self.call_ended is not None:
            return None
        return (self.call_started or time.monotonic()) + self.timeout

    def _overran_message(self) -> str:
        return f"attempt timed out after {self.timeout} s (its thread ran on until it returned)"


class AttemptRunner:
    """Runs attempts of the tasks in `tasks`. `threads` runs sync tasks in `run` (the loop's
    default executor when None); `events` hears of threads that overrun their timeout."""

    def __init__(
        self,
        tasks: TaskLookup,
        *,
        middleware: Sequence[Middleware] = (),
        events: EventSink | None = None,
        threads: Executor | None = None,
        builder: JobBuilder | None = None,
    ) -> None:
        self.tasks = tasks
        self.middleware = list(middleware)
        self.events = events
        self.threads = threads
        # `current_job().enqueue/progress` of the attempts under way; `builder` makes children.
        self.extras = AttemptExtras(builder)

    async def run(self, job: ClaimedJob, cancel: CancelFlag | None = None) -> Attempt:
        """One attempt. `cancel` is set when an operator cancels the job: the attempt then
        ends `cancelled` whatever it did. Cancelling the awaiting task hands the job back
        (an async task's; a sync task's thread is waited for). `current_job()` is bound for
        the whole attempt, middleware hooks included."""
        if cancel is None:
            cancel = CancelFlag()
        task = _find(self.tasks, job.task)
        if task is not None and not task.is_async:
            return await self._run_in_thread(self.begin(job, cancel))
        context = _context(job, cancel, self.extras)
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

    # -- sync tasks -----------------------------------------------------------------------

    def begin(self, job: ClaimedJob, cancel: CancelFlag) -> ThreadAttempt:
        """On the loop: a sync attempt with `current_job()` bound in its own context, the
        before hooks run in it (what they bind, the task's thread sees)."""
        context = contextvars.copy_context()
        context.run(self._before, job, cancel)
        task = _find(self.tasks, job.task)
        return ThreadAttempt(job, cancel, context, self.tasks, task.timeout if task else None)

    def _before(self, job: ClaimedJob, cancel: CancelFlag) -> None:
        bind_current(_context(job, cancel, self.extras))  # this context is the attempt's alone
        for middleware in self.middleware:
            middleware.before_attempt(job)

    def end(self, call: ThreadAttempt) -> Attempt:
        """On the loop, once the thread returned: the cancel rule, the after hooks."""
        attempt = call.attempt
        assert attempt is not None, "end() before the thread ran the attempt"
        if call.overran() and not call.overran_reported:  # it ended before the loop looked
            self.report_overrun(call)
        attempt.outcome = _cancel_wins(call.job, call.cancel, attempt.outcome)
        attempt.seconds = time.monotonic() - call.started
        call.context.run(self._after, call.job, attempt)
        return attempt

    def _after(self, job: ClaimedJob, attempt: Attempt) -> None:
        for middleware in self.middleware:
            middleware.after_attempt(job, attempt.outcome, attempt.seconds)

    def report_overrun(self, call: ThreadAttempt) -> None:
        call.overran_reported = True
        if self.events is not None:
            self.events.publish(ThreadOverran(call.job.id, call.job.task, call.timeout))

    async def _run_in_thread(self, call: ThreadAttempt) -> Attempt:
        """A sync task's attempt ends when its thread does, never before: a thread cannot be
        stopped, and a job reported finished or handed back while its code still runs could run
        twice at once. Past its timeout it is waited for, then failed as timed out; a cancel
        (a second Ctrl-C) waits likewise and reports what the thread really did."""
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self.threads, call.run)
        while not future.done():
            timeout = None
            deadline = call.overrun_deadline()
            if deadline is not None and not call.overran_reported:
                if call.overran():
                    self.report_overrun(call)  # the thread is waited for all the same
                else:
                    timeout = max(deadline - time.monotonic(), 0.001)
            try:
                await asyncio.wait([future], timeout=timeout)
            except asyncio.CancelledError:
                continue
        return self.end(call)

    # -- async tasks ----------------------------------------------------------------------

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
        attempt.outcome = _cancel_wins(job, cancel, attempt.outcome)
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
            return succeeded(job, task, await self._call_async(task, argument))
        except asyncio.CancelledError:
            raise
        except Exception as error:
            return classified(job, error, retry_policy)

    async def _call_async(self, task: Task, argument: Any) -> Any:
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


def _find(tasks: TaskLookup, name: str) -> Task | None:
    try:
        return tasks.get_task(name)
    except Exception:  # an unknown task fails in the attempt, classified like any error
        return None


def _context(job: ClaimedJob, cancel: CancelFlag, extras: AttemptExtras) -> JobContext:
    return JobContext(
        job.id,
        job.task,
        job.key,
        job.attempt,
        job.max_attempts,
        job.queue,
        cancel,
        job.batch_id,
        extras,
    )


def _cancel_wins(job: ClaimedJob, cancel: CancelFlag, outcome: Outcome) -> Outcome:
    if not cancel.is_set() or outcome.kind == "cancelled":
        return outcome
    return Outcome(
        job.id, job.token, "cancelled", key=job.key, result=outcome.result, error=outcome.error
    )


def succeeded(job: ClaimedJob, task: Task, result: Any) -> Attempt:
    outcome = Outcome(job.id, job.token, "succeeded", key=job.key, result=task.result_json(result))
    return Attempt(outcome, result=result)


def classified(job: ClaimedJob, error: BaseException, policy: RetryPolicy) -> Attempt:
    """What a raised error means: a postponement, or a failure to retry or bury."""
    if isinstance(error, Postpone):
        outcome = Outcome(
            job.id, job.token, "postpone", key=job.key, delay=error.after, reason=error.reason
        )
        return Attempt(outcome, error=error)
    return Attempt(failure(job, error, policy), error=error)


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
