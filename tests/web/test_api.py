"""The operator API under /api/ and the health routes, on a real uvicorn server, both backends:
every /api/ route refuses a missing or wrong token; the actions act; bad input is 4xx JSON."""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import pytest

from conveyor import Bearer, Conveyor
from conveyor.web import create_app
from tests.http_sink import Response, Sink

from .conftest import running


def call(
    base: str, method: str, path: str, body: Any = None, token: str | None = None
) -> tuple[int, Any, dict[str, str]]:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read()), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read()), dict(error.headers)


@pytest.fixture
def served(app: Conveyor) -> Iterator[tuple[Conveyor, str, str]]:
    @app.task(name="greet")
    def greet(payload: dict[str, int]) -> None: ...

    @app.task(name="fails", max_attempts=1)
    def fails(payload: dict[str, int]) -> None:
        raise RuntimeError("boom")

    token = app.ops.tokens.create("tests")
    with running(app) as base:
        yield app, base, token


def api_routes(app: Conveyor) -> list[tuple[str, str]]:
    """From the OpenAPI document: a route added later is checked too."""
    routes = []
    for path, operations in create_app(app).openapi()["paths"].items():
        if path.startswith("/api/"):
            for method in operations:
                routes.append(
                    (
                        method.upper(),
                        path.replace("{job_id}", "1")
                        .replace("{name}", "x")
                        .replace("{source}", "x")
                        .replace("{batch_id}", "1"),
                    )
                )
    return routes


def test_every_api_route_refuses_a_missing_or_wrong_token(
    served: tuple[Conveyor, str, str],
) -> None:
    app, base, token = served
    routes = api_routes(app)
    assert len(routes) >= 15
    for method, path in routes:
        for wrong in (None, "cvr_wrong", token + "x"):
            status, body, headers = call(base, method, path, {}, wrong)
            assert status == 401, (method, path, status, body)
            assert "error" in body and headers.get("www-authenticate") == "Bearer"
    app.ops.tokens.revoke("tests")
    assert call(base, "GET", "/api/jobs", token=token)[0] == 401


def test_enqueue_list_show_and_act(served: tuple[Conveyor, str, str]) -> None:
    _app, base, token = served
    status, body, _ = call(base, "POST", "/api/jobs", {"task": "greet", "payload": {"n": 1}}, token)
    assert status == 201
    job_id = body["id"]
    status, body, _ = call(base, "GET", f"/api/jobs/{job_id}", token=token)
    assert (status, body["state"], body["payload"]) == (200, "queued", {"n": 1})
    status, body, _ = call(base, "GET", "/api/jobs?state=queued&task=greet", token=token)
    assert [job["id"] for job in body["jobs"]] == [job_id]
    status, body, _ = call(base, "POST", f"/api/jobs/{job_id}/retry", {}, token)
    assert status == 409 and "only dead or retrying" in body["error"]
    assert call(base, "POST", f"/api/jobs/{job_id}/cancel", None, token)[1] == {
        "cancelled": [job_id]
    }
    assert call(base, "DELETE", f"/api/jobs/{job_id}", None, token)[1] == {"deleted": [job_id]}
    status, body, _ = call(base, "GET", f"/api/jobs/{job_id}", token=token)
    assert status == 404 and "no job" in body["error"]


def test_dead_jobs_retried_by_filter(served: tuple[Conveyor, str, str]) -> None:
    app, base, token = served
    ids = [app.enqueue("fails", {"n": n}) for n in range(3)]
    app.run_worker(burst=True, install_signal_handlers=False)
    assert set(app.ops.states(ids).values()) == {"dead"}
    body = {"filter": {"state": "dead", "task": "fails"}}
    status, answer, _ = call(base, "POST", "/api/jobs/retry", body, token)
    assert status == 200 and sorted(answer["retried"]) == sorted(ids)
    assert set(app.ops.states(ids).values()) == {"queued"}


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "words"),
    [
        ("POST", "/api/jobs", {"task": "nope"}, 422, "nope"),
        ("POST", "/api/jobs", {"task": "greet", "payload": {"n": "x"}}, 422, "payload"),
        ("POST", "/api/jobs", {"payload": 1}, 422, "task"),
        ("GET", "/api/jobs?state=lost", None, 400, "state"),
        ("GET", "/api/jobs?limit=0", None, 422, "limit"),
        ("GET", "/api/jobs/abc", None, 422, "job_id"),
        ("GET", "/api/jobs/99999999999999999999", None, 404, "no job"),
        ("POST", "/api/jobs/retry", {}, 422, "ids"),
        ("POST", "/api/jobs/retry", {"filter": {"colour": "red"}}, 400, "colour"),
        ("POST", "/api/connections/nope/pause", {}, 404, "nope"),
        ("GET", "/api/nothing", None, 404, "Not Found"),
        ("GET", "/api/sync/nope/records", None, 400, "nope"),
        ("GET", "/api/sync/runs?limit=5000", None, 422, "limit"),
    ],
)
def test_bad_input_is_4xx_json_naming_the_problem(
    served: tuple[Conveyor, str, str],
    method: str,
    path: str,
    body: Any,
    status: int,
    words: str,
) -> None:
    app, base, token = served
    before = app.ops.counts()
    got, answer, _ = call(base, method, path, body, token)
    assert got == status, answer
    assert words in answer["error"]
    assert app.ops.counts() == before


def test_reads_schedules_stats_workers_and_openapi(served: tuple[Conveyor, str, str]) -> None:
    _app, base, token = served
    names = [s["name"] for s in call(base, "GET", "/api/schedules", token=token)[1]["schedules"]]
    assert "conveyor.prune" in names
    assert call(base, "GET", "/api/stats", token=token)[1] == {"queues": {}}
    assert call(base, "GET", "/api/workers", token=token)[1] == {"workers": []}
    assert call(base, "GET", "/api/sync/runs", token=token)[1] == {"runs": []}
    status, spec, _ = call(base, "GET", "/api/openapi.json")
    assert status == 200 and "/api/jobs" in spec["paths"]


def test_health(served: tuple[Conveyor, str, str]) -> None:
    _app, base, _ = served
    assert call(base, "GET", "/healthz")[:2] == (200, {"status": "ok"})
    status, body, _ = call(base, "GET", "/readyz")
    assert status == 200 and body["status"] == "degraded"  # no worker heartbeats
    assert {c["name"]: c["status"] for c in body["checks"]}["workers"] == "warn"


def test_keyset_pages_list_each_job_once(served: tuple[Conveyor, str, str]) -> None:
    app, base, token = served
    ids = app.enqueue_many("greet", [{"n": n} for n in range(23)])
    seen: list[int] = []
    cursor: int | None = None
    pages = 0
    while True:
        path = "/api/jobs?task=greet&limit=5" + (f"&before={cursor}" if cursor else "")
        status, body, _ = call(base, "GET", path, token=token)
        assert status == 200
        seen += [job["id"] for job in body["jobs"]]
        pages += 1
        if pages == 2:  # jobs added meanwhile do not shift the pages
            app.enqueue_many("greet", [{"n": 100}, {"n": 101}])
        cursor = body["next"]
        if cursor is None:
            break
    assert seen == sorted(ids, reverse=True) and pages == 5


def test_blocked_keys_are_paged_by_keyset(served: tuple[Conveyor, str, str]) -> None:
    app, base, token = served
    heads = [app.enqueue("fails", {"n": n}, key=f"k{n}") for n in range(3)]
    app.enqueue("greet", {"n": 9}, key="k0")
    app.run_worker(burst=True, install_signal_handlers=False)
    status, body, _ = call(base, "GET", "/api/blocked-keys?limit=2", token=token)
    assert status == 200 and [b["job_id"] for b in body["blocked_keys"]] == heads[:2]
    assert body["blocked_keys"][0]["waiting"] == 1 and body["next"] == heads[1]
    status, body, _ = call(base, "GET", f"/api/blocked-keys?limit=2&after={heads[1]}", token=token)
    assert [b["job_id"] for b in body["blocked_keys"]] == heads[2:] and body["next"] is None
    status, body, _ = call(base, "GET", "/api/blocked-keys?after=-1", token=token)
    assert status == 422 and "after" in body["error"]


def test_everything_dead_since_a_time_is_retried(served: tuple[Conveyor, str, str]) -> None:
    app, base, token = served
    old = [app.enqueue("fails", {"n": n}) for n in range(2)]
    app.run_worker(burst=True, install_signal_handlers=False)
    time.sleep(0.05)
    since = datetime.now(UTC)
    new = [app.enqueue("fails", {"n": n}) for n in range(3)]
    app.run_worker(burst=True, install_signal_handlers=False)
    body = {"filter": {"state": "dead", "task": "fails", "since": since.isoformat()}}
    status, answer, _ = call(base, "POST", "/api/jobs/retry", body, token)
    assert status == 200 and sorted(answer["retried"]) == sorted(new)
    assert set(app.ops.states(old).values()) == {"dead"}
    bad = {"filter": {"state": "dead", "since": "yesterday"}}
    status, answer, _ = call(base, "POST", "/api/jobs/retry", bad, token)
    assert status == 422 and "since" in answer["error"]


# -- by connection and by error text ("everything dead for connection X since T") --------------


def test_jobs_by_connection_and_error_text(served: tuple[Conveyor, str, str]) -> None:
    with Sink() as sink:
        _by_connection_and_error(*served, sink)


def _by_connection_and_error(app: Conveyor, base: str, token: str, sink: Sink) -> None:
    app.connection("shop", sink.url)
    app.connection("crm", sink.url)
    sink.default("/refused", Response(401, json={"error": "bad token"}))
    old = [app.deliver("shop", "/refused", {"n": n}) for n in range(2)]
    app.run_worker(burst=True, install_signal_handlers=False)
    time.sleep(0.05)
    since = datetime.now(UTC)
    new = [app.deliver("shop", "/refused", {"n": n}) for n in range(2)]
    crm = app.deliver("crm", "/refused", {"n": 9})
    fine = app.deliver("shop", "/ok", {"n": 10})
    app.run_worker(burst=True, install_signal_handlers=False)
    assert set(app.ops.states([*old, *new, crm]).values()) == {"dead"}

    status, body, _ = call(base, "GET", "/api/jobs?connection=shop", token=token)
    assert status == 200
    assert [j["id"] for j in body["jobs"]] == sorted([*old, *new, fine], reverse=True)
    assert {j["connection"] for j in body["jobs"]} == {"shop"}
    path = f"/api/jobs?state=dead&error={quote('HTTP 401')}"
    assert [j["id"] for j in call(base, "GET", path, token=token)[1]["jobs"]] == sorted(
        [*old, *new, crm], reverse=True
    )
    words, after = quote("http 401 from post"), quote(since.isoformat())
    path = f"/api/jobs?connection=shop&error={words}&since={after}"
    assert [j["id"] for j in call(base, "GET", path, token=token)[1]["jobs"]] == sorted(
        new, reverse=True
    )

    chosen = {"state": "dead", "connection": "shop", "since": since.isoformat()}
    status, answer, _ = call(base, "POST", "/api/jobs/retry", {"filter": chosen}, token)
    assert status == 200 and sorted(answer["retried"]) == sorted(new)
    assert set(app.ops.states([*old, crm]).values()) == {"dead"}
    by_error = {"filter": {"connection": "crm", "error": "401"}}
    status, answer, _ = call(base, "POST", "/api/jobs/cancel", by_error, token)
    assert status == 200 and answer["cancelled"] == [crm]
    status, answer, _ = call(base, "POST", "/api/jobs/delete", {"filter": chosen}, token)
    assert status == 200 and answer["deleted"] == []  # retried: queued now, none dead since


def test_bad_connection_or_error_filters_are_4xx(served: tuple[Conveyor, str, str]) -> None:
    _app, base, token = served
    for body in (
        {"filter": {"connection": 5}},
        {"filter": {"error": ["x"]}},
        {"filter": {"error": "a\u0000b"}},
    ):
        status, answer, _ = call(base, "POST", "/api/jobs/retry", body, token)
        assert status == 400 and "filter" in answer["error"], answer
    status, answer, _ = call(base, "GET", "/api/jobs?error=%00", token=token)
    assert status == 400 and "NUL" in answer["error"]


# -- connection test -------------------------------------------------------------------------


def test_connection_test_answers_without_secrets(served: tuple[Conveyor, str, str]) -> None:
    app, base, token = served
    secret = "s3cret-token-value"
    with Sink() as sink:
        sink.default("/me", Response(200, json={"account": {"name": "ACME"}}))
        sink.default("/locked", Response(401, json={"echo": secret}))
        app.connection("shop", sink.url, check="GET /me", identity="account.name")
        app.connection("locked", sink.url, auth=Bearer(secret), check="GET /locked")
        status, body, _ = call(base, "POST", "/api/connections/shop/test", None, token)
        assert status == 200, body
        assert (body["ok"], body["status"], body["identity"]) == (True, 200, "ACME")
        assert body["detail"] == "ok" and body["latency_ms"] >= 0
        status, body, _ = call(base, "POST", "/api/connections/locked/test", None, token)
        assert (status, body["ok"], body["status"]) == (200, False, 401)
        assert "credentials" in body["detail"]
        [sent] = sink.requests_to("/locked")
        assert sent.headers["Authorization"] == f"Bearer {secret}"  # it was sent, not shown
        sink.default("/whoami", Response(200, json={"token": f"it is {secret}"}))
        app.connection("echo", sink.url, auth=Bearer(secret), check="GET /whoami", identity="token")
        status, body, _ = call(base, "POST", "/api/connections/echo/test", None, token)
        assert (status, body["ok"], body["identity"]) == (200, True, "it is ***")
    closed = f"http://user:{secret}@127.0.0.1:{_closed_port()}"
    app.connection("gone", closed, connect_timeout=2)
    status, body, _ = call(base, "POST", "/api/connections/gone/test", None, token)
    assert (status, body["ok"], body["status"]) == (200, False, None)
    assert secret not in json.dumps(body) and body["detail"]
    status, body, _ = call(base, "POST", "/api/connections/nope/test", None, token)
    assert status == 404 and "nope" in body["error"]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_jobs_listed_and_retried_by_a_text_of_their_last_error(
    served: tuple[Conveyor, str, str],
) -> None:
    app, base, token = served
    ids = [app.enqueue("fails", {"n": n}) for n in range(2)]
    app.run_worker(burst=True, install_signal_handlers=False)
    status, body, _ = call(base, "GET", "/api/jobs?error=BOOM", token=token)
    assert status == 200 and sorted(job["id"] for job in body["jobs"]) == sorted(ids)
    assert call(base, "GET", "/api/jobs?error=nothing-like-it", token=token)[1]["jobs"] == []
    selection = {"filter": {"state": "dead", "error": "boom"}}
    status, answer, _ = call(base, "POST", "/api/jobs/retry", selection, token)
    assert status == 200 and sorted(answer["retried"]) == sorted(ids)
