"""Connection-wide politeness in one process, on both backends: the events, `run_now`, the app's
pause/resume methods, a delivery for a connection this worker lacks, and secrets masked in what a
job stores (a real server that echoes the credentials back)."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conveyor import ApiKey, Basic, Bearer, Conveyor, OAuth2ClientCredentials, Postponed
from conveyor.connections import builtins
from conveyor.errors import UnknownConnection
from conveyor.events import ConnectionPaused, ConnectionResumed, ConnectionSlowed, Event
from conveyor.politeness import ON_HOLD
from tests.connections.conftest import DELIVER, run_burst, run_until
from tests.http_sink import Response, Sink

TOKEN = "tok-5ee1-echoed-back"
PASSWORD = "pw-77aa-echoed-back"
API_KEY = "key-31cd-echoed-back"
SIGNING = "whsec_" + base64.b64encode(b"signing-4c2e-echoed-back").decode()
CLIENT_SECRET = "cs-90ab-echoed-back"


def events_of(app: Conveyor) -> list[Event]:
    seen: list[Event] = []
    app.events.subscribe(seen.append, ConnectionSlowed, ConnectionPaused, ConnectionResumed)
    return seen


def test_a_429_slows_the_connection_and_postpones_without_an_attempt(
    app: Conveyor, sink: Sink
) -> None:
    app.connection("shop", sink.url, breaker=False)
    seen = events_of(app)
    sink.script("/x", [Response(429, headers={"Retry-After": "1"})])
    job_id = app.deliver("shop", "/x", {"n": 1})
    run_until(app, lambda: app.get_job(job_id).postponed_reason is not None, concurrency=1)
    job = app.get_job(job_id)
    assert (job.state, job.attempts, job.errors) == ("queued", 0, [])
    assert job.postponed_reason is not None
    assert job.postponed_reason.startswith("connection 'shop' slowed until ")
    assert "HTTP 429 from POST" in job.postponed_reason
    [slowed] = seen
    assert isinstance(slowed, ConnectionSlowed) and (slowed.status, slowed.strikes) == (429, 1)
    [hold] = app.ops.holds()
    assert hold.kind == "slowed" and hold.until == pytest.approx(slowed.until)
    run_until(app, lambda: app.get_job(job_id).state == "succeeded", concurrency=1)
    assert app.get_job(job_id).attempts == 1
    assert app.ops.holds() == [] and app.store.holds() == []  # the success cleared it


def test_run_now_raises_postponed_while_the_connection_is_slowed(app: Conveyor, sink: Sink) -> None:
    app.connection("shop", sink.url, breaker=False)
    sink.script("/x", [Response(503, headers={"Retry-After": "30"})])
    payload = {"connection": "shop", "path": "/x", "body": {}}
    for _ in range(2):  # the 503 itself, then the hold, before any request
        with pytest.raises(Postponed) as raised:
            app.run_now(DELIVER, payload)
        assert 29 < raised.value.after <= 30
        assert "slowed" in str(raised.value)
    assert len(sink.requests_to("/x")) == 1


def test_pause_and_resume_from_python(app: Conveyor, sink: Sink) -> None:
    app.connection("shop", sink.url, rate_limit="100/s")
    seen = events_of(app)
    hold = app.pause_connection("shop", "remote migration")
    assert (hold.kind, hold.until, hold.reason) == ("paused", None, "remote migration")
    job_id = app.deliver("shop", "/x", {"n": 1})
    stats = run_burst(app)  # on hold, not throttled: the burst worker does not wait for it
    job = app.get_job(job_id)
    assert (job.state, job.attempts, stats.postponed) == ("queued", 0, 1)
    assert (job.postponed_reason or "").startswith(f"{ON_HOLD}connection 'shop' is paused")
    assert sink.requests_to("/x") == []
    assert app.resume_connection("shop") == 1
    assert app.get_job(job_id).run_at is not None
    run_burst(app)
    assert app.get_job(job_id).state == "succeeded" and app.get_job(job_id).attempts == 1
    assert [type(e).__name__ for e in seen] == ["ConnectionPaused", "ConnectionResumed"]
    with pytest.raises(UnknownConnection):
        app.resume_connection("nope")
    with pytest.raises(UnknownConnection):
        app.pause_connection("nope")


def test_a_delivery_for_a_connection_this_worker_lacks_waits_for_one_that_has_it(
    app: Conveyor, database_url: str, sink: Sink, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(builtins, "UNDECLARED_RECHECK", 0.3)  # not a minute, in a test
    app.connection("shop", sink.url)
    app.connection("erp", sink.url)
    job_id = app.deliver("erp", "/x", {"n": 1})
    other = Conveyor(database_url)  # another worker's app: it declares "shop" only
    other.connection("shop", sink.url)
    try:
        run_burst(other)  # exits: a job no worker here can send is not merely throttled
    finally:
        other.close()
    job = app.get_job(job_id)
    assert (job.state, job.attempts, job.errors) == ("queued", 0, [])
    assert (job.postponed_reason or "").startswith(f"{ON_HOLD}connection 'erp' is not declared")
    run_until(app, lambda: app.get_job(job_id).state == "succeeded")
    assert app.get_job(job_id).attempts == 1


# -- secrets echoed back ------------------------------------------------------------------------


class Echo(ThreadingHTTPServer):
    """Answers every request with its own headers and a body naming the secrets it was told to
    repeat, at the status the path says (`/400`, `/200`); `/token` is an OAuth2 token endpoint."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), EchoHandler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class EchoHandler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        if self.path == "/token":
            self._answer(200, {"access_token": TOKEN, "expires_in": 3600})
            return
        if self.path == "/rpc":  # a JSON-RPC error that quotes the credentials it was sent
            message = f"refused {self.headers.get('Authorization')}"
            self._answer(200, {"jsonrpc": "2.0", "id": 1, "error": {"code": 7, "message": message}})
            return
        status = int(self.path.strip("/").split("/")[0])
        echoed = {
            "you_sent": dict(self.headers.items()),
            "note": f"your secrets: {PASSWORD} {API_KEY} {SIGNING} {CLIENT_SECRET} {TOKEN}",
        }
        self._answer(status, echoed)

    def _answer(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def echo() -> Iterator[Echo]:
    server = Echo()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


SIGNING_KEY = SIGNING.removeprefix("whsec_")
OWN = {  # what each connection knows as its secrets (the echo repeats them all)
    "bearer": (TOKEN, SIGNING, SIGNING_KEY),
    "basic": (PASSWORD, SIGNING, SIGNING_KEY),
    "api_key": (API_KEY, SIGNING, SIGNING_KEY),
    "oauth2": (CLIENT_SECRET, TOKEN, SIGNING, SIGNING_KEY),
}


def assert_masked(stored: str, secrets: tuple[str, ...]) -> None:
    leaked = [value for value in secrets if value in stored]
    assert leaked == [], stored
    assert "***" in stored


@pytest.mark.parametrize("kind", ["bearer", "basic", "api_key", "oauth2"])
def test_secrets_a_remote_echoes_are_masked_in_what_the_job_keeps(
    app: Conveyor, echo: Echo, kind: str
) -> None:
    auth = {
        "bearer": Bearer(TOKEN),
        "basic": Basic("shop-user", PASSWORD),
        "api_key": ApiKey(API_KEY),
        "oauth2": OAuth2ClientCredentials(f"{echo.url}/token", "client", CLIENT_SECRET),
    }[kind]
    app.connection("shop", echo.url, auth=auth, signing_secret=SIGNING, breaker=False)
    refused = app.deliver("shop", "/400", {"n": 1})
    accepted = app.deliver("shop", "/200", {"n": 2})
    run_burst(app)
    dead, done = app.get_job(refused), app.get_job(accepted)
    assert (dead.state, done.state) == ("dead", "succeeded")
    assert_masked(json.dumps(dead.errors) + (dead.last_error or ""), OWN[kind])
    assert_masked(json.dumps(done.result), OWN[kind])
    assert dead.errors[-1]["status"] == 400 and "you_sent" in dead.errors[-1]["response"]


def test_an_rpc_error_that_quotes_the_credentials_is_masked(app: Conveyor, echo: Echo) -> None:
    app.connection("api", echo.url, auth=Bearer(TOKEN), breaker=False)
    job_id = app.rpc("api", "anything", [], path="/rpc")
    run_burst(app)
    job = app.get_job(job_id)
    assert job.state == "dead" and job.errors[-1]["code"] == 7
    assert_masked(json.dumps(job.errors) + (job.last_error or ""), (TOKEN,))
    assert "refused Bearer ***" in (job.last_error or "")
