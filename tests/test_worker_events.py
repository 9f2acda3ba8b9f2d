"""Typed events: the bus, what a worker publishes, and the log lines the app's `Logging` writes."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from conveyor import Conveyor, Discard, Fixed, Postpone
from conveyor.breaker import BreakerRecord
from conveyor.events import (
    BreakerClosed,
    BreakerOpened,
    Event,
    EventBus,
    JobDead,
    JobEvent,
    JobPostponed,
    JobRetried,
    JobSucceeded,
    WorkerEvent,
    WorkerStarted,
    WorkerStopped,
    breaker_event,
)
from conveyor.logs import configure_logging


def drain(app: Conveyor, **options: Any) -> Any:
    return app.run_worker(burst=True, install_signal_handlers=False, concurrency=1, **options)


def started(worker_id: str = "w") -> WorkerStarted:
    return WorkerStarted(worker_id, None, ["t"], 1)


def test_handlers_get_the_types_they_subscribed_to_subclasses_included() -> None:
    bus = EventBus()
    everything: list[Event] = []
    workers: list[WorkerEvent] = []
    bus.subscribe(everything.append)
    bus.subscribe(workers.append, WorkerEvent)
    job = JobSucceeded(1, "t", "default", None, 1, 0.01)
    bus.publish(job)
    bus.publish(started())
    assert everything == [job, started()]
    assert workers == [started()]


def test_a_failing_handler_is_logged_and_skipped(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("info")
    bus = EventBus()
    after: list[Event] = []

    def broken(event: Event) -> None:
        raise RuntimeError("subscriber bug")

    bus.subscribe(broken)
    bus.subscribe(after.append)
    bus.publish(started())  # does not raise
    assert after == [started()]
    line = json.loads(capsys.readouterr().err.splitlines()[-1])
    assert (line["event"], line["level"], line["failed_on"]) == (
        "events.handler_failed",
        "error",
        "worker.started",
    )
    assert line["error"] == "RuntimeError: subscriber bug"


def test_unsubscribing() -> None:
    bus = EventBus()
    first: list[Event] = []
    second: list[Event] = []
    stop_first = bus.subscribe(first.append)
    bus.subscribe(second.append, WorkerStarted)
    stop_first()
    bus.unsubscribe(second.append)
    bus.publish(started())
    assert first == [] and second == []


def test_breaker_changes_become_events() -> None:
    opened = BreakerRecord("shop", "open", failures=3, cool_off=30.0, last_error="HTTP 503")
    closed = BreakerRecord("shop", "closed")
    half_open = BreakerRecord("shop", "half_open", failures=3, cool_off=30.0)
    assert breaker_event("shop", None, opened) == BreakerOpened(
        "shop", "closed", 3, 30.0, "HTTP 503"
    )
    assert breaker_event("shop", half_open, opened) == BreakerOpened(
        "shop", "half_open", 3, 30.0, "HTTP 503"
    )
    assert breaker_event("shop", half_open, closed) == BreakerClosed("shop", "half_open")
    assert breaker_event("shop", opened, opened) is None  # still open: nothing happened
    assert breaker_event("shop", None, BreakerRecord("shop", failures=1)) is None


def test_a_worker_publishes_its_life_and_every_outcome(app: Conveyor) -> None:
    @app.task
    def works(payload: dict) -> str:
        return "ok"

    @app.task(max_attempts=2, retry=Fixed(0))
    def fails(payload: dict) -> None:
        raise ValueError("broken")

    @app.task
    def refuses(payload: dict) -> None:
        raise Discard("never")

    ok, failing, refused = works.enqueue({}), fails.enqueue({}), refuses.enqueue({})
    seen: list[Event] = []
    app.events.subscribe(seen.append, JobEvent, WorkerStarted, WorkerStopped)
    drain(app)

    assert isinstance(seen[0], WorkerStarted) and isinstance(seen[-1], WorkerStopped)
    assert seen[0].tasks == ["fails", "refuses", "works"]
    assert (seen[-1].succeeded, seen[-1].retried, seen[-1].dead) == (1, 1, 2)
    assert seen[0].worker_id == seen[-1].worker_id
    jobs = {(type(e).__name__, e.job_id, e.attempt) for e in seen if isinstance(e, JobEvent)}
    assert jobs == {
        ("JobSucceeded", ok, 1),
        ("JobRetried", failing, 1),
        ("JobDead", failing, 2),
        ("JobDead", refused, 1),
    }
    retried = next(e for e in seen if isinstance(e, JobRetried))
    assert (retried.task, retried.queue, retried.key) == ("fails", "default", None)
    assert (retried.error, retried.error_type, retried.delay) == ("broken", "ValueError", 0.0)
    dead = [e for e in seen if isinstance(e, JobDead) and e.job_id == refused]
    assert [(e.error, e.error_type) for e in dead] == [("never", "Discard")]


def test_a_postponement_is_published_with_its_reason(app: Conveyor) -> None:
    @app.task
    def throttled(payload: dict) -> None:
        raise Postpone(600, "rate limit of 'shop'")

    job_id = throttled.enqueue({})
    seen: list[JobPostponed] = []
    worker = app.worker(install_signal_handlers=False, concurrency=1)

    def stop_after(event: JobPostponed) -> None:
        seen.append(event)
        worker.request_stop()

    app.events.subscribe(stop_after, JobPostponed)
    assert asyncio.run(worker.run()).postponed == 1
    assert [(e.job_id, e.delay, e.reason) for e in seen] == [
        (job_id, 600.0, "rate limit of 'shop'")
    ]


def test_a_failing_subscriber_never_breaks_the_worker(app: Conveyor) -> None:
    @app.task
    def works(payload: dict) -> str:
        return "ok"

    def broken(event: Event) -> None:
        raise RuntimeError("subscriber bug")

    app.events.subscribe(broken)
    ids = [works.enqueue({}) for _ in range(3)]
    assert drain(app).succeeded == 3
    assert set(app.store.states(ids).values()) == {"succeeded"}


def test_the_app_logs_events_as_the_worker_always_did(
    app: Conveyor, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("debug")

    @app.task(max_attempts=2, retry=Fixed(0))
    def fails(payload: dict) -> None:
        raise ValueError("broken")

    @app.task
    def works(payload: dict) -> None: ...

    fails.enqueue({})
    works.enqueue({})
    capsys.readouterr()
    try:
        drain(app, middleware=[])  # no middleware: the log is the app's subscriber
    finally:
        configure_logging("info")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    levels = {line["event"]: line["level"] for line in lines}
    assert levels == {
        "worker.started": "info",
        "job.succeeded": "debug",
        "job.retrying": "warning",
        "job.dead": "error",
        "worker.stopped": "info",
    }
    retrying = next(line for line in lines if line["event"] == "job.retrying")
    assert retrying["error"] == "broken" and retrying["retry_in"] == 0.0
    assert {"job_id", "task", "key", "attempt", "queue", "duration_ms"} <= set(retrying)
    assert lines[0]["event"] == "worker.started" and lines[-1]["event"] == "worker.stopped"
