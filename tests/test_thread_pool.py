"""Plain `def` tasks on the worker's thread pool (`thread_pool.py`), on both backends: the attempt
semantics of the one-future-per-job path it replaced, and the jobs it claims ahead.

Nothing here waits on the clock: a blocked thread is released by the event that says the worker
got where the test needs it (ThreadOverran, JobsCancelling, WaitingForThreads)."""

from __future__ import annotations

import asyncio
import contextvars
import sqlite3
import threading
from pathlib import Path
from typing import Any

import psycopg
import pytest

from conveyor import Conveyor, Discard, Fixed, Middleware, Postpone, Retry, current_job
from conveyor.events import JobsCancelling, ThreadOverran, WaitingForThreads
from conveyor.job import ClaimedJob, Outcome
from conveyor.worker import Worker

pytestmark = pytest.mark.timeout(60)

TRACE: contextvars.ContextVar[str | None] = contextvars.ContextVar("trace", default=None)


def burst_worker(app: Conveyor, **options: Any) -> Worker:
    options.setdefault("concurrency", 4)
    options.setdefault("middleware", [])
    worker: Worker = app.worker(burst=True, install_signal_handlers=False, **options)
    return worker


def claiming_ahead(worker: Worker) -> Worker:
    """Claim ahead whatever the sync calls took (they are quick, but the machine is shared)."""
    worker.claims.below = float("inf")
    return worker


def execute(database_url: str, sql: str, *params: Any) -> None:
    """A statement from another connection, as another worker's would be."""
    if database_url.startswith("sqlite:///"):
        with sqlite3.connect(Path(database_url.removeprefix("sqlite:///"))) as conn:
            conn.execute(sql.replace("%s", "?"), params)
    else:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(sql, params)


def test_a_sync_job_past_its_timeout_is_reported_waited_for_and_failed(app: Conveyor) -> None:
    released = threading.Event()
    log: list[str] = []

    def on_overrun(event: ThreadOverran) -> None:
        log.append(f"overran {event.task} after {event.timeout}")
        released.set()  # the thread still runs: the worker reported it and waits for it

    app.events.subscribe(on_overrun, ThreadOverran)

    @app.task(timeout=0.05, max_attempts=1)
    def blocks(payload: dict) -> str:
        released.wait(30)
        log.append("returned")
        return "late"

    job_id = blocks.enqueue({})
    stats = asyncio.run(burst_worker(app).run())
    assert log == ["overran blocks after 0.05", "returned"]
    job = app.get_job(job_id)
    assert (job.state, job.result, stats.dead) == ("dead", None, 1)
    assert "its thread ran on until it returned" in job.errors[0]["message"]


def test_a_sync_job_claimed_ahead_and_cancelled_before_it_starts_never_runs(
    app: Conveyor,
) -> None:
    ran: list[int] = []
    blocker_started = threading.Event()
    release = threading.Event()

    @app.task
    def step(payload: dict) -> None:
        ran.append(payload["n"])
        if payload["n"] == 1:
            blocker_started.set()
            release.wait(30)

    warm, blocker, victim = (step.enqueue({"n": n}) for n in range(3))
    worker = claiming_ahead(burst_worker(app, concurrency=1))
    worker.cancel_poll_interval = 0.01

    def on_cancelling(event: JobsCancelling) -> None:
        if victim in event.job_ids:
            release.set()  # the victim waits in the queue, its cancel flag set

    app.events.subscribe(on_cancelling, JobsCancelling)

    def cancel_the_victim() -> None:
        assert blocker_started.wait(30)
        assert app.cancel_jobs([victim]) == [victim]  # claimed ahead: running for the store

    canceller = threading.Thread(target=cancel_the_victim)
    canceller.start()
    stats = asyncio.run(worker.run())
    canceller.join()
    assert ran == [0, 1]
    assert [app.get_job(i).state for i in (warm, blocker, victim)] == [
        "succeeded",
        "succeeded",
        "cancelled",
    ]
    assert (stats.succeeded, stats.cancelled) == (2, 1)


def test_a_stopping_worker_waits_for_its_thread_and_hands_back_what_it_claimed_ahead(
    app: Conveyor,
) -> None:
    ran: list[int] = []
    blocker_started = threading.Event()
    release = threading.Event()

    @app.task
    def step(payload: dict) -> None:
        ran.append(payload["n"])
        if payload["n"] == 1:
            blocker_started.set()
            release.wait(30)

    warm, blocker, ahead = (step.enqueue({"n": n}) for n in range(3))
    worker = claiming_ahead(app.worker(concurrency=1, grace=0, install_signal_handlers=False))
    waited_for: list[list[int]] = []

    def on_waiting(event: WaitingForThreads) -> None:
        waited_for.append(event.job_ids)
        release.set()

    app.events.subscribe(on_waiting, WaitingForThreads)

    def stop_when_blocked() -> None:
        assert blocker_started.wait(30)
        worker.request_stop()

    stopper = threading.Thread(target=stop_when_blocked)
    stopper.start()
    stats = asyncio.run(worker.run())
    stopper.join()
    assert waited_for == [[blocker]]
    assert ran == [0, 1]
    assert app.get_job(blocker).state == "succeeded"  # waited for, never handed back
    job = app.get_job(ahead)
    assert (job.state, job.attempts) == ("queued", 0)  # it never ran: back at once
    assert (stats.succeeded, stats.handed_back, stats.abandoned) == (2, 1, 0)
    assert app.get_job(warm).state == "succeeded"


def test_an_outcome_written_after_the_lease_moved_on_changes_nothing(
    app: Conveyor, database_url: str
) -> None:
    @app.task
    def taken_over(payload: dict) -> str:
        # Meanwhile another worker recovered the job and claimed it: a new token.
        job = current_job()
        assert job is not None
        execute(
            database_url,
            "UPDATE conveyor_jobs SET lease_token = lease_token + 1000, worker_id = %s"
            " WHERE id = %s",
            "other-worker",
            job.id,
        )
        return "stale"

    @app.task
    def alongside(payload: dict) -> str:
        return "fresh"

    stolen = taken_over.enqueue({})
    others = [alongside.enqueue({"n": n}) for n in range(20)]
    asyncio.run(burst_worker(app, concurrency=3).run())
    job = app.get_job(stolen)
    assert (job.state, job.result) == ("running", None)  # the other worker's, untouched
    assert {(app.get_job(i).state, app.get_job(i).result) for i in others} == {
        ("succeeded", "fresh")
    }


class Recorder(Middleware):
    def __init__(self) -> None:
        self.calls: list[tuple[str, int | None, str]] = []

    def before_attempt(self, job: ClaimedJob) -> None:
        context = current_job()
        self.calls.append(("before", context and context.id, job.task))
        TRACE.set(f"trace-{job.id}")  # what a logging middleware binds

    def after_attempt(self, job: ClaimedJob, outcome: Outcome, seconds: float) -> None:
        context = current_job()
        self.calls.append(("after", context and context.id, outcome.kind))


def test_the_thread_sees_its_job_and_what_the_hooks_bound(app: Conveyor) -> None:
    seen: list[tuple[int | None, str | None, str]] = []

    @app.task
    def inspects(payload: dict) -> None:
        context = current_job()
        seen.append((context and context.id, TRACE.get(), threading.current_thread().name))

    job_ids = [inspects.enqueue({"n": n}) for n in range(3)]
    hooks = Recorder()
    asyncio.run(burst_worker(app, concurrency=1, middleware=[hooks]).run())
    assert [(job_id, trace) for job_id, trace, _ in seen] == [(i, f"trace-{i}") for i in job_ids]
    assert all(name.startswith("conveyor-task") for _, _, name in seen)
    for job_id in job_ids:  # a job claimed ahead may begin before the previous one ended
        assert [call for call in hooks.calls if call[1] == job_id] == [
            ("before", job_id, "inspects"),
            ("after", job_id, "succeeded"),
        ]
    assert len(hooks.calls) == 6
    assert current_job() is None and TRACE.get() is None  # nothing leaked into this context


def test_what_a_sync_task_raises_is_classified_as_before(app: Conveyor, database_url: str) -> None:
    reached: list[str] = []

    @app.task(max_attempts=2, retry=Fixed(0))
    def fails(payload: dict) -> None:
        raise ValueError(f"no {current_job().attempt}")  # type: ignore[union-attr]

    @app.task
    def discards(payload: dict) -> None:
        raise Discard("not worth it")

    @app.task
    def later(payload: dict) -> None:
        raise Retry(after=3600)

    @app.task
    def postpones(payload: dict) -> None:
        raise Postpone(3600, "the remote is busy")

    @app.task
    def typed(payload: dict[str, int]) -> None:
        reached.append("typed")

    @app.task
    def exits(payload: dict) -> None:
        raise SystemExit(3)  # in a thread of the pool: it must not end the thread

    ids = {
        "fails": fails.enqueue({}),
        "discards": discards.enqueue({}),
        "later": later.enqueue({}),
        "postpones": postpones.enqueue({}),
        "exits": exits.enqueue({}),
        "typed": typed.enqueue({"n": 1}),
    }
    # Another program wrote a payload that does not match the task's schema.
    execute(
        database_url,
        "UPDATE conveyor_jobs SET payload = %s WHERE id = %s",
        '{"n": "x"}',
        ids["typed"],
    )
    worker = burst_worker(app, concurrency=2)
    asyncio.run(_run_until_claimed(worker, 7))  # fails twice, the others once
    jobs = {name: app.get_job(job_id) for name, job_id in ids.items()}
    assert (jobs["fails"].state, [e["message"] for e in jobs["fails"].errors]) == (
        "dead",
        ["no 1", "no 2"],
    )
    assert (jobs["discards"].state, jobs["discards"].attempts) == ("dead", 1)
    assert (jobs["later"].state, jobs["later"].attempts) == ("retrying", 1)
    assert (jobs["postpones"].state, jobs["postpones"].attempts) == ("queued", 0)
    assert jobs["postpones"].postponed_reason == "the remote is busy"
    assert (jobs["exits"].state, jobs["exits"].errors[0]["type"]) == ("retrying", "SystemExit")
    assert jobs["typed"].state == "dead" and reached == []
    assert jobs["typed"].errors[0]["message"].startswith("cannot load job: the payload does not")


async def _run_until_claimed(worker: Worker, claims: int) -> None:
    """Stop once `claims` attempts have ended (a postponed job would hold a burst worker)."""
    task = asyncio.create_task(worker.run())
    while worker.stats.claimed < claims or worker.busy():
        await asyncio.sleep(0.01)
    worker.request_stop()
    await task


def test_many_sync_and_async_jobs_never_run_more_than_the_concurrency(app: Conveyor) -> None:
    lock = threading.Lock()
    now = [0]
    most = [0]
    runs: list[int] = []

    def enter() -> None:
        with lock:
            now[0] += 1
            most[0] = max(most[0], now[0])

    def leave(n: int) -> None:
        with lock:
            now[0] -= 1
            runs.append(n)

    @app.task
    def plain(payload: dict) -> None:
        enter()
        leave(payload["n"])

    @app.task
    async def awaited(payload: dict) -> None:
        enter()
        await asyncio.sleep(0)
        leave(payload["n"])

    count = 300
    for n in range(count):
        (awaited if n % 7 == 0 else plain).enqueue({"n": n})
    worker = claiming_ahead(burst_worker(app, concurrency=3))
    stats = asyncio.run(worker.run())
    assert sorted(runs) == list(range(count))  # each ran exactly once
    assert stats.succeeded == count
    assert most[0] <= 3


def test_an_async_job_claimed_ahead_waits_until_a_slot_is_free(app: Conveyor) -> None:
    log: list[str] = []
    workers: list[Worker] = []

    @app.task
    def plain(payload: dict) -> None:
        log.append(f"start {payload['n']}")
        if payload["n"] == 1:
            for _ in range(500):  # until the async job is claimed (at most 5 s without the fix)
                if workers[0]._held:
                    break
                threading.Event().wait(0.01)
        log.append(f"end {payload['n']}")

    @app.task
    async def awaited(payload: dict) -> None:
        log.append("start async")

    plain.enqueue({"n": 0})  # quick: the worker starts claiming ahead
    plain.enqueue({"n": 1})  # holds the one slot
    awaited.enqueue({})  # claimed with it, ahead: must wait for the slot
    workers.append(claiming_ahead(burst_worker(app, concurrency=1)))
    stats = asyncio.run(workers[0].run())
    assert log == ["start 0", "end 0", "start 1", "end 1", "start async"]
    assert stats.succeeded == 3
