"""The worker in this process, on both backends: retries, ordering, operator actions."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from conveyor import Conveyor, Discard, Fixed, PayloadError, Postpone, Retry, current_job
from conveyor.events import StoreOutageEnded, StoreOutageStarted
from conveyor.store.lazy import LazyStore
from conveyor.store.sqlite import SQLiteStore
from tests.connections.conftest import run_until


def drain(app: Conveyor, **options: Any) -> Any:
    options.setdefault("concurrency", 4)
    return app.run_worker(burst=True, middleware=[], install_signal_handlers=False, **options)


def test_jobs_run_and_store_their_result(app: Conveyor) -> None:
    @app.task
    def add(payload: dict) -> int:
        return int(payload["a"] + payload["b"])

    @app.task
    async def shout(payload: str) -> str:
        await asyncio.sleep(0)
        return payload.upper()

    a = app.enqueue("add", {"a": 1, "b": 2})
    b = shout.enqueue("hi")
    stats = drain(app)
    assert stats.succeeded == 2
    assert app.get_job(a).result == 3 and app.get_job(b).result == "HI"
    assert app.get_job(a).state == "succeeded"


def test_failures_retry_then_go_dead_with_every_error(app: Conveyor) -> None:
    @app.task(max_attempts=3, retry=Fixed(0))
    def broken(payload: dict) -> None:
        raise ValueError(f"attempt {current_job().attempt}")  # type: ignore[union-attr]

    job_id = broken.enqueue({})
    stats = drain(app)
    job = app.get_job(job_id)
    assert (job.state, job.attempts, stats.retried, stats.dead) == ("dead", 3, 2, 1)
    assert [e["message"] for e in job.errors] == ["attempt 1", "attempt 2", "attempt 3"]
    assert "Traceback" in job.errors[0]["traceback"] and job.last_error == "attempt 3"


def test_retry_after_sets_the_next_run(app: Conveyor) -> None:
    @app.task(retry=Fixed(1))
    def later(payload: dict) -> None:
        raise Retry(after=600)

    job_id = later.enqueue({})
    drain(app)
    job = app.get_job(job_id)
    assert job.state == "retrying" and job.run_at is not None and job.started_at is not None
    assert 590 < (job.run_at - job.started_at).total_seconds() < 610


def test_the_policy_delay_sets_the_next_run(app: Conveyor) -> None:
    @app.task(retry=Fixed(300))
    def flaky(payload: dict) -> None:
        raise ConnectionError("remote down")

    job_id = flaky.enqueue({})
    drain(app)
    job = app.get_job(job_id)
    assert job.state == "retrying" and job.run_at is not None and job.started_at is not None
    assert 290 < (job.run_at - job.started_at).total_seconds() < 310


def test_discard_goes_dead_at_once(app: Conveyor) -> None:
    @app.task(max_attempts=5)
    def hopeless(payload: dict) -> None:
        raise Discard("customer was deleted")

    job_id = hopeless.enqueue({})
    drain(app)
    job = app.get_job(job_id)
    assert (job.state, job.attempts, job.last_error) == ("dead", 1, "customer was deleted")


def test_operator_retry_of_a_dead_job(app: Conveyor) -> None:
    fixed = threading.Event()

    @app.task(max_attempts=1)
    def needs_fix(payload: dict) -> str:
        if not fixed.is_set():
            raise RuntimeError("config missing")
        return "done"

    job_id = needs_fix.enqueue({})
    drain(app)
    assert app.get_job(job_id).state == "dead"
    fixed.set()
    assert app.retry_dead() == [job_id]
    drain(app)
    job = app.get_job(job_id)
    assert (job.state, job.attempts, job.result) == ("succeeded", 1, "done")


def test_operator_retry_validates_an_edited_payload(app: Conveyor) -> None:
    @app.task(max_attempts=1)
    def strict(payload: dict[str, int]) -> int:
        if payload["n"] < 0:
            raise Discard("negative")
        return payload["n"]

    job_id = strict.enqueue({"n": -1})
    drain(app)
    with pytest.raises(PayloadError):
        app.retry_jobs([job_id], payload={"n": "x"})
    app.retry_jobs([job_id], payload={"n": 5})
    drain(app)
    assert app.get_job(job_id).result == 5


def test_timeouts_fail_the_attempt(app: Conveyor) -> None:
    @app.task(timeout=0.05, max_attempts=1)
    async def slow(payload: dict) -> None:
        await asyncio.sleep(5)

    job_id = slow.enqueue({})
    started = time.monotonic()
    drain(app)
    assert time.monotonic() - started < 4
    job = app.get_job(job_id)
    assert job.state == "dead" and "timed out after 0.05" in (job.last_error or "")


def test_keyed_jobs_run_one_at_a_time_in_order(app: Conveyor) -> None:
    log: list[tuple[str, int, str]] = []

    @app.task(key=lambda p: f"customer:{p['c']}", retry=Fixed(0), max_attempts=3)
    async def step(payload: dict) -> None:
        log.append((payload["c"], payload["n"], "start"))
        await asyncio.sleep(0.002)
        if payload["n"] == 1 and current_job().attempt == 1:  # type: ignore[union-attr]
            log.append((payload["c"], payload["n"], "fail"))
            raise RuntimeError("flaky")
        log.append((payload["c"], payload["n"], "end"))

    for n in range(4):
        for c in "abc":
            step.enqueue({"c": c, "n": n})
    drain(app, concurrency=8)
    for c in "abc":
        events = [(n, what) for key, n, what in log if key == c]
        assert events == [
            (0, "start"), (0, "end"),
            (1, "start"), (1, "fail"), (1, "start"), (1, "end"),
            (2, "start"), (2, "end"),
            (3, "start"), (3, "end"),
        ]  # fmt: skip


def test_a_leading_job_runs_before_the_rest_of_its_key(app: Conveyor) -> None:
    order: list[str] = []

    @app.task(key=lambda p: f"customer:{p['id']}")
    def update_contact(payload: dict) -> None:
        order.append(f"update {payload['n']}")

    @app.task(key=lambda p: f"customer:{p['id']}", leads_key=True)
    def create_contact(payload: dict) -> None:
        order.append("create")

    update_contact.enqueue({"id": 1, "n": 1})
    update_contact.enqueue({"id": 1, "n": 2})
    create_contact.enqueue({"id": 1})
    drain(app)
    assert order == ["create", "update 1", "update 2"]


def test_a_dead_job_blocks_its_key_until_cancelled(app: Conveyor) -> None:
    ran: list[int] = []

    @app.task(key=lambda p: "k", max_attempts=1)
    def job(payload: dict) -> None:
        if payload["n"] == 0:
            raise RuntimeError("poison")
        ran.append(payload["n"])

    first = job.enqueue({"n": 0})
    job.enqueue({"n": 1})
    drain(app)
    assert ran == [] and [b.job_id for b in app.blocked_keys()] == [first]
    app.cancel_jobs([first])
    drain(app)
    assert ran == [1] and app.blocked_keys() == []


def test_priorities_and_queues(app: Conveyor) -> None:
    order: list[str] = []

    @app.task(queue="mail")
    def mail(payload: str) -> None:
        order.append(payload)

    mail.enqueue("low")
    mail.enqueue("high", priority=10)
    app.enqueue("mail", "elsewhere", queue="other")
    drain(app, concurrency=1, queues=["mail"])
    assert order == ["high", "low"]
    assert app.stats()["other"] == {"queued": 1}


def test_idempotent_enqueue(app: Conveyor) -> None:
    @app.task
    def charge(payload: dict) -> None: ...

    first = charge.enqueue({"order": 7}, idempotency_key="charge:7")
    assert charge.enqueue({"order": 7}, idempotency_key="charge:7") == first
    assert app.stats()["default"] == {"queued": 1}


def test_graceful_stop_hands_back_unfinished_jobs(app: Conveyor) -> None:
    started = threading.Event()

    @app.task
    async def long(payload: dict) -> None:
        started.set()
        await asyncio.sleep(30)

    job_id = long.enqueue({})
    worker = app.worker(grace=0.1, middleware=[], install_signal_handlers=False)

    def stop_when_started() -> None:
        started.wait(10)
        worker.request_stop()

    threading.Thread(target=stop_when_started).start()
    stats = asyncio.run(worker.run())
    job = app.get_job(job_id)
    assert stats.handed_back == 1 and (job.state, job.attempts) == ("queued", 0)


def test_delayed_jobs_wait_for_their_time(app: Conveyor) -> None:
    @app.task
    def soon(payload: dict) -> None: ...

    job_id = soon.enqueue({}, delay=0.3)
    drain(app)
    assert app.get_job(job_id).state == "queued"
    time.sleep(0.35)
    drain(app)
    assert app.get_job(job_id).state == "succeeded"


def test_a_timeout_error_raised_by_the_task_is_not_relabelled(app: Conveyor) -> None:
    @app.task(timeout=30, max_attempts=1)
    async def remote(payload: dict) -> None:
        raise TimeoutError("the remote timed out")

    job_id = remote.enqueue({})
    drain(app)
    assert app.get_job(job_id).last_error == "the remote timed out"


def test_enqueue_many_gives_each_job_its_own_idempotency_key(app: Conveyor) -> None:
    from conveyor import ConfigurationError

    @app.task
    def charge(payload: dict) -> None: ...

    first = charge.enqueue({"order": 1}, idempotency_key="charge:1")
    ids = app.enqueue_many(
        "charge",
        [{"order": 1}, {"order": 2}, {"order": 2}],
        idempotency_keys=["charge:1", "charge:2", "charge:2"],
    )
    assert ids[0] == first and ids[1] == ids[2] != first
    with pytest.raises(ConfigurationError):
        app.enqueue_many("charge", [{}], idempotency_key="one-for-all")
    with pytest.raises(ConfigurationError):
        app.enqueue_many("charge", [{}, {}], idempotency_keys=["only-one"])


def test_postpone_does_not_use_an_attempt(app: Conveyor) -> None:
    from conveyor import Postpone

    @app.task(max_attempts=1)
    def polite(payload: dict) -> None:
        raise Postpone(after=300, reason="no token")

    job_id = polite.enqueue({})
    stats = run_until(app, lambda: app.get_job(job_id).postponed_reason is not None)
    job = app.get_job(job_id)
    assert (stats.postponed, job.state, job.attempts, job.errors) == (1, "queued", 0, [])
    assert job.postponed_reason == "no token"


def test_burst_waits_for_a_postponed_job(app: Conveyor) -> None:
    tries: list[int] = []

    @app.task
    def throttled(payload: dict) -> str:
        tries.append(1)
        if len(tries) == 1:
            raise Postpone(1.5, "the remote asked for a pause")
        return "done"

    job_id = throttled.enqueue({})
    stats = drain(app, burst_wait=0)
    job = app.get_job(job_id)
    assert (job.state, job.attempts, stats.postponed) == ("succeeded", 1, 1)
    assert job.postponed_reason is None


def test_burst_wait_sets_the_horizon_for_retry_delays(app: Conveyor) -> None:
    @app.task(retry=Fixed(0.4), max_attempts=2)
    def flaky(payload: dict) -> None:
        if current_job().attempt == 1:  # type: ignore[union-attr]
            raise ConnectionError("once")

    soon = flaky.enqueue({})
    drain(app, burst_wait=0)
    assert app.get_job(soon).state == "retrying"
    drain(app, burst_wait=5)
    assert app.get_job(soon).state == "succeeded"


def test_a_negative_burst_wait_is_refused(app: Conveyor) -> None:
    from conveyor import ConfigurationError

    @app.task
    def noop() -> None: ...

    with pytest.raises(ConfigurationError, match="burst_wait"):
        app.worker(burst=True, burst_wait=-1)


def test_a_sync_job_past_its_timeout_is_not_retried_while_its_thread_runs(app: Conveyor) -> None:
    spans: list[tuple[int, float, float]] = []

    @app.task(timeout=0.1, max_attempts=2, retry=Fixed(0))
    def stubborn(payload: dict) -> None:
        attempt = current_job().attempt  # type: ignore[union-attr]
        started = time.monotonic()
        time.sleep(0.6 if attempt == 1 else 0.01)
        spans.append((attempt, started, time.monotonic()))

    job_id = stubborn.enqueue({})
    drain(app)
    job = app.get_job(job_id)
    assert [attempt for attempt, _, _ in sorted(spans, key=lambda s: s[1])] == [1, 2]
    (_, _, first_end), (_, second_start, _) = sorted(spans, key=lambda s: s[1])
    assert second_start >= first_end, "the retry started while the first thread still ran"
    assert "timed out after 0.1 s" in job.errors[0]["message"]
    assert job.state == "succeeded"


def _cancel_when(started: threading.Event, app: Conveyor, job_id: int) -> threading.Thread:
    """Cancel `job_id` from another thread once its task has started, as an operator would."""
    answers: list[list[int]] = []

    def cancel() -> None:
        assert started.wait(10)
        answers.append(app.cancel_jobs([job_id]))

    thread = threading.Thread(target=cancel)
    thread.answers = answers  # type: ignore[attr-defined]
    thread.start()
    return thread


def test_cancelling_a_running_async_job_cancels_it_before_its_key_moves_on(
    app: Conveyor,
) -> None:
    log: list[str] = []
    started = threading.Event()

    @app.task(key=lambda p: "customer:1")
    async def sync_customer(payload: dict) -> None:
        log.append(f"start {payload['n']}")
        if payload["n"] == 0:
            started.set()
            try:
                for _ in range(100):  # at most 5 s, so that the test ends without the fix too
                    await asyncio.sleep(0.05)
            except asyncio.CancelledError:
                log.append(f"CancelledError, cancelled={current_job().cancelled}")  # type: ignore[union-attr]
                raise
        log.append(f"end {payload['n']}")

    first = sync_customer.enqueue({"n": 0})
    second = sync_customer.enqueue({"n": 1})
    canceller = _cancel_when(started, app, first)
    stats = drain(app)
    canceller.join()
    assert canceller.answers == [[first]]  # type: ignore[attr-defined]
    assert log == ["start 0", "CancelledError, cancelled=True", "start 1", "end 1"]
    job = app.get_job(first)
    assert (job.state, job.attempts, job.errors) == ("cancelled", 1, [])
    assert job.cancel_requested_at is not None
    assert app.get_job(second).state == "succeeded"
    assert (stats.cancelled, stats.handed_back, stats.retried) == (1, 0, 0)


def test_a_running_sync_job_sees_its_cancellation_and_is_not_interrupted(app: Conveyor) -> None:
    log: list[str] = []
    started = threading.Event()

    @app.task(key=lambda p: "customer:1")
    def export(payload: dict) -> str:
        log.append(f"start {payload['n']}")
        if payload["n"] == 0:
            started.set()
            for _ in range(250):  # at most 5 s, so that the test ends without the fix too
                if current_job().cancelled:  # type: ignore[union-attr]
                    log.append("saw the cancel")
                    return "stopped early"
                time.sleep(0.02)
        log.append(f"end {payload['n']}")
        return "done"

    first = export.enqueue({"n": 0})
    second = export.enqueue({"n": 1})
    canceller = _cancel_when(started, app, first)
    stats = drain(app)
    canceller.join()
    assert log == ["start 0", "saw the cancel", "start 1", "end 1"]
    job = app.get_job(first)
    assert (job.state, job.result) == ("cancelled", "stopped early")
    assert app.get_job(second).state == "succeeded"
    assert (stats.cancelled, stats.handed_back) == (1, 0)


def test_a_cancel_requested_job_handed_back_at_shutdown_is_cancelled(app: Conveyor) -> None:
    # The worker stops before it learns of the cancel: the hand-back cancels the job all the same.
    started = threading.Event()

    @app.task(key=lambda p: "k")
    async def long(payload: dict) -> None:
        started.set()
        await asyncio.sleep(30)

    first = long.enqueue({"n": 0})
    second = long.enqueue({"n": 1})
    worker = app.worker(grace=0, middleware=[], install_signal_handlers=False)
    worker.cancel_poll_interval = 3600
    meanwhile: list[str] = []

    def cancel_then_stop() -> None:
        started.wait(10)
        app.cancel_jobs([first])
        meanwhile.append(app.get_job(second).state)
        worker.request_stop()

    threading.Thread(target=cancel_then_stop).start()
    stats = asyncio.run(worker.run())
    assert meanwhile == ["waiting"]
    assert stats.handed_back == 1
    assert app.get_job(first).state == "cancelled"
    assert app.get_job(second).state == "queued"


def outage_events(app: Conveyor) -> list[str]:
    """The names of the store outage events the app's workers publish, in order."""
    names: list[str] = []
    app.events.subscribe(
        lambda event: names.append(event.name), StoreOutageStarted, StoreOutageEnded
    )
    return names


def test_a_sqlite_lock_past_the_busy_timeout_is_waited_out(tmp_path: Path) -> None:
    """`database is locked` (or a disk error) is an outage like any other, not the worker's end."""
    url = f"sqlite:///{tmp_path / 'locked.db'}"
    app = Conveyor(url)
    app.migrate()

    @app.task
    def noted(payload: dict) -> str:
        return "ok"

    ids = [noted.enqueue({}) for _ in range(3)]
    app.close()
    # A busy timeout that a lock outlasts at once.
    app._store = LazyStore(url, lambda url: SQLiteStore(url, busy_timeout=0.05))
    store = app.store
    blocker = sqlite3.connect(store.path, isolation_level=None, check_same_thread=False)
    blocker.execute("BEGIN IMMEDIATE")  # every write, the claim first, is locked out
    unlock = threading.Timer(1.5, blocker.commit)
    unlock.start()
    seen = outage_events(app)
    try:
        app.run_worker(burst=True, middleware=[], install_signal_handlers=False)
    finally:
        unlock.join()
        blocker.close()
    assert set(app.store.states(ids).values()) == {"succeeded"}
    assert seen == ["worker.store_unavailable", "worker.store_available"]
    app.close()
