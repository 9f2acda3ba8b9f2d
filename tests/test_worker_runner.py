"""`run_now` goes through the worker's attempt runner: the task's timeout, middleware hooks,
`current_job()`, classification. No worker runs here; the store is touched only to persist."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from conveyor import Conveyor, Middleware, Postpone, Postponed, current_job
from conveyor.events import Event, ThreadOverran
from conveyor.job import ClaimedJob, Outcome


class Recorder(Middleware):
    """The hooks as they were called, with the job `current_job()` named at the time."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int | None, str]] = []

    def before_attempt(self, job: ClaimedJob) -> None:
        context = current_job()
        self.calls.append(("before", context and context.id, job.task))

    def after_attempt(self, job: ClaimedJob, outcome: Outcome, seconds: float) -> None:
        context = current_job()
        self.calls.append(("after", context and context.id, outcome.kind))


@pytest.fixture
def local(tmp_path: Path) -> Conveyor:
    return Conveyor(f"sqlite:///{tmp_path / 'run_now.db'}")


@pytest.mark.timeout(30)
def test_run_now_cancels_an_async_task_at_its_timeout(local: Conveyor) -> None:
    @local.task(timeout=0.05)
    async def hangs() -> None:
        await asyncio.Event().wait()  # only the timeout ends it

    with pytest.raises(TimeoutError, match=r"attempt timed out after 0\.05 s"):
        local.run_now("hangs")


@pytest.mark.timeout(30)
def test_run_now_waits_for_a_sync_task_past_its_timeout_then_fails_it(local: Conveyor) -> None:
    released = threading.Event()
    overran: list[Event] = []

    def on_overrun(event: ThreadOverran) -> None:
        overran.append(event)
        released.set()  # the thread is still waited for: let it return now

    local.events.subscribe(on_overrun, ThreadOverran)

    @local.task(timeout=0.05)
    def blocks() -> str:
        released.wait()
        return "returned"

    with pytest.raises(TimeoutError, match="its thread ran on until it returned"):
        local.run_now("blocks")
    assert overran == [ThreadOverran(0, "blocks", 0.05)]


def test_run_now_runs_the_middleware_around_the_attempt(local: Conveyor) -> None:
    seen: list[int | None] = []

    @local.task
    def works(payload: dict) -> int:
        context = current_job()
        seen.append(context and context.id)
        return int(payload["n"]) * 2

    @local.task
    async def fails() -> None:
        raise ValueError("no")

    hooks = Recorder()
    assert local.run_now("works", {"n": 21}, middleware=[hooks]) == 42
    with pytest.raises(ValueError, match="no"):
        local.run_now("fails", middleware=[hooks])
    assert seen == [0]
    assert hooks.calls == [
        ("before", 0, "works"),
        ("after", 0, "succeeded"),
        ("before", 0, "fails"),
        ("after", 0, "dead"),
    ]


def test_a_timed_out_run_now_is_persisted_dead(local: Conveyor) -> None:
    local.migrate()

    @local.task(timeout=0.05)
    async def hangs() -> None:
        await asyncio.Event().wait()

    with pytest.raises(TimeoutError):
        local.run_now("hangs", persist=True)
    (job,) = local.list_jobs()
    assert (job.task, job.state, job.attempts) == ("hangs", "dead", 1)
    assert job.last_error == "attempt timed out after 0.05 s"


def test_a_postponing_task_raises_postponed(local: Conveyor) -> None:
    @local.task
    def busy() -> None:
        raise Postpone(7, "the remote is busy")

    with pytest.raises(Postponed) as raised:
        local.run_now("busy", persist=True)  # nothing ran: nothing is recorded either
    assert (raised.value.after, raised.value.reason) == (7.0, "the remote is busy")
    local.migrate()
    assert local.list_jobs() == []


def test_run_now_async_leaves_the_callers_current_job_alone(local: Conveyor) -> None:
    @local.task
    async def inner() -> int | None:
        context = current_job()
        return context and context.id

    async def caller() -> tuple[int | None, bool]:
        result = await local.run_now_async("inner")
        return result, current_job() is None

    assert asyncio.run(caller()) == (0, True)
