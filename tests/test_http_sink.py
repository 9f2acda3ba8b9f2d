"""The test HTTP sink (tests/http_sink.py) records, scripts, delays and does OAuth2 for real."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
from typing import Any
from urllib.parse import quote_plus

import aiohttp
import pytest

from tests.http_sink import (
    Response,
    Sink,
    sink_fixture,  # noqa: F401  (the `sink` fixture)
)


class Answer:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers  # lower-case names
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body)


def call(method: str, url: str, *, timeout: float = 10.0, **kwargs: Any) -> Answer:
    """One real request with aiohttp, from this (test) thread's own event loop."""

    async def go() -> Answer:
        limit = aiohttp.ClientTimeout(total=timeout)
        async with (
            aiohttp.ClientSession(timeout=limit) as session,
            session.request(method, url, **kwargs) as response,
        ):
            body = await response.read()
            headers = {k.lower(): v for k, v in response.headers.items()}
            return Answer(response.status, headers, body)

    return asyncio.run(go())


def basic(client_id: str, client_secret: str) -> dict[str, str]:
    """RFC 6749 2.3.1: form-urlencode id and secret, then HTTP Basic."""
    pair = f"{quote_plus(client_id)}:{quote_plus(client_secret)}".encode()
    return {"Authorization": "Basic " + base64.b64encode(pair).decode()}


GRANT = {"grant_type": "client_credentials"}


# --- recording ----------------------------------------------------------------------------------


def test_records_every_request(sink: Sink) -> None:
    before = time.time()
    answer = call(
        "POST",
        sink.url + "/events?kind=order&kind=refund&x=1",
        json={"id": 7, "name": "été"},
        headers={"X-Custom-Header": "yes", "Idempotency-Key": "abc"},
    )
    call("GET", sink.url_for("/health"))

    assert answer.status == 200
    assert answer.json() == {"ok": True}
    assert answer.headers["content-type"].startswith("application/json")
    first, second = sink.requests
    assert (first.method, first.path, second.method, second.path) == (
        "POST",
        "/events",
        "GET",
        "/health",
    )
    assert first.query.getall("kind") == ["order", "refund"]
    assert first.query["x"] == "1"
    assert first.headers["x-custom-header"] == "yes"  # case-insensitive
    assert first.headers["IDEMPOTENCY-KEY"] == "abc"
    assert first.headers["Content-Type"] == "application/json"
    assert json.loads(first.body) == {"id": 7, "name": "été"}
    assert first.json == {"id": 7, "name": "été"}
    assert first.status == 200
    assert before <= first.received_at <= second.received_at <= time.time()
    assert second.body == b""
    assert second.json is None
    assert sink.requests_to("/health") == [second]


def test_non_json_bodies_are_kept_as_bytes(sink: Sink) -> None:
    call("POST", sink.url_for("/form"), data={"a": "1", "b": "two words"})
    call("PUT", sink.url_for("/raw"), data=b"\x00\xffnot json")

    form, raw = sink.requests
    assert form.json is None
    assert form.form == {"a": "1", "b": "two words"}
    assert raw.method == "PUT"
    assert raw.body == b"\x00\xffnot json"
    assert raw.json is None


def test_clear_and_wait_for_a_request_from_another_thread(sink: Sink) -> None:
    call("GET", sink.url_for("/before"))
    sink.clear()
    assert sink.requests == []

    def later() -> None:
        time.sleep(0.2)
        call("POST", sink.url_for("/later"), json=[1])

    thread = threading.Thread(target=later)
    thread.start()
    try:
        got = sink.wait_for(1, path="/later", timeout=10)
    finally:
        thread.join()
    assert [r.json for r in got] == [[1]]
    with pytest.raises(TimeoutError, match="1 of 2 requests to /later"):
        sink.wait_for(2, path="/later", timeout=0.2)


# --- scripting ----------------------------------------------------------------------------------


def test_scripted_responses_come_in_order_then_the_default(sink: Sink) -> None:
    sink.script(
        "/hook",
        [
            Response(503, headers={"Retry-After": "2"}, text="busy"),
            Response(429, json={"error": "slow down"}),
            Response(201, body=b"<ok/>", headers={"Content-Type": "application/xml"}),
        ],
    )
    assert sink.pending("/hook") == 3
    other = call("POST", sink.url_for("/other"), json={})  # another path: not scripted
    answers = [call("POST", sink.url_for("/hook"), json={"n": n}) for n in range(5)]

    assert other.status == 200
    assert [a.status for a in answers] == [503, 429, 201, 200, 200]
    assert answers[0].headers["retry-after"] == "2"
    assert answers[0].body == b"busy"
    assert answers[0].headers["content-type"].startswith("text/plain")
    assert answers[1].json() == {"error": "slow down"}
    assert (answers[2].body, answers[2].headers["content-type"]) == (b"<ok/>", "application/xml")
    assert answers[3].json() == {"ok": True}
    assert sink.pending("/hook") == 0
    assert [r.json["n"] for r in sink.requests_to("/hook")] == [0, 1, 2, 3, 4]
    assert [r.status for r in sink.requests_to("/hook")] == [503, 429, 201, 200, 200]


def test_script_replaces_the_previous_script(sink: Sink) -> None:
    sink.script("/a", [Response(500), Response(500)])
    sink.script("/a", [Response(418)])
    assert [call("GET", sink.url_for("/a")).status for _ in range(2)] == [418, 200]


def test_defaults_per_path_and_for_every_path(sink: Sink) -> None:
    sink.default("/gone", Response(410, json={"error": "gone"}))
    sink.default("*", Response(204))
    sink.script("/gone", [Response(200)])

    assert call("GET", sink.url_for("/gone")).status == 200  # the script first
    assert call("GET", sink.url_for("/gone")).status == 410
    assert call("GET", sink.url_for("/gone")).json() == {"error": "gone"}
    assert call("GET", sink.url_for("/anything")).status == 204


def test_response_rejects_two_bodies_and_paths_need_a_slash() -> None:
    with pytest.raises(ValueError, match="at most one"):
        Response(200, json={}, text="x")
    with Sink() as server, pytest.raises(ValueError, match="start with '/'"):
        server.script("hook", [])


def test_delay_makes_a_client_time_out(sink: Sink) -> None:
    sink.script("/slow", [Response(200, delay=3.0), Response(200, json={"fast": True}, delay=0.3)])

    started = time.monotonic()
    with pytest.raises(asyncio.TimeoutError):
        call("POST", sink.url_for("/slow"), json={}, timeout=0.3)
    assert time.monotonic() - started < 2.5

    started = time.monotonic()
    answer = call("POST", sink.url_for("/slow"), json={})
    assert answer.json() == {"fast": True}
    assert time.monotonic() - started >= 0.3

    timed_out, answered = sink.requests_to("/slow")
    assert timed_out.status == 0  # never answered: the client gave up
    assert answered.status == 200


# --- lifecycle ----------------------------------------------------------------------------------


def test_start_and_stop() -> None:
    server = Sink()
    with pytest.raises(RuntimeError, match="not started"):
        _ = server.url
    with server:
        assert server.url == f"http://127.0.0.1:{server.port}"
        assert call("GET", server.url_for("/")).status == 200
        server.script("/slow", [Response(delay=30)])
        with pytest.raises(asyncio.TimeoutError):
            call("GET", server.url_for("/slow"), timeout=0.2)
    started = time.monotonic()
    server.stop()  # idempotent
    assert time.monotonic() - started < 1
    with pytest.raises(aiohttp.ClientConnectionError):
        call("GET", f"http://127.0.0.1:{server.port}/", timeout=2)


def test_two_sinks_are_independent() -> None:
    with Sink() as one, Sink() as two:
        assert one.port != two.port
        call("GET", one.url_for("/one"))
        assert [r.path for r in one.requests] == ["/one"]
        assert two.requests == []


# --- OAuth2 client credentials ------------------------------------------------------------------


def test_oauth_issues_tokens_with_basic_or_form_credentials(sink: Sink) -> None:
    token_url = sink.oauth(client_id="my client", client_secret="s:e&c+t", expires_in=600)
    assert token_url == sink.url + "/oauth/token"

    first = call("POST", token_url, data=GRANT, headers=basic("my client", "s:e&c+t"))
    second = call(
        "POST",
        token_url,
        data={**GRANT, "client_id": "my client", "client_secret": "s:e&c+t", "scope": "write"},
    )

    assert first.status == 200
    assert first.json() == {"access_token": "tok-1", "token_type": "Bearer", "expires_in": 600}
    assert first.headers["cache-control"] == "no-store"
    assert second.json()["access_token"] == "tok-2"
    assert second.json()["scope"] == "write"
    assert sink.tokens_issued == 2
    assert sink.current_token == "tok-2"
    assert sink.requests_to("/oauth/token")[0].form == GRANT


@pytest.mark.parametrize(
    ("kwargs", "status", "error"),
    [
        ({"data": GRANT, "headers": basic("client", "wrong")}, 401, "invalid_client"),
        ({"data": {**GRANT, "client_id": "client"}}, 401, "invalid_client"),
        ({"data": GRANT}, 401, "invalid_client"),
        (
            {"data": {**GRANT, "client_id": "client"}, "headers": basic("client", "secret")},
            400,
            "invalid_request",
        ),
        ({"data": {}, "headers": basic("client", "secret")}, 400, "invalid_request"),
        (
            {"data": {"grant_type": "password"}, "headers": basic("client", "secret")},
            400,
            "unsupported_grant_type",
        ),
    ],
)
def test_oauth_refuses_bad_requests(
    sink: Sink, kwargs: dict[str, Any], status: int, error: str
) -> None:
    token_url = sink.oauth()
    answer = call("POST", token_url, **kwargs)
    assert (answer.status, answer.json()["error"]) == (status, error)
    if "headers" in kwargs and status == 401:
        assert answer.headers["www-authenticate"].startswith("Basic")
    assert sink.tokens_issued == 0
    assert call("GET", token_url).status == 405


def test_protected_paths_need_the_current_bearer_token(sink: Sink) -> None:
    token_url = sink.oauth(protect=["/api/events"])
    api = sink.url_for("/api/events")

    def post(token: str | None) -> Answer:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return call("POST", api, json={"x": 1}, headers=headers)

    def fetch() -> str:
        answer = call("POST", token_url, data=GRANT, headers=basic("client", "secret"))
        return str(answer.json()["access_token"])

    refused = post(None)
    assert refused.status == 401
    assert refused.headers["www-authenticate"] == 'Bearer realm="sink"'
    assert post("tok-1").status == 401  # not issued yet
    assert call("GET", sink.url_for("/open")).status == 200  # not protected

    token = fetch()
    assert token == "tok-1"
    assert post(token).status == 200
    assert post(token).status == 200  # fetched once, used twice
    assert sink.tokens_issued == 1

    sink.expire_token()
    expired = post(token)
    assert expired.status == 401
    assert expired.json() == {"error": "invalid_token"}
    assert 'error="invalid_token"' in expired.headers["www-authenticate"]

    assert fetch() == "tok-2"
    assert post("tok-2").status == 200
    assert post("tok-1").status == 401  # only the latest token is accepted
    assert sink.tokens_issued == 2
    assert [r.status for r in sink.requests_to("/api/events")] == [
        401,
        401,
        200,
        200,
        401,
        200,
        401,
    ]


def test_scripts_apply_after_the_token_check(sink: Sink) -> None:
    sink.oauth(protect=["*"])
    sink.script("/api", [Response(503)])
    assert call("GET", sink.url_for("/api")).status == 401  # the script is not used up
    assert sink.pending("/api") == 1
    token = call(
        "POST", sink.url_for("/oauth/token"), data=GRANT, headers=basic("client", "secret")
    ).json()["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    assert call("GET", sink.url_for("/api"), headers=auth).status == 503
    assert call("GET", sink.url_for("/api"), headers=auth).status == 200
    assert call("GET", sink.url_for("/elsewhere")).status == 401  # "*" protects every path


def test_tokens_expire_after_expires_in(sink: Sink) -> None:
    token_url = sink.oauth(expires_in=1, protect=["/api"])
    token = call("POST", token_url, data=GRANT, headers=basic("client", "secret")).json()
    auth = {"Authorization": f"Bearer {token['access_token']}"}
    assert token["expires_in"] == 1
    assert call("GET", sink.url_for("/api"), headers=auth).status == 200
    time.sleep(1.1)
    assert call("GET", sink.url_for("/api"), headers=auth).status == 401


def test_a_script_on_the_token_endpoint_simulates_its_failures(sink: Sink) -> None:
    token_url = sink.oauth()
    sink.script("/oauth/token", [Response(503, json={"error": "temporarily_unavailable"})])
    assert call("POST", token_url, data=GRANT, headers=basic("client", "secret")).status == 503
    assert sink.tokens_issued == 0
    answer = call("POST", token_url, data=GRANT, headers=basic("client", "secret"))
    assert answer.json()["access_token"] == "tok-1"
