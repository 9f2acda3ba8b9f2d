"""Credentials never show up in log lines, job records, exception messages or reprs.

Every auth kind takes its secret from the environment (distinctive values, easy to search for);
deliveries then fail in every way (401, 500, connection refused, a refused OAuth2 client) with
structlog writing JSON lines to a buffer, and the stdlib logging captured as well.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import sys
import traceback
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from conveyor import (
    ApiKey,
    Basic,
    Bearer,
    Conveyor,
    ConveyorError,
    Fixed,
    OAuth2ClientCredentials,
)
from conveyor.breaker import Breaker
from conveyor.connections import Auth
from tests.connections.conftest import DELIVER, closed_port, run_burst, sqlite_only
from tests.http_sink import Response, Sink

BEARER = "SEKRIT-bearer-7f3a9c11"
PASSWORD = "SEKRIT-password-51d0e2"
API_KEY = "SEKRIT-apikey-c4b8e9"
CLIENT_SECRET = "SEKRIT-client-9a6f03"
WRONG_CLIENT_SECRET = "SEKRIT-wrong-client-2e7d"
SIGNING = "whsec_" + base64.b64encode(b"SEKRIT-signing-key-0b9e4d7a").decode()
TOKEN_PATH = "/oauth/token"


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """structlog's output as JSON lines in a buffer, at debug level; the old setup restored."""
    saved, was_configured = structlog.get_config(), structlog.is_configured()
    buffer = io.StringIO()
    structlog.configure(
        processors=[structlog.processors.add_log_level, structlog.processors.JSONRenderer()],
        wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG),
        logger_factory=structlog.PrintLoggerFactory(buffer),
        cache_logger_on_first_use=False,
    )
    # Module-level loggers that were used under a caching configuration keep their old logger.
    forget_cached_loggers()
    try:
        yield buffer
    finally:
        structlog.reset_defaults()
        if was_configured:
            structlog.configure(**saved)
        forget_cached_loggers()


def forget_cached_loggers() -> None:
    """Every `log` of a Conveyor module, wherever the logging lives after a refactoring."""
    for name, module in list(sys.modules.items()):
        logger = getattr(module, "log", None) if name.startswith("conveyor") else None
        if logger is not None and hasattr(logger, "bind"):
            vars(logger).pop("bind", None)


def auth_of(kind: str, sink: Sink, monkeypatch: pytest.MonkeyPatch, *, wrong: bool = False) -> Auth:
    monkeypatch.setenv("CONVEYOR_TEST_BEARER", BEARER)
    monkeypatch.setenv("CONVEYOR_TEST_PASSWORD", PASSWORD)
    monkeypatch.setenv("CONVEYOR_TEST_API_KEY", API_KEY)
    monkeypatch.setenv("CONVEYOR_TEST_CLIENT_SECRET", CLIENT_SECRET)
    monkeypatch.setenv("CONVEYOR_TEST_WRONG_CLIENT_SECRET", WRONG_CLIENT_SECRET)
    if kind == "bearer":
        return Bearer("env:CONVEYOR_TEST_BEARER")
    if kind == "basic":
        return Basic("shop-user", "env:CONVEYOR_TEST_PASSWORD")
    if kind == "apikey":
        return ApiKey("env:CONVEYOR_TEST_API_KEY", header="X-Shop-Key")
    secret = "env:CONVEYOR_TEST_WRONG_CLIENT_SECRET" if wrong else "env:CONVEYOR_TEST_CLIENT_SECRET"
    return OAuth2ClientCredentials(sink.url_for(TOKEN_PATH), "shop", secret)


def forbidden_values(sink: Sink) -> list[str]:
    """Every secret, and the forms it travels in (a Basic header, an issued access token)."""
    values = [BEARER, PASSWORD, API_KEY, CLIENT_SECRET, WRONG_CLIENT_SECRET, SIGNING]
    values.append(base64.b64encode(f"shop-user:{PASSWORD}".encode()).decode())
    values.append(base64.b64encode(f"shop:{CLIENT_SECRET}".encode()).decode())
    values.append(base64.b64encode(f"shop:{WRONG_CLIENT_SECRET}".encode()).decode())
    if sink.current_token:
        values.append(f"Bearer {sink.current_token}")
    return values


def assert_clean(text: str, sink: Sink, where: str) -> None:
    for value in forbidden_values(sink):
        at = text.find(value)
        if at >= 0:  # show where, without printing the whole text
            pytest.fail(f"a secret in {where}: ...{text[max(0, at - 80) : at + 20]!r}...")


def exception_text(error: BaseException) -> str:
    return f"{error}\n{error!r}\n" + "".join(traceback.format_exception(error))


@pytest.mark.parametrize("kind", ["bearer", "basic", "apikey", "oauth2"])
def test_failing_deliveries_log_and_store_no_secret(
    app: Conveyor,
    sink: Sink,
    kind: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    log_lines: io.StringIO,
) -> None:
    caplog.set_level(logging.DEBUG)
    app.tasks[DELIVER].retry = Fixed(60)
    sink.oauth(TOKEN_PATH, client_id="shop", client_secret=CLIENT_SECRET)
    sink.script("/refused", [Response(401, json={"error": "invalid credentials"})] * 3)
    sink.default("/broken", Response(500, text="internal error"))
    breaker = Breaker(failures=2, cool_off=60)
    options: dict[str, Any] = {"breaker": breaker, "signing_secret": SIGNING}
    app.connection("shop", sink.url, auth=auth_of(kind, sink, monkeypatch), **options)
    down = f"http://127.0.0.1:{closed_port()}"
    app.connection("down", down, auth=auth_of(kind, sink, monkeypatch), **options)
    app.connection("wrong", sink.url, auth=auth_of("oauth2", sink, monkeypatch, wrong=True))

    ids = [
        app.deliver("shop", "/refused", {"n": 1}),
        app.deliver("shop", "/broken", {"n": 2}),
        app.deliver("shop", "/broken", {"n": 3}),  # opens the breaker
        app.deliver("down", "/x", {"n": 4}),
        app.deliver("down", "/x", {"n": 5}),  # opens the breaker
        app.deliver("wrong", "/x", {"n": 6}),
    ]
    run_burst(app, concurrency=1)  # the app's log subscriber writes the lines
    errors: list[str] = []
    for payload in (
        {"connection": "shop", "path": "/refused"},
        {"connection": "shop", "path": "/broken"},  # the breaker is open now: postponed
        {"connection": "wrong", "path": "/x"},
    ):
        try:
            app.run_now(DELIVER, payload)
        except Exception as error:
            errors.append(exception_text(error))
    checks = [app.test_connection(name) for name in ("shop", "down", "wrong")]

    # The failures happened, were logged and stored (so the checks below can fail):
    states = [app.get_job(i).state for i in ids]
    assert states == ["dead", "retrying", "retrying", "retrying", "retrying", "dead"]
    logged = log_lines.getvalue()
    events = [json.loads(line)["event"] for line in logged.splitlines()]
    assert {"job.dead", "job.retrying", "breaker.opened"} <= set(events), events
    assert len(errors) == 3 and [check.ok for check in checks] == [True, False, False]
    if kind != "apikey":
        assert any("Authorization" in r.headers for r in sink.requests)

    assert_clean(logged, sink, "a log line")
    assert_clean(caplog.text, sink, "a stdlib log record")
    for job_id in ids:
        assert_clean(json.dumps(app.get_job(job_id).to_dict()), sink, f"job {job_id}")
    for text in errors:
        assert_clean(text, sink, "an exception")
    for check in checks:
        assert_clean(json.dumps(check.to_dict()), sink, "a connection check")
    for name in ("shop", "down", "wrong"):
        connection = app.get_connection(name)
        assert_clean(repr(connection) + str(connection), sink, "a connection's repr")
        assert connection.auth is not None
        assert_clean(connection.auth.describe(), sink, "an auth description")


@sqlite_only
def test_a_missing_secret_names_the_variable_only(
    app: Conveyor, sink: Sink, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CONVEYOR_TEST_UNSET_TOKEN", raising=False)
    app.connection("shop", sink.url, auth=Bearer("env:CONVEYOR_TEST_UNSET_TOKEN"))
    with pytest.raises(ConveyorError, match="CONVEYOR_TEST_UNSET_TOKEN is not set"):
        app.run_now(DELIVER, {"connection": "shop", "path": "/x"})
    assert sink.requests == []
