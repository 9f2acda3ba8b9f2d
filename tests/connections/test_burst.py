"""A burst worker and postponed jobs, on both backends, against a real HTTP server: short
postponements are waited for, long ones (a remote that keeps answering 429, a slow rate limit, a
task's long `Postpone`) are left postponed, and the worker says how many and until when."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from conveyor import Conveyor, Postpone
from conveyor.events import LeftPostponed
from conveyor.worker import Worker, WorkerStats
from tests.http_sink import Response, Sink

GUARD = 60.0  # only a failure guard: a burst worker that holds on fails here instead of hanging


def burst(app: Conveyor, **options: Any) -> tuple[WorkerStats, list[LeftPostponed]]:
    """Run a burst worker to its end (or fail at the guard), with the reports it published."""
    reports: list[LeftPostponed] = []
    app.events.subscribe(reports.append, LeftPostponed)
    options.setdefault("concurrency", 2)
    worker: Worker = app.worker(burst=True, install_signal_handlers=False, middleware=[], **options)
    stats = asyncio.run(asyncio.wait_for(worker.run(), GUARD))
    return stats, reports


def test_a_remote_that_asks_for_a_long_quiet_does_not_hold_a_burst_worker(
    app: Conveyor, sink: Sink
) -> None:
    app.connection("shop", sink.url, breaker=False)
    sink.default("/x", Response(429, headers={"Retry-After": "120"}))
    job_id = app.deliver("shop", "/x", {"n": 1})
    asked = time.time()
    stats, [report] = burst(app)
    job = app.get_job(job_id)
    assert (job.state, job.attempts, job.errors) == ("queued", 0, [])
    assert job.postponed_reason is not None
    assert job.postponed_reason.startswith("connection 'shop' slowed until ")
    assert job.run_at is not None and job.run_at.timestamp() > asked + 60  # Retry-After: 120
    assert len(sink.requests_to("/x")) == 1
    assert (stats.postponed, stats.left_postponed) == (1, 1)
    assert (report.jobs, report.on_hold) == (1, 0)
    assert report.last_due == pytest.approx(job.run_at.timestamp(), abs=0.01)
    assert "1 job(s) postponed" in report.hint and "--burst-postponed" in report.hint


def test_a_burst_worker_rides_out_short_back_offs_and_leaves_a_long_one(
    app: Conveyor, sink: Sink
) -> None:
    """Without Retry-After the back-off doubles (1 s, 2 s, 4 s): up to `burst_postponed` (3 s)
    the worker waits and asks again, the 4 s one it leaves."""
    app.connection("shop", sink.url, breaker=False)
    sink.default("/x", Response(503))
    job_id = app.deliver("shop", "/x", {"n": 1})
    stats, [report] = burst(app, burst_postponed=3)
    job = app.get_job(job_id)
    assert (job.state, job.attempts) == ("queued", 0)
    assert job.postponed_reason is not None and "back-off 4 s, 3 in a row" in job.postponed_reason
    assert len(sink.requests_to("/x")) == 3
    assert stats.postponed >= 3  # a claim a hair early meets the hold again: no request
    assert (stats.left_postponed, report.jobs) == (1, 1)


def test_a_burst_worker_drains_a_quick_rate_limit_but_not_a_slow_one(
    app: Conveyor, sink: Sink
) -> None:
    app.connection("quick", sink.url, rate_limit="10/s")
    app.connection("slow", sink.url, rate_limit="1/min")
    quick = [app.deliver("quick", "/quick", {"n": n}) for n in range(5)]
    slow = [app.deliver("slow", "/slow", {"n": n}) for n in range(2)]
    stats, [report] = burst(app)
    assert {app.get_job(i).state for i in quick} == {"succeeded"}
    states = sorted(app.get_job(i).state for i in slow)
    assert states == ["queued", "succeeded"]  # one token a minute: the second waits a minute
    [waiting] = [app.get_job(i) for i in slow if app.get_job(i).state == "queued"]
    assert waiting.postponed_reason == "rate limit of 'slow'"
    assert (stats.left_postponed, report.jobs) == (1, 1)
    assert len(sink.requests_to("/quick")) == 5 and len(sink.requests_to("/slow")) == 1


def test_a_tasks_own_postponement_is_waited_for_only_while_short(app: Conveyor) -> None:
    tries: list[str] = []

    @app.task
    def not_yet(payload: dict[str, Any]) -> str:
        tries.append(payload["wait"])
        if payload["wait"] == "long":
            raise Postpone(3600, "the ERP closes its books")
        if tries.count("short") == 1:
            raise Postpone(0.2, "the file is not there yet")
        return "done"

    short = not_yet.enqueue({"wait": "short"})
    long = not_yet.enqueue({"wait": "long"})
    stats, [report] = burst(app)
    assert app.get_job(short).state == "succeeded"
    waiting = app.get_job(long)
    assert (waiting.state, waiting.postponed_reason) == ("queued", "the ERP closes its books")
    assert tries.count("short") == 2 and tries.count("long") == 1
    assert (stats.left_postponed, report.jobs) == (1, 1)


def test_nothing_postponed_nothing_reported(app: Conveyor, sink: Sink) -> None:
    app.connection("shop", sink.url)
    job_id = app.deliver("shop", "/x", {"n": 1})
    stats, reports = burst(app)
    assert app.get_job(job_id).state == "succeeded"
    assert (stats.left_postponed, reports) == (0, [])
