"""JSON-RPC and XML-RPC calls (`conveyor.rpc`) against real servers on 127.0.0.1.

The XML-RPC server is the stdlib SimpleXMLRPCServer with an Odoo-like `/xmlrpc/2/object`
`execute_kw`; the JSON-RPC server is http.server. Both run in threads and record every request.
"""

from __future__ import annotations

import asyncio
import json
import socketserver
import threading
import traceback
import xmlrpc.client
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from xmlrpc.server import SimpleXMLRPCRequestHandler, SimpleXMLRPCServer

import pytest

from conveyor import Conveyor
from conveyor.connections.rpc import (
    PermanentRpcError,
    RetryableRpcError,
    RpcProtocolError,
    call_jsonrpc,
    call_xmlrpc,
    odoo_execute_kw,
)
from conveyor.connections.rpc_jobs import RPC_TASK, enqueue_odoo, enqueue_rpc
from conveyor.connections.secrets import Secret
from conveyor.errors import ConfigurationError, PayloadError, RetryableStatus
from tests.connections.conftest import sqlite_only

PASSWORD = "s3cr&t<pw>\"x'"  # XML and JSON special characters: masked in every escaped form
PASSWORD_ENV = "CONVEYOR_TEST_ODOO_PASSWORD"
DB, UID = "prod", 2


# -- an Odoo-like XML-RPC server --------------------------------------------------------------


class OdooHandler(SimpleXMLRPCRequestHandler):
    rpc_paths = ("/xmlrpc/2/object", "/RPC2")

    def do_POST(self) -> None:
        server: OdooServer = self.server  # type: ignore[assignment]
        server.requests.append({"path": self.path, "headers": dict(self.headers.items())})
        if server.fail_next > 0:  # an overloaded proxy that echoes the request body
            server.fail_next -= 1
            body = self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(502)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(b"overloaded while handling: " + body)
            return
        super().do_POST()

    def log_message(self, format: str, *args: Any) -> None:
        pass


class OdooServer(socketserver.ThreadingMixIn, SimpleXMLRPCServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(
            ("127.0.0.1", 0), requestHandler=OdooHandler, logRequests=False, allow_none=True
        )
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        self.register_function(self.execute_kw, "execute_kw")
        self.register_function(lambda: "17.0", "version")
        self.reset()

    def reset(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.calls: list[tuple[Any, ...]] = []
        self.partners: dict[int, dict[str, Any]] = {}
        self.fail_next = 0

    def execute_kw(self, *call: Any) -> Any:
        db, uid, password, model, method, args, kw = call
        self.calls.append(call)
        if model == "debug.echo":  # a server in debug mode: its traceback shows the arguments
            raise xmlrpc.client.Fault(1, f"Traceback: execute_kw({db!r}, {uid}, {password!r})")
        if (db, uid, password) != (DB, UID, PASSWORD):
            raise xmlrpc.client.Fault(3, "Access Denied")
        if model == "flaky.model":
            raise xmlrpc.client.Fault(-32603, "internal error, try again")
        if model != "res.partner":
            raise xmlrpc.client.Fault(2, f"Object {model} doesn't exist")
        if method == "create":
            new_id = len(self.partners) + 1
            self.partners[new_id] = {"id": new_id, **args[0]}
            return new_id
        if method == "search_read":
            fields = kw.get("fields") or ["id", "name"]
            return [{f: row.get(f) for f in fields} for row in self.partners.values()]
        raise xmlrpc.client.Fault(2, f"no method {method} on {model}")


# -- a JSON-RPC server ------------------------------------------------------------------------


class JsonRpcHandler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        server: JsonRpcServer = self.server  # type: ignore[assignment]
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        headers = {k.lower(): v for k, v in self.headers.items()}
        server.requests.append({"path": self.path, "headers": headers, "body": request})
        method, params, rid = request["method"], request["params"], request["id"]
        if method == "add":
            self._answer(200, {"jsonrpc": "2.0", "result": sum(params), "id": rid})
        elif method == "echo":
            self._answer(200, {"jsonrpc": "2.0", "result": params, "id": rid})
        elif method == "busy":
            self._error(rid, -32000, "server busy", {"queue": 12})
        elif method == "internal":
            self._error(rid, -32603, "internal error")
        elif method == "bad_params":
            self._error(rid, -32602, "invalid params", {"expected": "a list of two numbers"})
        elif method == "boom":
            self._answer(500, text="Internal Server Error")
        elif method == "rpc500":  # an error object sent with HTTP 500
            self._answer(500, {"jsonrpc": "2.0", "error": {"code": -32601, "message": "no"}})
        elif method == "html":
            self._answer(200, text="<html>down for maintenance</html>")
        elif method == "wrong_id":
            self._answer(200, {"jsonrpc": "2.0", "result": 1, "id": 999_999})
        elif method == "flaky":  # the first attempt of each idempotency key fails
            key = headers.get("idempotency-key")
            if key not in server.seen_keys:
                server.seen_keys.add(key)
                self._answer(500, text="try again", headers={"Retry-After": "0"})
            else:
                self._answer(200, {"jsonrpc": "2.0", "result": "done", "id": rid})
        else:
            self._error(rid, -32601, f"method not found: {method}")

    def _error(self, rid: Any, code: int, message: str, data: Any = None) -> None:
        error = {"code": code, "message": message, **({"data": data} if data else {})}
        self._answer(200, {"jsonrpc": "2.0", "error": error, "id": rid})

    def _answer(
        self,
        status: int,
        body: Any = None,
        *,
        text: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        payload = (text if text is not None else json.dumps(body)).encode()
        self.send_response(status)
        kind = "text/html" if text is not None else "application/json"
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class JsonRpcServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), JsonRpcHandler)
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        self.reset()

    def reset(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.seen_keys: set[str | None] = set()


def _serve(server: socketserver.BaseServer) -> Iterator[Any]:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture(scope="module")
def odoo_server() -> Iterator[OdooServer]:
    yield from _serve(OdooServer())


@pytest.fixture(scope="module")
def jsonrpc_server() -> Iterator[JsonRpcServer]:
    yield from _serve(JsonRpcServer())


@pytest.fixture
def odoo(odoo_server: OdooServer, monkeypatch: pytest.MonkeyPatch) -> OdooServer:
    odoo_server.reset()
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    return odoo_server


@pytest.fixture
def jsonrpc(jsonrpc_server: JsonRpcServer) -> JsonRpcServer:
    jsonrpc_server.reset()
    return jsonrpc_server


@pytest.fixture
def rpc_app(app: Conveyor, odoo_server: OdooServer, jsonrpc_server: JsonRpcServer) -> Conveyor:
    """The app with the built-in task and a connection to each server."""
    app.connection("odoo", base_url=odoo_server.url)
    app.connection("api", base_url=jsonrpc_server.url + "/rpc")
    return app


def _work(app: Conveyor) -> None:
    """`app.run_worker(burst=True, ...)`, then close the loop's HTTP session (the worker does not
    close it yet: aiohttp would warn "Unclosed client session")."""

    async def run() -> None:
        worker = app.worker(burst=True, middleware=[], install_signal_handlers=False)
        try:
            await worker.run()
        finally:
            await app.close_remote()

    asyncio.run(run())


def _call(app: Conveyor, call: Any) -> Any:
    """Run a coroutine function of the app's RemoteClient on a fresh loop, then close it."""

    async def run() -> Any:
        try:
            return await call(app.remote())
        finally:
            await app.close_remote()

    return asyncio.run(run())


# -- JSON-RPC ---------------------------------------------------------------------------------


@sqlite_only
def test_jsonrpc_round_trip_run_now(rpc_app: Conveyor, jsonrpc: JsonRpcServer) -> None:
    assert rpc_app.run_now(RPC_TASK, {"connection": "api", "method": "add", "params": [2, 3]}) == 5
    echoed = {"connection": "api", "method": "echo", "params": {"a": [1, None]}, "path": "v2"}
    assert rpc_app.run_now(RPC_TASK, echoed) == {"a": [1, None]}

    first, second = jsonrpc.requests
    assert first["path"] == "/rpc/" and second["path"] == "/rpc/v2"
    assert first["headers"]["content-type"] == "application/json"
    assert first["body"]["jsonrpc"] == "2.0" and first["body"]["method"] == "add"
    assert isinstance(first["body"]["id"], int) and first["body"]["id"] != second["body"]["id"]
    assert rpc_app.list_jobs() == []  # run_now stores nothing


def test_jsonrpc_job_run_by_a_worker(rpc_app: Conveyor, jsonrpc: JsonRpcServer) -> None:
    job_id = enqueue_rpc(rpc_app, "api", "echo", {"order": 7}, idempotency_key="order-7:paid")
    again = enqueue_rpc(rpc_app, "api", "echo", {"order": 7}, idempotency_key="order-7:paid")
    plain = enqueue_rpc(rpc_app, "api", "add", [1, 2], key="customer:1", queue="rpc")
    assert again == job_id
    _work(rpc_app)  # every queue

    job = rpc_app.get_job(job_id)
    assert (job.state, job.result, job.attempts) == ("succeeded", {"order": 7}, 1)
    other = rpc_app.get_job(plain)
    assert (other.state, other.result, other.key, other.queue) == (
        "succeeded",
        3,
        "customer:1",
        "rpc",
    )
    keys = {r["body"]["method"]: r["headers"]["idempotency-key"] for r in jsonrpc.requests}
    assert keys == {"echo": "order-7:paid", "add": other.payload["idempotency_key"]}
    assert keys["add"].startswith("conveyor-")


@sqlite_only
def test_jsonrpc_permanent_errors_go_dead(rpc_app: Conveyor, jsonrpc: JsonRpcServer) -> None:
    missing = enqueue_rpc(rpc_app, "api", "nope", [])
    bad = enqueue_rpc(rpc_app, "api", "bad_params", [1])
    http500 = enqueue_rpc(rpc_app, "api", "rpc500", [])
    _work(rpc_app)

    for job_id, code in ((missing, -32601), (bad, -32602), (http500, -32601)):
        job = rpc_app.get_job(job_id)
        assert (job.state, job.attempts) == ("dead", 1), job
        (error,) = job.errors
        assert error["type"] == "PermanentRpcError"
        assert error["code"] == code and error["rpc_method"] == job.payload["method"]
    assert rpc_app.get_job(bad).errors[0]["data"] == {"expected": "a list of two numbers"}
    assert rpc_app.get_job(http500).errors[0]["status"] == 500
    assert "invalid params" in (rpc_app.get_job(bad).last_error or "")

    with pytest.raises(PermanentRpcError) as caught:
        rpc_app.run_now(RPC_TASK, {"connection": "api", "method": "nope"})
    assert caught.value.code == -32601 and "method not found" in str(caught.value.rpc_message)


@sqlite_only
def test_jsonrpc_retryable_errors_retry(rpc_app: Conveyor, jsonrpc: JsonRpcServer) -> None:
    cases = {
        "busy": ("RetryableRpcError", 200),
        "internal": ("RetryableRpcError", 200),
        "boom": ("RetryableStatus", 500),
        "html": ("RpcProtocolError", 200),
        "wrong_id": ("RpcProtocolError", 200),
    }
    ids = {method: enqueue_rpc(rpc_app, "api", method, []) for method in cases}
    _work(rpc_app)

    for method, (kind, status) in cases.items():
        job = rpc_app.get_job(ids[method])
        assert (job.state, job.attempts) == ("retrying", 1), (method, job)
        (error,) = job.errors
        assert (error["type"], error["status"]) == (kind, status), method
    assert rpc_app.get_job(ids["busy"]).errors[0]["code"] == -32000
    assert rpc_app.get_job(ids["busy"]).errors[0]["data"] == {"queue": 12}

    with pytest.raises(RetryableRpcError):
        _call(rpc_app, lambda client: call_jsonrpc(client, "api", "internal", [], path="/rpc"))
    with pytest.raises(RpcProtocolError):
        _call(rpc_app, lambda client: call_jsonrpc(client, "api", "html", []))


def test_idempotency_key_is_the_same_on_every_attempt(
    rpc_app: Conveyor, jsonrpc: JsonRpcServer
) -> None:
    job_id = enqueue_rpc(rpc_app, "api", "flaky", ["x"])
    _work(rpc_app)  # 500 + Retry-After: 0, then due again at once: both attempts in one burst

    job = rpc_app.get_job(job_id)
    assert (job.state, job.attempts, job.result) == ("succeeded", 2, "done")
    assert [e["status"] for e in job.errors] == [500]
    keys = [r["headers"]["idempotency-key"] for r in jsonrpc.requests]
    assert keys == [job.payload["idempotency_key"]] * 2


# -- XML-RPC and Odoo -------------------------------------------------------------------------


@sqlite_only
def test_xmlrpc_round_trip_run_now(rpc_app: Conveyor, odoo: OdooServer) -> None:
    assert (
        rpc_app.run_now(RPC_TASK, {"protocol": "xmlrpc", "connection": "odoo", "method": "version"})
        == "17.0"
    )
    call = {
        "protocol": "xmlrpc",
        "connection": "odoo",
        "method": "execute_kw",
        "params": ["res.partner", "create", [{"name": "ACME", "vat": None}], {}],
        "odoo": {"db": DB, "uid": UID, "password": f"env:{PASSWORD_ENV}"},
    }
    assert rpc_app.run_now(RPC_TASK, call) == 1

    version, create = odoo.requests
    assert version["path"] == "/RPC2" and create["path"] == "/xmlrpc/2/object"
    assert create["headers"]["Content-Type"] == "text/xml"
    assert odoo.calls == [
        (DB, UID, PASSWORD, "res.partner", "create", [{"name": "ACME", "vat": None}], {})
    ]

    rows = _call(
        rpc_app,
        lambda client: odoo_execute_kw(
            client,
            "odoo",
            DB,
            UID,
            Secret(f"env:{PASSWORD_ENV}"),
            "res.partner",
            "search_read",
            [[]],
            {"fields": ["name"]},
        ),
    )
    assert rows == [{"name": "ACME"}]
    same = _call(
        rpc_app,
        lambda client: call_xmlrpc(
            client,
            "odoo",
            "execute_kw",
            [DB, UID, PASSWORD, "res.partner", "search_read", [[]], {"fields": ["id"]}],
            path="/xmlrpc/2/object",
        ),
    )
    assert same == [{"id": 1}]


def test_odoo_jobs_run_by_a_worker(rpc_app: Conveyor, odoo: OdooServer) -> None:
    created = enqueue_odoo(
        rpc_app,
        "odoo",
        DB,
        UID,
        f"env:{PASSWORD_ENV}",
        "res.partner",
        "create",
        [{"name": "ACME"}],
        idempotency_key="partner:acme",
        key="partners",  # one key: the search runs after the create
    )
    listed = enqueue_odoo(
        rpc_app,
        "odoo",
        DB,
        UID,
        Secret(f"env:{PASSWORD_ENV}"),
        "res.partner",
        "search_read",
        [[["name", "=", "ACME"]]],
        {"fields": ["id", "name"]},
        key="partners",
    )
    _work(rpc_app)

    assert rpc_app.get_job(created).state == "succeeded" and rpc_app.get_job(created).result == 1
    assert rpc_app.get_job(listed).result == [{"id": 1, "name": "ACME"}]
    assert [c[2] for c in odoo.calls] == [PASSWORD, PASSWORD]
    assert odoo.requests[0]["headers"]["Idempotency-Key"] == "partner:acme"
    stored = json.dumps([rpc_app.get_job(i).to_dict() for i in (created, listed)], default=str)
    assert f"env:{PASSWORD_ENV}" in stored and "s3cr" not in stored


@sqlite_only
def test_odoo_faults_are_permanent_and_never_show_the_password(
    rpc_app: Conveyor, odoo: OdooServer
) -> None:
    def enqueue(model: str) -> int:
        args: list[Any] = [[]]
        return enqueue_odoo(rpc_app, "odoo", DB, UID, f"env:{PASSWORD_ENV}", model, "search", args)

    unknown, echo = enqueue("no.such.model"), enqueue("debug.echo")
    _work(rpc_app)

    for job_id in (unknown, echo):
        job = rpc_app.get_job(job_id)
        assert (job.state, job.attempts, job.errors[0]["type"]) == ("dead", 1, "PermanentRpcError")
    assert rpc_app.get_job(unknown).errors[0]["code"] == 2
    assert "no.such.model" in (rpc_app.get_job(unknown).last_error or "")
    echoed = rpc_app.get_job(echo)
    assert echoed.errors[0]["code"] == 1 and "***" in echoed.errors[0]["message"]
    _assert_no_password(json.dumps(echoed.to_dict(), default=str))

    odoo.fail_next = 1  # a proxy answers 502 and echoes the XML request (escaped password)
    overloaded = enqueue("res.partner")
    _work(rpc_app)
    job = rpc_app.get_job(overloaded)
    assert (job.state, job.errors[0]["type"], job.errors[0]["status"]) == (
        "retrying",
        "RetryableStatus",
        502,
    )
    assert "***" in job.errors[0]["response"]
    _assert_no_password(json.dumps(job.to_dict(), default=str))

    with pytest.raises(PermanentRpcError) as caught:  # the direct helper, a literal password
        _call(
            rpc_app,
            lambda client: odoo_execute_kw(
                client, "odoo", DB, UID, PASSWORD, "debug.echo", "search", [[]]
            ),
        )
    error = caught.value
    _assert_no_password(
        str(error) + json.dumps(error.details) + "".join(traceback.format_exception(error))
    )


@sqlite_only
def test_xmlrpc_retryable_fault(rpc_app: Conveyor, odoo: OdooServer) -> None:
    job_id = enqueue_odoo(
        rpc_app, "odoo", DB, UID, f"env:{PASSWORD_ENV}", "flaky.model", "write", [[1], {}]
    )
    _work(rpc_app)
    job = rpc_app.get_job(job_id)
    assert (job.state, job.errors[0]["type"], job.errors[0]["code"]) == (
        "retrying",
        "RetryableRpcError",
        -32603,
    )
    with pytest.raises(RetryableStatus):
        odoo.fail_next = 1
        _call(rpc_app, lambda client: call_xmlrpc(client, "odoo", "version", []))


@sqlite_only
def test_payloads_that_cannot_be_sent_are_refused_at_enqueue(rpc_app: Conveyor) -> None:
    with pytest.raises(ConfigurationError) as literal:
        enqueue_odoo(rpc_app, "odoo", DB, UID, PASSWORD, "res.partner", "search", [[]])
    assert "s3cr" not in str(literal.value)
    with pytest.raises(PayloadError) as stored:
        enqueue_rpc(
            rpc_app,
            "odoo",
            "execute_kw",
            [],
            protocol="xmlrpc",
            odoo={"db": DB, "uid": UID, "password": PASSWORD},
        )
    assert "env:NAME" in str(stored.value) and "s3cr" not in str(stored.value)
    with pytest.raises(PayloadError, match="XML-RPC"):
        enqueue_rpc(rpc_app, "odoo", "m", [2**40], protocol="xmlrpc")
    with pytest.raises(PayloadError, match="XML-RPC params must be a list"):
        enqueue_rpc(rpc_app, "odoo", "m", {"a": 1}, protocol="xmlrpc")
    with pytest.raises(PayloadError, match="xmlrpc"):
        enqueue_rpc(rpc_app, "api", "m", [], odoo={"db": DB, "uid": UID, "password": "env:X"})
    with pytest.raises(ConfigurationError, match="unknown connection"):
        enqueue_rpc(rpc_app, "nowhere", "m", [])
    assert rpc_app.list_jobs() == []


def _assert_no_password(text: str) -> None:
    escaped = (
        PASSWORD.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"),
        json.dumps(PASSWORD)[1:-1],
    )
    for form in (PASSWORD, *escaped, "s3cr"):
        assert form not in text, form
