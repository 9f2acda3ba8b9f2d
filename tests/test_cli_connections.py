"""`conveyor --config ... connections list|test` and the breakers in `stats`, against a real HTTP
server on 127.0.0.1, on both backends. Secrets must never reach the output."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from conveyor import Conveyor
from conveyor.breaker import Breaker, on_failure
from conveyor.cli import cli
from conveyor.connections.config import apply_config
from conveyor.errors import RetryableStatus

runner = CliRunner(
    env={
        "COLUMNS": "200",
        "CONVEYOR_APP": None,
        "CONVEYOR_DATABASE_URL": None,
        "CONVEYOR_CONFIG": None,
    }
)

TOKEN = "tok-8c1f0e4b-SHOP-do-not-print"
PASSWORD = "pw-5d2a91-LEGACY-do-not-print"
CLIENT_SECRET = "cs-77ab02-BILLING-do-not-print"
LITERAL_KEY = "key-literal-CRM-do-not-print"
SIGNING = "whsec_" + base64.b64encode(b"signing-key-SHOP-do-not-print").decode()
SLOW_SECONDS = 5.0


class Remote(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.seen: list[dict[str, str]] = []  # the headers of every request
        self.stop = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    server: Remote

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.server.seen.append(dict(self.headers.items()))
        credentials = self.headers.get("Authorization") or self.headers.get("Api-Token") or ""
        if self.path == "/me":
            self.answer(200, {"account": {"name": "ACME"}})
        elif self.path == "/denied":  # echoes the credentials, as careless servers do
            self.answer(401, {"error": "bad credentials", "got": credentials}, credentials)
        elif self.path == "/fail":
            self.answer(500, {"error": "down", "got": credentials}, credentials)
        elif self.path == "/slow":
            self.server.stop.wait(SLOW_SECONDS)
            self.answer(200, {})
        else:
            self.answer(404, {})

    def do_POST(self) -> None:  # the OAuth2 token endpoint
        self.server.seen.append(dict(self.headers.items()))
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.answer(200, {"access_token": "access-from-token-endpoint", "expires_in": 3600})

    def answer(self, status: int, body: Any, echo: str = "") -> None:
        data = json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if echo:
                self.send_header("WWW-Authenticate", f'Bearer error="{echo}"')
            self.end_headers()
            self.wfile.write(data)
        except OSError:  # the client gave up (the timeout test)
            pass


@pytest.fixture(scope="module")
def remote() -> Iterator[Remote]:
    server = Remote()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stop.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture(autouse=True)
def _secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOP_TOKEN", TOKEN)
    monkeypatch.setenv("LEGACY_PASSWORD", PASSWORD)
    monkeypatch.setenv("BILLING_CLIENT_SECRET", CLIENT_SECRET)
    monkeypatch.delenv("UNSET_SECRET", raising=False)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """For commands that do not touch the database (the backend does not matter)."""
    return f"sqlite:///{tmp_path / 'unused.db'}"


def config_file(tmp_path: Path, remote: Remote, closed_port: int = 9) -> Path:
    path = tmp_path / "conveyor.toml"
    path.write_text(
        textwrap.dedent(
            f"""
            [connections.shop]
            base_url = "{remote.url}"
            auth = {{ type = "bearer", token = "env:SHOP_TOKEN" }}
            rate_limit = "5/s"
            burst = 2
            signing_secret = "env:UNSET_SECRET"
            headers = {{ "User-Agent" = "conveyor-test" }}
            breaker = {{ failures = 1, cool_off = 30, max_cool_off = 600 }}
            check = "GET /me"
            identity = "account.name"

            [connections.denied]
            base_url = "{remote.url}"
            auth = {{ type = "bearer", token = "env:SHOP_TOKEN" }}
            check = "GET /denied"

            [connections.legacy]
            base_url = "{remote.url}/"
            auth = {{ type = "basic", username = "bob", password = "env:LEGACY_PASSWORD" }}
            breaker = false
            check = "GET /denied"

            [connections.crm]
            base_url = "{remote.url}"
            auth = {{ type = "api_key", key = "{LITERAL_KEY}", header = "Api-Token" }}
            rate_limit = "30/min"
            check = "GET /denied"

            [connections.billing]
            base_url = "{remote.url}"
            check = "GET /denied"
            [connections.billing.auth]
            type = "oauth2"
            token_url = "{remote.url}/token"
            client_id = "sync"
            client_secret = "env:BILLING_CLIENT_SECRET"

            [connections.slow]
            base_url = "{remote.url}"
            read_timeout = 0.5
            check = "GET /slow"

            [connections.closed]
            base_url = "http://127.0.0.1:{closed_port}"
            connect_timeout = 2
            """
        ),
        encoding="utf-8",
    )
    return path


def invoke(url: str, config: Path | None, *args: str, **env: str) -> Result:
    options = ["--database-url", url] + (["--config", str(config)] if config else [])
    return runner.invoke(cli, [*options, *args], env=env or None)


def ok(result: Result, code: int = 0) -> str:
    assert result.exit_code == code, f"exit {result.exit_code}\n{result.stdout}\n{result.stderr}"
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    return result.stdout


def error_line(result: Result, code: int = 2) -> str:
    assert result.exit_code == code, f"exit {result.exit_code}\n{result.stdout}\n{result.stderr}"
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    return lines[0]


def open_breaker(url: str, name: str, error: str) -> None:
    app = Conveyor(url)
    try:
        settings = Breaker(failures=1, cool_off=30)
        app.store.change_breaker(name, lambda cur, now: on_failure(cur, name, now, settings, error))
    finally:
        app.close()


# -- connections list ---------------------------------------------------------------------------


def test_list_json_and_table(database_url: str, tmp_path: Path, remote: Remote) -> None:
    config = config_file(tmp_path, remote)
    open_breaker(database_url, "shop", "HTTP 503 from GET /me")
    before = time.time()
    lines = ok(invoke(database_url, config, "connections", "list", "--json")).splitlines()
    records = {r["name"]: r for r in map(json.loads, lines)}
    assert list(records) == sorted(records)
    shop = records["shop"]
    assert shop["base_url"] == f"{remote.url}/"
    assert shop["auth"] == {"type": "bearer", "token": "env:SHOP_TOKEN"}
    assert shop["rate_limit"] == {"spec": "5/s", "per_second": 5.0, "burst": 2}
    assert shop["breaker"] == {"failures": 1, "cool_off": 30.0, "max_cool_off": 600.0}
    state = shop["breaker_state"]
    assert (state["state"], state["failures"]) == ("open", 1)
    assert state["last_error"] == "HTTP 503 from GET /me"
    opens_for = datetime.fromisoformat(state["open_until"]).timestamp() - before
    assert 20 < opens_for < 40
    assert shop["signing_secret"] == "env:UNSET_SECRET"
    assert shop["missing_env"] == ["UNSET_SECRET"]
    assert shop["headers"] == ["User-Agent"]
    assert (shop["check"], shop["identity"]) == ("GET /me", "account.name")
    assert records["legacy"]["auth"] == {
        "type": "basic",
        "username": "bob",
        "password": "env:LEGACY_PASSWORD",
    }
    assert records["legacy"]["breaker"] is None and records["legacy"]["breaker_state"] is None
    assert records["crm"]["auth"] == {"type": "api_key", "header": "Api-Token", "key": "***"}
    assert records["crm"]["rate_limit"]["spec"] == "30/min"
    assert records["billing"]["auth"]["client_secret"] == "env:BILLING_CLIENT_SECRET"
    assert records["denied"]["breaker_state"] == {
        "state": "closed",
        "failures": 0,
        "open_until": None,
        "last_error": None,
    }

    table = ok(invoke(database_url, config, "connections", "list"))
    for text in ("shop", "bearer env:SHOP_TOKEN", "5/s, burst 2", "1 failures, 30s→10m", "open"):
        assert text in table
    assert "Not set in this environment: UNSET_SECRET (shop)" in table
    assert "api_key Api-Token: ***" in table
    assert "HTTP 503 from GET /me" in table


def test_list_without_connections(database_url: str) -> None:
    assert "No connections" in ok(invoke(database_url, None, "connections", "list"))
    assert ok(invoke(database_url, None, "connections", "list", "--json")) == ""


def test_config_from_the_environment(database_url: str, tmp_path: Path, remote: Remote) -> None:
    config = config_file(tmp_path, remote)
    output = ok(invoke(database_url, None, "connections", "list", CONVEYOR_CONFIG=str(config)))
    assert "shop" in output and "billing" in output


# -- connections test ---------------------------------------------------------------------------


def test_a_passing_check(sqlite_url: str, tmp_path: Path, remote: Remote) -> None:
    config = config_file(tmp_path, remote)
    line = ok(invoke(sqlite_url, config, "connections", "test", "shop")).strip()
    assert line.startswith("shop: ok, HTTP 200 in ") and line.endswith(" ms, identity ACME")
    record = json.loads(ok(invoke(sqlite_url, config, "connections", "test", "shop", "--json")))
    assert record["ok"] is True and record["status"] == 200 and record["identity"] == "ACME"
    assert record["latency_ms"] > 0 and record["message"] == "ok"
    assert remote.seen[-1]["Authorization"] == f"Bearer {TOKEN}"
    assert remote.seen[-1]["User-Agent"] == "conveyor-test"


def test_a_refused_check_exits_1(sqlite_url: str, tmp_path: Path, remote: Remote) -> None:
    config = config_file(tmp_path, remote)
    line = ok(invoke(sqlite_url, config, "connections", "test", "denied"), 1).strip()
    assert line.startswith("denied: failed, 401 unauthorised: the remote refused the credentials")
    assert "(HTTP 401 in " in line
    record = json.loads(
        ok(invoke(sqlite_url, config, "connections", "test", "denied", "--json"), 1)
    )
    assert record["ok"] is False and record["status"] == 401 and record["identity"] is None


def test_unreachable_and_slow_remotes(
    sqlite_url: str, tmp_path: Path, remote: Remote, closed_port: int
) -> None:
    config = config_file(tmp_path, remote, closed_port)
    line = ok(invoke(sqlite_url, config, "connections", "test", "closed"), 1).strip()
    assert line.startswith("closed: failed, connection failed: GET ")
    assert "cannot connect" in line
    started = time.monotonic()
    line = ok(invoke(sqlite_url, config, "connections", "test", "slow"), 1).strip()
    assert time.monotonic() - started < SLOW_SECONDS - 1
    assert line.startswith("slow: failed, timeout: GET ") and "read 0.5 s)" in line


def test_an_unset_secret_fails_the_check(sqlite_url: str, tmp_path: Path, remote: Remote) -> None:
    config = config_file(tmp_path, remote)
    result = invoke(sqlite_url, config, "connections", "test", "shop", SHOP_TOKEN="")
    assert "environment variable SHOP_TOKEN is not set" in ok(result, 1)


def test_unknown_connection_exits_2(sqlite_url: str, tmp_path: Path, remote: Remote) -> None:
    config = config_file(tmp_path, remote)
    message = error_line(invoke(sqlite_url, config, "connections", "test", "nope"))
    assert "unknown connection 'nope' (known: billing, closed, crm, denied" in message
    message = error_line(invoke(sqlite_url, None, "connections", "test", "nope"))
    assert "unknown connection 'nope'" in message and "--config" in message


# -- bad config files ---------------------------------------------------------------------------


def test_bad_config_is_one_line(sqlite_url: str, tmp_path: Path) -> None:
    path = tmp_path / "conveyor.toml"
    path.write_text('[connections.shop]\nbase_url = "https://x"\nauth = { type = "magic" }\n')
    message = error_line(invoke(sqlite_url, path, "connections", "list"))
    assert message == (
        f"Error: {path}: connections.shop.auth.type: unknown auth type 'magic' "
        "(bearer, basic, api_key, oauth2, oauth2_code)"
    )
    missing = error_line(invoke(sqlite_url, tmp_path / "nope.toml", "connections", "list"))
    assert missing.endswith("nope.toml: config file not found")
    path.write_text("[connections.shop\n")
    assert "invalid TOML" in error_line(invoke(sqlite_url, path, "stats"))


def test_python_and_file_declaring_one_name(
    database_url: str, tmp_path: Path, remote: Remote, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = f"conn_app_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{module}.py").write_text(
        "from conveyor import Conveyor\n"
        "app = Conveyor()\n"
        "app.connection('shop', 'https://python.example.com', check='GET /health')\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        clash = config_file(tmp_path, remote)
        args = ["--database-url", database_url, "--app", f"{module}:app", "--config", str(clash)]
        message = error_line(runner.invoke(cli, [*args, "connections", "list"]))
        assert (
            "connections.shop: a connection named 'shop' is already declared in Python" in message
        )
        other = tmp_path / "other.toml"
        other.write_text(f'[connections.crm]\nbase_url = "{remote.url}"\n')
        args[-1] = str(other)
        lines = ok(runner.invoke(cli, [*args, "connections", "list", "--json"])).splitlines()
        assert [json.loads(line)["name"] for line in lines] == ["crm", "shop"]
    finally:
        sys.modules.pop(module, None)


# -- stats --------------------------------------------------------------------------------------


def test_stats_show_breakers(database_url: str) -> None:
    assert "breakers" not in json.loads(ok(invoke(database_url, None, "stats", "--json")))
    assert "breaker" not in ok(invoke(database_url, None, "stats")).lower()
    open_breaker(database_url, "shop", "HTTP 503 from GET http://shop/")
    document = json.loads(ok(invoke(database_url, None, "stats", "--json")))
    assert document["queues"] == {} and document["totals"] == {}
    [breaker] = document["breakers"]
    assert breaker["name"] == "shop" and breaker["state"] == "open" and breaker["failures"] == 1
    assert breaker["last_error"] == "HTTP 503 from GET http://shop/"
    assert datetime.fromisoformat(breaker["open_until"]).tzinfo is not None
    table = ok(invoke(database_url, None, "stats"))
    assert "No jobs." in table and "Circuit breakers" in table
    assert "shop" in table and "open" in table and "HTTP 503 from GET http://shop/" in table


# -- secrets ------------------------------------------------------------------------------------


def fail_through_the_client(url: str, config: Path, connection: str) -> None:
    """A real failure through the connection client: the breaker keeps a real last_error."""
    app = Conveyor(url)
    apply_config(app, config)

    async def fail_once() -> None:
        try:
            with pytest.raises(RetryableStatus):
                await app.remote().request(connection, "GET", "/fail")
        finally:
            await app.close_remote()

    try:
        asyncio.run(fail_once())
    finally:
        app.close()


def test_stats_after_a_real_failure(database_url: str, tmp_path: Path, remote: Remote) -> None:
    config = config_file(tmp_path, remote)
    fail_through_the_client(database_url, config, "crm")  # 1 of 5 failures: still closed
    [breaker] = json.loads(ok(invoke(database_url, None, "stats", "--json")))["breakers"]
    assert (breaker["name"], breaker["state"], breaker["failures"]) == ("crm", "closed", 1)
    assert breaker["last_error"] == f"HTTP 500 from GET {remote.url}/fail"
    assert breaker["open_until"] is None


def test_secrets_never_reach_the_output(
    database_url: str,
    tmp_path: Path,
    remote: Remote,
    closed_port: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("UNSET_SECRET", SIGNING)
    config = config_file(tmp_path, remote, closed_port)
    basic = base64.b64encode(f"bob:{PASSWORD}".encode()).decode()
    forbidden = (
        TOKEN,
        PASSWORD,
        basic,
        CLIENT_SECRET,
        LITERAL_KEY,
        SIGNING,
        "access-from-token-endpoint",
    )
    seen = len(remote.seen)
    fail_through_the_client(database_url, config, "shop")  # opens its breaker (failures = 1)

    outputs: list[Result] = []
    for args in (
        ["connections", "list"],
        ["connections", "list", "--json"],
        ["stats"],
        ["stats", "--json"],
    ):
        outputs.append(invoke(database_url, config, *args))
        assert outputs[-1].exit_code == 0, outputs[-1].output
    for name in ("shop", "denied", "legacy", "crm", "billing", "closed"):
        for extra in ([], ["--json"]):
            outputs.append(invoke(database_url, config, "connections", "test", name, *extra))
            assert outputs[-1].exit_code == (0 if name == "shop" else 1), outputs[-1].output

    # the secrets were resolved and sent (and echoed back by the server) ...
    sent = json.dumps(remote.seen[seen:])
    assert TOKEN in sent and basic in sent and LITERAL_KEY in sent
    assert "access-from-token-endpoint" in sent and "webhook-signature" in sent.lower()
    # ... yet none of them was printed
    assert "open" in outputs[0].stdout and "Circuit breakers" in outputs[2].stdout
    for result in outputs:
        text = result.stdout + result.stderr
        for secret in forbidden:
            assert secret not in text, f"{secret!r} leaked in:\n{text}"
