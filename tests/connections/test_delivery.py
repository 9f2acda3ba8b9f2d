"""The built-in delivery task against a real HTTP server: what is sent, how the answer is
classified, Retry-After, the Idempotency-Key, run_now and the connection tester. What the store
keeps runs on both backends; pure HTTP behaviour on SQLite only (`sqlite_only`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from email.utils import formatdate

import pytest

from conveyor import (
    Bearer,
    ConfigurationError,
    Conveyor,
    Fixed,
    Job,
    PayloadError,
    PermanentStatus,
    RetryableStatus,
)
from conveyor.breaker import Breaker
from conveyor.connections import make_connection
from tests.connections.conftest import DELIVER, Drain, closed_port, sqlite_only
from tests.http_sink import Response, Sink

RetryIn = Callable[[float], None]


def epoch(job: Job) -> float:
    assert job.run_at is not None
    return job.run_at.timestamp()


# -- what is sent -------------------------------------------------------------------------------


def test_a_delivery_posts_the_json_body_and_keeps_the_answer(
    app: Conveyor, sink: Sink, drain: Drain
) -> None:
    app.connection("shop", sink.url + "/api", headers={"X-Tenant": "t1"})
    sink.script("/api/contacts", [Response(201, json={"id": 99, "name": "Ada"}, delay=0.05)])
    job_id = app.deliver("shop", "/contacts", {"email": "ada@example.com", "n": 1})
    assert app.get_job(job_id).state == "queued"
    started = time.perf_counter()
    drain(app)
    elapsed_ms = (time.perf_counter() - started) * 1000

    [request] = sink.requests
    assert (request.method, request.path) == ("POST", "/api/contacts")
    assert request.json == {"email": "ada@example.com", "n": 1}
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Idempotency-Key"] == app.get_job(job_id).payload["idempotency_key"]
    assert request.headers["Idempotency-Key"].startswith("conveyor-")
    assert request.headers["X-Tenant"] == "t1"
    assert "Authorization" not in request.headers
    job = app.get_job(job_id)
    assert (job.state, job.attempts, job.errors) == ("succeeded", 1, [])
    assert job.result["status"] == 201
    assert 50 <= job.result["latency_ms"] <= elapsed_ms  # the sink waited 50 ms to answer
    assert '"name": "Ada"' in job.result["response"]
    assert job.result["url"] == sink.url + "/api/contacts"


@sqlite_only
@pytest.mark.parametrize("method", ["PUT", "patch", "DELETE"])
def test_other_methods(app: Conveyor, sink: Sink, drain: Drain, method: str) -> None:
    app.connection("shop", sink.url)
    body = None if method == "DELETE" else {"name": "Ada"}
    job_id = app.deliver("shop", "/contacts/7", body, method=method)
    drain(app)
    [request] = sink.requests
    assert (request.method, request.path, request.json) == (method.upper(), "/contacts/7", body)
    if body is None:
        assert request.body == b"" and "Content-Type" not in request.headers
    assert app.get_job(job_id).state == "succeeded"


@sqlite_only
def test_a_bad_method_is_refused_at_enqueue(app: Conveyor, sink: Sink) -> None:
    app.connection("shop", sink.url)
    with pytest.raises(PayloadError, match="method"):
        app.deliver("shop", "/contacts", {"a": 1}, method="GET")
    assert app.stats() == {}


@sqlite_only
def test_an_unknown_connection_is_refused_at_enqueue(app: Conveyor, sink: Sink) -> None:
    app.connection("shop", sink.url)
    with pytest.raises(ConfigurationError, match=r"unknown connection 'crm'.*shop"):
        app.deliver("crm", "/contacts", {"a": 1})
    assert app.stats() == {}


@sqlite_only
@pytest.mark.parametrize(
    "path",
    [
        "http://127.0.0.1:{port}/steal",
        "HTTP://127.0.0.1:{port}/steal",
        " http://127.0.0.1:{port}/steal",
        "//127.0.0.1:{port}/steal",
    ],
)
def test_a_url_in_the_path_never_takes_the_credentials_elsewhere(
    app: Conveyor, sink: Sink, drain: Drain, retry_in: RetryIn, path: str
) -> None:
    retry_in(60)
    app.connection("shop", sink.url, auth=Bearer("shop-token"))
    with Sink() as other:
        try:
            job_id = app.deliver("shop", path.format(port=other.port), {"a": 1})
        except PayloadError:
            job_id = None  # refused at enqueue: fine too
        else:
            drain(app)
        assert other.requests == [] and sink.requests == []
    if job_id is not None:
        assert app.get_job(job_id).state != "succeeded"


@pytest.mark.parametrize("path", ["HTTPS://example.invalid/x", "\thttp://example.invalid/x"])
def test_a_connection_only_builds_urls_on_its_base(path: str) -> None:
    connection = make_connection("shop", "http://127.0.0.1:9/api")
    assert connection.url("/contacts/7") == "http://127.0.0.1:9/api/contacts/7"
    with pytest.raises(ConfigurationError, match="relative"):
        connection.url(path)


@sqlite_only
def test_a_url_instead_of_a_path_is_refused_at_enqueue(app: Conveyor, sink: Sink) -> None:
    app.connection("shop", sink.url)
    with pytest.raises(PayloadError, match="relative"):
        app.deliver("shop", "https://example.invalid/x", {"a": 1})
    assert app.stats() == {}


# -- the Idempotency-Key ------------------------------------------------------------------------


def test_the_idempotency_key_is_the_same_on_every_attempt(
    app: Conveyor, sink: Sink, drain: Drain, retry_in: RetryIn
) -> None:
    retry_in(0)
    app.connection("shop", sink.url)
    sink.script("/orders", [Response(500), Response(500), Response(200)])
    job_id = app.deliver("shop", "/orders", {"order": 7})
    drain(app)
    requests = sink.requests_to("/orders")
    assert [r.status for r in requests] == [500, 500, 200]
    job = app.get_job(job_id)
    assert {r.headers["Idempotency-Key"] for r in requests} == {job.payload["idempotency_key"]}
    assert (job.state, job.attempts) == ("succeeded", 3)
    assert [e["status"] for e in job.errors] == [500, 500]


def test_an_explicit_idempotency_key_is_sent_and_dedupes(
    app: Conveyor, sink: Sink, drain: Drain, retry_in: RetryIn
) -> None:
    retry_in(0)
    app.connection("shop", sink.url)
    sink.script("/orders", [Response(500), Response(200)])
    job_id = app.deliver("shop", "/orders", {"order": 7}, idempotency_key="order:7")
    assert app.deliver("shop", "/orders", {"order": 7}, idempotency_key="order:7") == job_id
    drain(app)
    requests = sink.requests_to("/orders")
    assert [r.headers["Idempotency-Key"] for r in requests] == ["order:7", "order:7"]
    assert app.get_job(job_id).state == "succeeded"


# -- classification -----------------------------------------------------------------------------


@sqlite_only
@pytest.mark.parametrize("status", [500, 502, 504, 408, 425])  # 429, 503: test_politeness
def test_retryable_statuses(
    app: Conveyor, sink: Sink, drain: Drain, retry_in: RetryIn, status: int
) -> None:
    retry_in(60)
    app.connection("shop", sink.url)
    sink.default("/x", Response(status, text=f"busy {status}", delay=0.02))
    job_id = app.deliver("shop", "/x", {"a": 1})
    started = time.perf_counter()
    drain(app)
    elapsed_ms = (time.perf_counter() - started) * 1000
    assert len(sink.requests) == 1
    job = app.get_job(job_id)
    assert (job.state, job.attempts) == ("retrying", 1)
    error = job.errors[-1]
    assert (error["status"], error["response"], error["type"]) == (
        status,
        f"busy {status}",
        "RetryableStatus",
    )
    assert 20 <= error["latency_ms"] <= elapsed_ms
    assert epoch(job) == pytest.approx(time.time() + 60, abs=10)


@sqlite_only
def test_connection_refused_is_retried(app: Conveyor, drain: Drain, retry_in: RetryIn) -> None:
    retry_in(60)
    app.connection("shop", f"http://127.0.0.1:{closed_port()}")
    job_id = app.deliver("shop", "/x", {"a": 1})
    started = time.perf_counter()
    drain(app)
    elapsed_ms = (time.perf_counter() - started) * 1000
    job = app.get_job(job_id)
    assert (job.state, job.attempts) == ("retrying", 1)
    error = job.errors[-1]
    assert error["type"] == "RemoteUnavailable"
    assert error["status"] is None and 0 <= error["latency_ms"] <= elapsed_ms


@sqlite_only
def test_a_read_timeout_is_retried(
    app: Conveyor, sink: Sink, drain: Drain, retry_in: RetryIn
) -> None:
    retry_in(60)
    app.connection("shop", sink.url, read_timeout=0.3)
    sink.default("/slow", Response(200, delay=3))
    job_id = app.deliver("shop", "/slow", {"a": 1})
    started = time.monotonic()
    drain(app)
    assert time.monotonic() - started < 2.5
    job = app.get_job(job_id)
    assert (job.state, job.attempts) == ("retrying", 1)
    error = job.errors[-1]
    assert error["type"] == "RemoteUnavailable" and error["status"] is None
    assert 250 <= error["latency_ms"] < 2500


@sqlite_only
@pytest.mark.parametrize("failure", ["status", "refused", "timeout"])
def test_retryable_failures_keep_their_message(
    app: Conveyor, sink: Sink, drain: Drain, retry_in: RetryIn, failure: str
) -> None:
    retry_in(60)
    if failure == "refused":
        port = closed_port()
        app.connection("shop", f"http://127.0.0.1:{port}")
        expected = f"POST http://127.0.0.1:{port}/x: cannot connect"
    else:
        app.connection("shop", sink.url, read_timeout=0.3)
        sink.default("/x", Response(500) if failure == "status" else Response(200, delay=3))
        expected = (
            f"HTTP 500 from POST {sink.url}/x"
            if failure == "status"
            else f"POST {sink.url}/x: timed out (connect 5 s, read 0.3 s)"
        )
    job_id = app.deliver("shop", "/x", {"a": 1})
    drain(app)
    job = app.get_job(job_id)
    assert job.errors[-1]["message"].startswith(expected)
    assert (job.last_error or "").startswith(expected)


@sqlite_only
@pytest.mark.parametrize("status", [400, 401, 404, 409, 422])
def test_other_4xx_are_dead_at_once(
    app: Conveyor, sink: Sink, drain: Drain, retry_in: RetryIn, status: int
) -> None:
    retry_in(0)
    app.connection("shop", sink.url)
    sink.default("/x", Response(status, json={"error": "email is invalid"}))
    job_id = app.deliver("shop", "/x", {"email": "nope"})
    drain(app)
    assert len(sink.requests) == 1
    job = app.get_job(job_id)
    assert (job.state, job.attempts, len(job.errors)) == ("dead", 1, 1)
    error = job.errors[-1]
    assert error["status"] == status and error["type"] == "PermanentStatus"
    assert "email is invalid" in error["response"]
    assert f"HTTP {status}" in (job.last_error or "")


@sqlite_only
def test_the_response_excerpt_is_bounded(
    app: Conveyor, sink: Sink, drain: Drain, retry_in: RetryIn
) -> None:
    retry_in(60)
    app.connection("shop", sink.url)
    sink.default("/x", Response(500, text="e" * 50_000))
    job_id = app.deliver("shop", "/x", {"a": 1})
    drain(app)
    excerpt = app.get_job(job_id).errors[-1]["response"]
    assert 1000 <= len(excerpt) <= 2100 and excerpt.startswith("eeee")


def test_attempts_run_out(app: Conveyor, sink: Sink, drain: Drain, retry_in: RetryIn) -> None:
    retry_in(0)
    app.connection("shop", sink.url, breaker=False)
    sink.default("/x", Response(500))
    job_id = app.deliver("shop", "/x", {"a": 1})
    drain(app)
    job = app.get_job(job_id)
    assert (job.state, job.attempts, len(job.errors)) == ("dead", 10, 10)
    assert len(sink.requests) == 10
    assert [e["attempt"] for e in job.errors] == list(range(1, 11))


# -- Retry-After --------------------------------------------------------------------------------


@sqlite_only
def test_retry_after_in_seconds(app: Conveyor, sink: Sink, drain: Drain, retry_in: RetryIn) -> None:
    retry_in(0)  # without the header the job would run again at once
    app.connection("shop", sink.url)
    sink.default("/x", Response(500, headers={"Retry-After": "120"}))
    job_id = app.deliver("shop", "/x", {"a": 1})
    drain(app)
    job = app.get_job(job_id)
    assert (job.state, job.attempts) == ("retrying", 1)
    assert epoch(job) == pytest.approx(time.time() + 120, abs=10)
    assert len(sink.requests) == 1


@sqlite_only
def test_a_429s_retry_after_postpones_the_job_with_its_connection(
    app: Conveyor, sink: Sink, drain: Drain, retry_in: RetryIn
) -> None:
    retry_in(0)
    app.connection("shop", sink.url)
    sink.default("/x", Response(429, headers={"Retry-After": "120"}))
    job_id = app.deliver("shop", "/x", {"a": 1})
    drain(app)
    job = app.get_job(job_id)
    assert (job.state, job.attempts, job.errors) == ("queued", 0, [])  # no attempt used
    assert epoch(job) == pytest.approx(time.time() + 120, abs=10)
    assert "HTTP 429" in (job.postponed_reason or "")
    assert len(sink.requests) == 1


@sqlite_only
def test_retry_after_as_an_http_date(
    app: Conveyor, sink: Sink, drain: Drain, retry_in: RetryIn
) -> None:
    retry_in(0)
    app.connection("shop", sink.url)
    when = time.time() + 300
    sink.default("/x", Response(503, headers={"Retry-After": formatdate(when, usegmt=True)}))
    job_id = app.deliver("shop", "/x", {"a": 1})
    drain(app)
    job = app.get_job(job_id)
    assert (job.state, job.attempts) == ("queued", 0)  # postponed with its connection
    assert epoch(job) == pytest.approx(when, abs=10)


@sqlite_only
def test_a_huge_retry_after_is_capped(
    app: Conveyor, sink: Sink, drain: Drain, retry_in: RetryIn
) -> None:
    retry_in(0)
    app.connection("shop", sink.url, max_retry_after=600)
    sink.default("/x", Response(429, headers={"Retry-After": "99999999"}))
    job_id = app.deliver("shop", "/x", {"a": 1})
    drain(app)
    job = app.get_job(job_id)
    assert (job.state, job.attempts) == ("queued", 0)
    assert epoch(job) == pytest.approx(time.time() + 600, abs=10)


@sqlite_only
def test_a_garbled_retry_after_falls_back_to_the_policy(
    app: Conveyor, sink: Sink, drain: Drain, retry_in: RetryIn
) -> None:
    retry_in(45)
    app.connection("shop", sink.url)
    sink.default("/x", Response(500, headers={"Retry-After": "soon-ish"}))
    job_id = app.deliver("shop", "/x", {"a": 1})
    drain(app)
    assert epoch(app.get_job(job_id)) == pytest.approx(time.time() + 45, abs=10)


# -- run now ------------------------------------------------------------------------------------


@sqlite_only
def test_run_now_returns_the_result_and_stores_nothing(app: Conveyor, sink: Sink) -> None:
    app.connection("shop", sink.url)
    sink.script("/x", [Response(200, json={"id": 5}, delay=0.05)])
    started = time.perf_counter()
    result = app.run_now(DELIVER, {"connection": "shop", "path": "/x", "body": {"a": 1}})
    elapsed_ms = (time.perf_counter() - started) * 1000
    assert result["status"] == 200 and '"id": 5' in result["response"]
    assert 50 <= result["latency_ms"] <= elapsed_ms
    [request] = sink.requests
    assert request.json == {"a": 1} and request.method == "POST"
    assert app.stats() == {}


def test_run_now_persisted(app: Conveyor, sink: Sink) -> None:
    app.connection("shop", sink.url)
    result = app.run_now(
        DELIVER, {"connection": "shop", "path": "/x", "body": {"a": 1}}, persist=True
    )
    assert result["status"] == 200
    assert app.stats() == {"default": {"succeeded": 1}}
    [job] = app.list_jobs()
    assert (job.task, job.state, job.result["status"]) == (DELIVER, "succeeded", 200)


def test_run_now_raises_a_permanent_status(app: Conveyor, sink: Sink) -> None:
    app.connection("shop", sink.url)
    sink.default("/x", Response(400, json={"error": "bad email"}))
    payload = {"connection": "shop", "path": "/x", "body": {"a": 1}}
    with pytest.raises(PermanentStatus) as caught:
        app.run_now(DELIVER, payload)
    assert caught.value.status == 400 and "bad email" in caught.value.details["response"]
    assert app.stats() == {}
    with pytest.raises(PermanentStatus):
        app.run_now(DELIVER, payload, persist=True)
    [job] = app.list_jobs()
    assert job.state == "dead" and job.errors[-1]["status"] == 400


@sqlite_only
def test_run_now_raises_a_retryable_status(app: Conveyor, sink: Sink) -> None:
    app.connection("shop", sink.url)
    sink.default("/x", Response(500, headers={"Retry-After": "7"}))
    with pytest.raises(RetryableStatus) as caught:
        app.run_now(DELIVER, {"connection": "shop", "path": "/x"})
    assert caught.value.after == 7 and caught.value.status == 500


@sqlite_only
def test_run_now_deliveries_get_distinct_idempotency_keys(app: Conveyor, sink: Sink) -> None:
    app.connection("shop", sink.url)
    app.run_now(DELIVER, {"connection": "shop", "path": "/x", "body": {"order": 1}})
    app.run_now(DELIVER, {"connection": "shop", "path": "/x", "body": {"order": 2}})
    keys = [r.headers["Idempotency-Key"] for r in sink.requests]
    assert len(keys) == 2 and keys[0] != keys[1], keys


@sqlite_only
def test_run_now_sends_an_explicit_idempotency_key(app: Conveyor, sink: Sink) -> None:
    app.connection("shop", sink.url)
    app.run_now(
        DELIVER, {"connection": "shop", "path": "/x", "body": {}, "idempotency_key": "sync:1"}
    )
    assert sink.requests[0].headers["Idempotency-Key"] == "sync:1"


# -- the connection tester ----------------------------------------------------------------------


@sqlite_only
def test_the_tester_reports_ok_and_the_identity(app: Conveyor, sink: Sink) -> None:
    app.connection("shop", sink.url, check="GET /me", identity="account.name")
    sink.default("/me", Response(200, json={"account": {"name": "ACME Ltd", "id": 3}}, delay=0.05))
    started = time.perf_counter()
    check = app.test_connection("shop")
    elapsed_ms = (time.perf_counter() - started) * 1000
    assert (check.ok, check.status, check.identity, check.message) == (True, 200, "ACME Ltd", "ok")
    assert check.latency_ms is not None and 50 <= check.latency_ms <= elapsed_ms
    [request] = sink.requests
    assert (request.method, request.path) == ("GET", "/me")
    assert app.stats() == {}


@sqlite_only
def test_the_tester_identity_may_name_several_fields(app: Conveyor, sink: Sink) -> None:
    app.connection("shop", sink.url, check="GET /me", identity="{account.name} (id {account.id})")
    app.connection("gone", sink.url, check="GET /me", identity="{account.name} {account.vat}")
    sink.default("/me", Response(200, json={"account": {"name": "ACME Ltd", "id": 3}}))
    assert app.test_connection("shop").identity == "ACME Ltd (id 3)"
    check = app.test_connection("gone")  # a field the answer lacks: no identity, still ok
    assert (check.ok, check.identity) == (True, None)


@sqlite_only
def test_the_tester_explains_a_401(app: Conveyor, sink: Sink) -> None:
    app.connection("shop", sink.url, auth=Bearer("wrong"), check="GET /me")
    sink.default("/me", Response(401, json={"error": "invalid_token"}))
    check = app.test_connection("shop")
    assert (check.ok, check.status, check.identity) == (False, 401, None)
    assert "401" in check.message and "credentials" in check.message
    assert sink.requests[0].headers["Authorization"] == "Bearer wrong"


@sqlite_only
def test_the_tester_explains_another_failure(app: Conveyor, sink: Sink) -> None:
    app.connection("shop", sink.url, check="GET /me")
    sink.default("/me", Response(500))
    check = app.test_connection("shop")
    assert (check.ok, check.status) == (False, 500)
    assert "HTTP 500" in check.message


@sqlite_only
def test_the_tester_reports_a_closed_port_and_a_timeout(app: Conveyor, sink: Sink) -> None:
    app.connection("closed", f"http://127.0.0.1:{closed_port()}", check="GET /me")
    app.connection("slow", sink.url, check="GET /me", read_timeout=0.3)
    sink.default("/me", Response(200, delay=3))
    started = time.monotonic()
    refused, slow = app.test_connection("closed"), app.test_connection("slow")
    assert time.monotonic() - started < 2.5
    assert (refused.ok, refused.status, refused.identity) == (False, None, None)
    assert (slow.ok, slow.status, slow.identity) == (False, None, None)
    assert slow.latency_ms is not None and slow.latency_ms >= 250


@sqlite_only
def test_the_tester_explains_a_closed_port(app: Conveyor) -> None:
    port = closed_port()
    app.connection("shop", f"http://127.0.0.1:{port}", check="GET /me")
    check = app.test_connection("shop")
    assert check.message.startswith("connection failed:")
    assert str(port) in check.message


@sqlite_only
def test_the_tester_explains_a_timeout(app: Conveyor, sink: Sink) -> None:
    app.connection("shop", sink.url, check="GET /me", read_timeout=0.3)
    sink.default("/me", Response(200, delay=3))
    check = app.test_connection("shop")
    assert check.message.startswith("timeout:") and "timed out" in check.message


def test_the_tester_bypasses_an_open_breaker(app: Conveyor, sink: Sink, drain: Drain) -> None:
    app.tasks[DELIVER].retry = Fixed(60)
    app.connection("shop", sink.url, breaker=Breaker(failures=1, cool_off=60), check="GET /me")
    sink.default("/x", Response(500))
    app.deliver("shop", "/x", {})
    drain(app)
    breaker = app.store.breaker("shop")
    assert breaker is not None and breaker.state == "open"
    assert app.test_connection("shop").ok
