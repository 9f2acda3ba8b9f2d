"""Circuit breakers and rate limits around real HTTP calls, on both backends.

Postponed jobs (open breaker, no rate token) go back to the queue without using an attempt.
The multi-process rate test starts real worker processes (`rate_runner.py`) sharing one bucket.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from conveyor import Conveyor, Fixed, Postpone, RateLimit
from conveyor.breaker import Breaker, BreakerRecord
from conveyor.events import BreakerClosed, BreakerEvent, BreakerOpened
from conveyor.job import Job
from tests.connections.conftest import DELIVER, Drain, closed_port, run_burst, run_until
from tests.http_sink import Request, Response, Sink

RetryIn = Callable[[float], None]
Event = tuple[str, str, str]
RUNNER = Path(__file__).with_name("rate_runner.py")


def listen(app: Conveyor) -> list[Event]:
    events: list[Event] = []

    def record(event: BreakerEvent) -> None:
        after = "open" if isinstance(event, BreakerOpened) else "closed"
        events.append((event.connection, event.previous, after))

    app.events.subscribe(record, BreakerOpened, BreakerClosed)
    return events


def breaker_of(app: Conveyor) -> BreakerRecord:
    record = app.store.breaker("shop")
    assert record is not None
    return record


def wait_until_cooled_off(record: BreakerRecord) -> None:
    assert record.open_until is not None
    time.sleep(max(0.0, record.open_until - time.time()) + 0.05)


def run_at(job: Job) -> float:
    assert job.run_at is not None
    return job.run_at.timestamp()


def assert_postponed(job: Job, until: float) -> None:
    """Back in the queue, its attempt not counted, due when the breaker allows a probe."""
    assert (job.state, job.attempts, job.errors) == ("queued", 0, [])
    assert run_at(job) == pytest.approx(until, abs=0.5)


SETTINGS = Breaker(failures=3, cool_off=1, max_cool_off=4)


def open_breaker(app: Conveyor, sink: Sink, drain: Drain, jobs: int = 5) -> list[int]:
    """Three 500s open the breaker; the jobs after them are postponed. Returns every job id."""
    app.tasks[DELIVER].retry = Fixed(60)
    app.connection("shop", sink.url, breaker=SETTINGS)
    sink.default("/x", Response(500, text="overloaded"))
    ids = [app.deliver("shop", "/x", {"n": n}) for n in range(jobs)]
    drain(app, concurrency=1)
    return ids


# -- circuit breaker ----------------------------------------------------------------------------


def test_the_breaker_opens_postpones_and_a_good_probe_closes_it(
    app: Conveyor, sink: Sink, drain: Drain
) -> None:
    events = listen(app)
    ids = open_breaker(app, sink, drain)
    assert len(sink.requests) == 3
    record = breaker_of(app)
    assert (record.state, record.failures, record.cool_off) == ("open", 3, 1)
    assert record.open_until == pytest.approx(time.time() + 1, abs=1)
    assert "500" in (record.last_error or "")
    for job_id in ids[:3]:
        assert (app.get_job(job_id).state, app.get_job(job_id).attempts) == ("retrying", 1)
    for job_id in ids[3:]:
        assert_postponed(app.get_job(job_id), record.open_until or 0)
    assert events == [("shop", "closed", "open")]

    wait_until_cooled_off(record)
    sink.default("/x", Response(200))
    drain(app, concurrency=1)
    assert [r.status for r in sink.requests] == [500, 500, 500, 200, 200]
    record = breaker_of(app)
    assert (record.state, record.failures) == ("closed", 0)
    for job_id in ids[3:]:
        job = app.get_job(job_id)
        assert (job.state, job.attempts) == ("succeeded", 1)
    assert events == [("shop", "closed", "open"), ("shop", "half_open", "closed")]


def test_a_failed_probe_reopens_it_for_twice_as_long(
    app: Conveyor, sink: Sink, drain: Drain
) -> None:
    events = listen(app)
    ids = open_breaker(app, sink, drain, jobs=4)
    wait_until_cooled_off(breaker_of(app))
    drain(app, concurrency=1)  # the probe: another 500
    assert len(sink.requests) == 4
    record = breaker_of(app)
    assert (record.state, record.failures, record.cool_off) == ("open", 4, 2)
    assert record.open_until == pytest.approx(time.time() + 2, abs=1)
    probe = app.get_job(ids[3])
    assert (probe.state, probe.attempts, probe.errors[-1]["status"]) == ("retrying", 1, 500)
    assert events == [("shop", "closed", "open"), ("shop", "half_open", "open")]

    later = app.deliver("shop", "/x", {"n": "later"})
    drain(app, concurrency=1)
    assert len(sink.requests) == 4
    assert_postponed(app.get_job(later), record.open_until or 0)


def test_one_probe_at_a_time(app: Conveyor, sink: Sink, drain: Drain) -> None:
    open_breaker(app, sink, drain, jobs=3)
    wait_until_cooled_off(breaker_of(app))
    sink.default("/x", Response(200, delay=0.5))
    ids = [app.deliver("shop", "/x", {"n": n}) for n in range(5)]
    drain(app, concurrency=5)
    assert [r.status for r in sink.requests] == [500, 500, 500, 200]
    assert breaker_of(app).state == "closed"
    states = sorted((app.get_job(i).state, app.get_job(i).attempts) for i in ids)
    assert states == [("queued", 0)] * 4 + [("succeeded", 1)]
    for job_id in ids:  # the others try again soon (at most 5 s behind a probe)
        assert run_at(app.get_job(job_id)) <= time.time() + 5


def test_network_errors_open_it_too(app: Conveyor, drain: Drain, retry_in: RetryIn) -> None:
    retry_in(60)
    app.connection(
        "shop", f"http://127.0.0.1:{closed_port()}", breaker=Breaker(failures=2, cool_off=30)
    )
    ids = [app.deliver("shop", "/x", {"n": n}) for n in range(3)]
    drain(app, concurrency=1)
    assert breaker_of(app).state == "open"
    assert [app.get_job(i).attempts for i in ids] == [1, 1, 0]
    assert app.get_job(ids[2]).state == "queued"


def test_4xx_answers_do_not_open_it(
    app: Conveyor, sink: Sink, drain: Drain, retry_in: RetryIn
) -> None:
    retry_in(60)
    app.connection("shop", sink.url, breaker=SETTINGS)
    sink.default("/x", Response(422))
    ids = [app.deliver("shop", "/x", {"n": n}) for n in range(5)]
    drain(app, concurrency=1)
    assert len(sink.requests) == 5
    assert {app.get_job(i).state for i in ids} == {"dead"}
    record = app.store.breaker("shop")
    assert record is None or record.state == "closed"


def test_only_consecutive_failures_count(
    app: Conveyor, sink: Sink, drain: Drain, retry_in: RetryIn
) -> None:
    retry_in(60)
    app.connection("shop", sink.url, breaker=SETTINGS)
    statuses = [500, 500, 200, 500, 500, 201, 500]
    sink.script("/x", [Response(s) for s in statuses])
    for n in range(len(statuses)):
        app.deliver("shop", "/x", {"n": n})
    drain(app, concurrency=1)
    assert [r.status for r in sink.requests] == statuses
    record = breaker_of(app)
    assert (record.state, record.failures) == ("closed", 1)


def test_without_a_breaker_nothing_is_postponed(
    app: Conveyor, sink: Sink, drain: Drain, retry_in: RetryIn
) -> None:
    retry_in(60)
    app.connection("shop", sink.url, breaker=False)
    sink.default("/x", Response(500))
    ids = [app.deliver("shop", "/x", {"n": n}) for n in range(8)]
    drain(app, concurrency=1)
    assert len(sink.requests) == 8
    assert {app.get_job(i).attempts for i in ids} == {1}
    assert app.store.breaker("shop") is None


# -- run_now under a breaker or a rate limit ----------------------------------------------------


def test_run_now_is_postponed_by_an_open_breaker(
    app: Conveyor, sink: Sink, drain: Drain, retry_in: RetryIn
) -> None:
    retry_in(60)
    app.connection("shop", sink.url, breaker=Breaker(failures=1, cool_off=30))
    sink.default("/x", Response(500))
    app.deliver("shop", "/x", {})
    drain(app)
    assert breaker_of(app).state == "open"
    with pytest.raises(Postpone) as caught:
        app.run_now(DELIVER, {"connection": "shop", "path": "/x", "body": {}})
    assert 20 < caught.value.after <= 30 and "circuit breaker" in caught.value.reason
    assert len(sink.requests) == 1


def test_run_now_takes_a_rate_token(app: Conveyor, sink: Sink) -> None:
    app.connection("shop", sink.url, rate_limit="1/min")
    payload = {"connection": "shop", "path": "/x", "body": {}}
    assert app.run_now(DELIVER, payload)["status"] == 200
    with pytest.raises(Postpone) as caught:
        app.run_now(DELIVER, payload)
    assert 50 < caught.value.after <= 60 and "rate limit" in caught.value.reason
    assert len(sink.requests) == 1
    assert app.stats() == {}


# -- rate limit ---------------------------------------------------------------------------------


def busiest_second(requests: list[Request]) -> int:
    """The most requests received in any half-open window of one second."""
    times = sorted(r.received_monotonic for r in requests)
    best, start = 0, 0
    for end, at in enumerate(times):
        while at - times[start] >= 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best


def rate(requests: list[Request]) -> float:
    times = sorted(r.received_monotonic for r in requests)
    return (len(times) - 1) / (times[-1] - times[0])


def test_a_rate_limited_connection_postpones_without_using_attempts(
    app: Conveyor, sink: Sink
) -> None:
    app.connection("shop", sink.url, rate_limit="10/s")
    ids = [app.deliver("shop", "/x", {"n": n}) for n in range(12)]
    stats = run_until(
        app, lambda: {app.get_job(i).state for i in ids} == {"succeeded"}, concurrency=6
    )
    requests = sink.requests_to("/x")
    assert len(requests) == 12
    assert busiest_second(requests) <= 11
    assert rate(requests) <= 11
    assert stats.postponed > 0
    assert {app.get_job(i).attempts for i in ids} == {1}


def test_a_postponed_job_after_a_failure_keeps_its_attempts(
    app: Conveyor, sink: Sink, retry_in: RetryIn
) -> None:
    retry_in(0)
    app.connection("shop", sink.url, rate_limit="10/s", breaker=False)
    sink.script("/x", [Response(500), Response(500)])
    ids = [app.deliver("shop", "/x", {"n": n}) for n in range(4)]
    run_until(app, lambda: {app.get_job(i).state for i in ids} == {"succeeded"}, concurrency=4)
    requests = sink.requests_to("/x")
    assert len(requests) == 6
    assert busiest_second(requests) <= 11
    assert sum(app.get_job(i).attempts for i in ids) == 6


@pytest.mark.parametrize("spec", ["5/s", "300/min", "6/s"])
def test_a_bucket_keeps_granting_tokens(app: Conveyor, spec: str) -> None:
    limit = RateLimit.parse(spec)
    granted, waits = [], []
    deadline = time.monotonic() + 1.1
    while time.monotonic() < deadline:
        wait = app.store.take_token("bucket", limit)
        if wait == 0:
            granted.append(time.monotonic())
        else:
            waits.append(wait)
            time.sleep(min(wait, 0.05))
    assert 5 <= len(granted) <= 7, (len(granted), waits[-3:])


def test_a_bucket_grants_its_burst_then_its_rate(app: Conveyor) -> None:
    limit = RateLimit.parse("10/s", burst=3)
    now = [app.store.take_token("bucket", limit) for _ in range(4)]
    assert now[:3] == [0, 0, 0] and 0.05 < now[3] <= 0.1
    time.sleep(now[3] + 0.01)
    assert app.store.take_token("bucket", limit) == 0
    assert app.store.take_token("other", limit) == 0  # buckets are separate


def test_a_probe_without_a_rate_token_gives_the_probe_slot_back(
    app: Conveyor, sink: Sink, drain: Drain, retry_in: RetryIn
) -> None:
    retry_in(60)
    conn = app.connection(
        "shop",
        sink.url,
        rate_limit="4/s",
        breaker=Breaker(failures=1, cool_off=0.5, probe_timeout=60),
    )
    sink.script("/x", [Response(500)])
    app.deliver("shop", "/x", {"n": 0})
    drain(app)
    wait_until_cooled_off(breaker_of(app))
    assert conn.rate_limit is not None
    while app.store.take_token(conn.bucket, conn.rate_limit) == 0:
        pass  # someone else just used the bucket up
    job_id = app.deliver("shop", "/x", {"n": 1})
    run_until(app, lambda: app.get_job(job_id).state == "succeeded", timeout=2.5, concurrency=1)
    assert breaker_of(app).state == "closed"


@pytest.mark.slow
def test_one_rate_limit_across_worker_processes(
    app: Conveyor,
    database_url: str,
    sink: Sink,
    tmp_path: Path,
) -> None:
    """Three worker processes share one 5/s bucket: the sink never sees more than 5 (plus the
    burst of 1) in any second, the rate is nearly reached, and no job used an attempt on a
    postponement."""
    spec, per_second, jobs = "5/s", 5, 40
    app.connection("shop", sink.url)
    command = [sys.executable, str(RUNNER), database_url, sink.url, str(tmp_path), spec]
    processes = []
    try:
        for n in range(3):
            with (tmp_path / f"worker{n}.err").open("wb") as err:
                processes.append(subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=err))
        deadline = time.monotonic() + 30
        while len(list(tmp_path.glob("ready-*"))) < 3:
            assert all(p.poll() is None for p in processes), logs(tmp_path)
            assert time.monotonic() < deadline, "the workers did not start\n" + logs(tmp_path)
            time.sleep(0.05)
        ids = [app.deliver("shop", "/x", {"n": n}) for n in range(jobs)]
        done, progress = 0, time.monotonic()
        while done < jobs:
            assert time.monotonic() - progress < 3, f"stalled: {app.stats()}\n{logs(tmp_path)}"
            assert all(p.poll() is None for p in processes), logs(tmp_path)
            time.sleep(0.1)
            now_done = app.stats().get("default", {}).get("succeeded", 0)
            if now_done > done:
                done, progress = now_done, time.monotonic()
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    assert [p.returncode for p in processes] == [0, 0, 0], logs(tmp_path)
    requests = sink.requests_to("/x")
    assert len(requests) == jobs
    senders = {r.headers["X-Worker-Pid"] for r in requests}
    assert len(senders) >= 2, senders
    assert busiest_second(requests) <= per_second + 1  # + burst
    assert rate(requests) >= 0.9 * per_second, rate(requests)
    assert {app.get_job(i).attempts for i in ids} == {1}


def logs(folder: Path) -> str:
    return "\n".join(
        f"--- {path.name}:\n{path.read_text(errors='replace')[-2000:]}"
        for path in sorted(folder.glob("worker*.err"))
    )


def test_burst_drains_a_rate_limited_connection(app: Conveyor, sink: Sink) -> None:
    app.connection("shop", sink.url, rate_limit="10/s", burst=1)
    ids = [app.deliver("shop", "/x", {"n": n}) for n in range(8)]
    stats = run_burst(app, concurrency=4)
    assert {app.get_job(i).state for i in ids} == {"succeeded"}
    assert len(sink.requests_to("/x")) == 8
    assert stats.postponed > 0


def test_a_postponed_job_shows_why_it_waits(app: Conveyor, sink: Sink) -> None:
    app.connection("shop", sink.url, rate_limit="1/min", burst=1)
    first, second = (app.deliver("shop", "/x", {"n": n}) for n in range(2))
    run_until(app, lambda: app.get_job(second).postponed_reason is not None, concurrency=1)
    assert app.get_job(first).state == "succeeded"
    job = app.get_job(second)
    assert (job.state, job.attempts) == ("queued", 0)
    assert job.postponed_reason == "rate limit of 'shop'"
    assert job.to_dict()["postponed_reason"] == "rate limit of 'shop'"
