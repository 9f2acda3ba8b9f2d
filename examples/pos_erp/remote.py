"""A stand-in of the ERP (Odoo) for 002: a real XML-RPC server (stdlib) on 127.0.0.1.

`/xmlrpc/2/common`: `version()`, `authenticate(db, login, password, {})` (the uid, or False).
`/xmlrpc/2/object`: `execute_kw(db, uid, password, model, method, args, kwargs)` with `create`
(one vals or a list of them: one id or the list of ids, all or none), `write`, `read`,
`search_read` (domains of `[field, "=" | "in", value]`) on the models below. A wrong login is
the Fault "Access Denied"; an unknown model, an unknown field, a missing required field or a
wrong type is a Fault naming it (Odoo's ValidationError / ValueError), and nothing is written.
`GET /web/health` is Odoo's health route. `Chat` is the ops team's chat apart from the ERP
(its incoming webhook takes Slack-like `{"text"}` posts, kept in `messages`).

Switches: `outage = True` stops listening (connections refused) until set back to False;
`throttle = N` answers the next N requests 429 with `Retry-After: 1`. Counters: `calls` (every
RPC: service, method, model, batch size), `requests` (every HTTP request: path, status).
`change(model, id, vals)` is an edit made in the ERP: written, then announced to `webhook_url`
signed with `X-Erp-Signature: sha256=<hmac hex>` and an `X-Erp-Event` id, like an Odoo
automated action ("on update: send webhook").

    python -m examples.pos_erp.remote --port 8069
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import itertools
import json
import socketserver
import threading
import time
import urllib.request
import xmlrpc.client
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from xmlrpc.server import MultiPathXMLRPCServer, SimpleXMLRPCDispatcher, SimpleXMLRPCRequestHandler

DB, LOGIN, PASSWORD, UID = "pos", "pos-sync", "erp-password", 2
WEBHOOK_SECRET = "erp-webhook-secret"

# model -> {field: (type, required)}
MODELS: dict[str, dict[str, tuple[type | tuple[type, ...], bool]]] = {
    "res.partner": {"name": (str, True), "email": (str, False), "phone": (str, False)},
    "product.product": {"name": (str, True), "default_code": (str, False),
                        "list_price": ((int, float), True)},
    "loyalty.card": {"partner_id": (int, True), "code": (str, True), "tier": (str, False),
                     "points": ((int, float), False)},
    "pos.order": {"pos_reference": (str, True), "partner_id": (int, False),
                  "amount_total": ((int, float), True), "date_order": (str, False),
                  "lines": (list, False)},
    "loyalty.points": {"partner_id": (int, True), "order_id": (int, False),
                       "points": ((int, float), True), "reason": (str, False)},
    "loyalty.history": {"partner_id": (int, True), "date": (str, True),
                        "balance": ((int, float), True)},
}  # fmt: skip


class _Handler(SimpleXMLRPCRequestHandler):
    rpc_paths = ()  # the server's dispatchers pick by path

    def do_POST(self) -> None:
        erp: Erp = self.server.erp  # type: ignore[attr-defined]
        if erp._take_throttle():
            self._plain(429, b'{"error": "too many requests"}', {"Retry-After": "1"})
            return
        erp.requests.append({"path": self.path, "status": 200})
        super().do_POST()

    def do_GET(self) -> None:
        if self.path != "/web/health":
            self._plain(404, b'{"error": "not found"}')
            return
        self._plain(200, json.dumps({"status": "pass", "server_version": "17.0"}).encode())

    def _plain(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.server.erp.requests.append({"path": self.path, "status": status})  # type: ignore[attr-defined]
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(socketserver.ThreadingMixIn, MultiPathXMLRPCServer):
    daemon_threads = True
    allow_reuse_address = True


class Erp:
    """The ERP: its records, its switches and its counters."""

    def __init__(self) -> None:
        self.records: dict[str, dict[int, dict[str, Any]]] = {model: {} for model in MODELS}
        self.received_at: dict[tuple[str, int], float] = {}  # when each record was created
        self.calls: list[dict[str, Any]] = []
        self.requests: list[dict[str, Any]] = []
        self.throttle = 0
        self.webhook_url: str | None = None
        self.webhook_secret = WEBHOOK_SECRET.encode()
        self.url = ""
        self._ids = {model: itertools.count(1) for model in MODELS}
        self._events = itertools.count(1)
        self._lock = threading.Lock()
        self._port = 0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- the RPC services ------------------------------------------------------------------

    def version(self) -> dict[str, Any]:
        return {"server_version": "17.0", "protocol_version": 1}

    def authenticate(self, db: str, login: str, password: str, env: Any = None) -> int | bool:
        self.calls.append({"service": "common", "method": "authenticate", "model": None})
        return UID if (db, login, password) == (DB, LOGIN, PASSWORD) else False

    def execute_kw(
        self,
        db: str,
        uid: int,
        password: str,
        model: str,
        method: str,
        args: list[Any],
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        size = len(args[0]) if method == "create" and isinstance(args[0], list) else 1
        self.calls.append({"service": "object", "method": method, "model": model, "size": size})
        if (db, uid, password) != (DB, UID, PASSWORD):
            raise xmlrpc.client.Fault(3, "AccessDenied: Access Denied")
        if model not in MODELS:
            raise xmlrpc.client.Fault(2, f"KeyError: Object {model} doesn't exist")
        kwargs = kwargs or {}
        with self._lock:
            if method == "create":
                return self._create(model, args[0])
            if method == "write":
                return self._write(model, args[0], args[1])
            if method == "read":
                return self._read(model, args[0], kwargs.get("fields") or args[1:2])
            if method == "search_read":
                found = [
                    i for i, r in self.records[model].items() if _matches({"id": i, **r}, args[0])
                ]
                return self._read(model, found, kwargs.get("fields"))
        raise xmlrpc.client.Fault(2, f"AttributeError: type object '{model}' has no {method!r}")

    def _create(self, model: str, vals: Any) -> int | list[int]:
        many = isinstance(vals, list)
        vals_list = vals if many else [vals]
        for one in vals_list:  # all or none, like Odoo's one transaction per call
            _validate(model, one, create=True)
            self._check_partner(model, one)
        ids = []
        for one in vals_list:
            new_id = next(self._ids[model])
            self.records[model][new_id] = dict(one)
            self.received_at[(model, new_id)] = time.time()
            ids.append(new_id)
        return ids if many else ids[0]

    def _check_partner(self, model: str, vals: dict[str, Any]) -> None:
        partner = vals.get("partner_id")
        if model != "res.partner" and partner and partner not in self.records["res.partner"]:
            raise xmlrpc.client.Fault(
                2, f"ValidationError: {model}.partner_id: res.partner({partner}) does not exist"
            )

    def _write(self, model: str, ids: list[int], vals: dict[str, Any]) -> bool:
        _validate(model, vals, create=False)
        self._check_partner(model, vals)
        missing = [i for i in ids if i not in self.records[model]]
        if missing:
            raise xmlrpc.client.Fault(2, f"MissingError: {model} {missing} does not exist")
        for i in ids:
            self.records[model][i].update(vals)
        return True

    def _read(self, model: str, ids: list[int], fields: Any) -> list[dict[str, Any]]:
        wanted = list(fields[0] if fields and isinstance(fields[0], list) else fields or [])
        rows = []
        for i in ids:
            record = self.records[model].get(i)
            if record is not None:
                row = {"id": i, **record}
                rows.append({f: row.get(f, False) for f in ["id", *wanted]} if wanted else row)
        return rows

    # -- edits made in the ERP, announced by webhook -----------------------------------------

    def add(self, model: str, vals: dict[str, Any]) -> int:
        with self._lock:
            new_id = self._create(model, vals)
        assert isinstance(new_id, int)
        return new_id

    def change(self, model: str, record_id: int, vals: dict[str, Any]) -> int:
        """Edit a record in the ERP and send its webhook; the HTTP status of the delivery."""
        with self._lock:
            self._write(model, [record_id], vals)
        body = json.dumps({"model": model, "id": record_id, "event": "write"}).encode()
        signature = hmac.new(self.webhook_secret, body, hashlib.sha256).hexdigest()
        assert self.webhook_url, "set webhook_url first"
        request = urllib.request.Request(
            self.webhook_url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "X-Erp-Event": f"evt-{next(self._events)}",
                "X-Erp-Signature": f"sha256={signature}",
            },
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)

    # -- switches ----------------------------------------------------------------------------

    def _take_throttle(self) -> bool:
        with self._lock:
            if self.throttle > 0:
                self.throttle -= 1
                return True
        return False

    @property
    def outage(self) -> bool:
        return self._server is None

    @outage.setter
    def outage(self, down: bool) -> None:
        if down and self._server is not None:
            self._close()
        elif not down and self._server is None:
            self.start(self._port)

    def count(self, method: str, model: str | None = None) -> int:
        return sum(1 for c in self.calls if c["method"] == method and model in (None, c["model"]))

    # -- in-process start/stop, for the demo and the tests ------------------------------------

    def start(self, port: int = 0) -> str:
        server = _Server(("127.0.0.1", port), requestHandler=_Handler, logRequests=False,
                         allow_none=True)  # fmt: skip
        server.erp = self  # type: ignore[attr-defined]
        common = SimpleXMLRPCDispatcher(allow_none=True)
        common.register_function(self.version, "version")
        common.register_function(self.authenticate, "authenticate")
        objects = SimpleXMLRPCDispatcher(allow_none=True)
        objects.register_function(self.execute_kw, "execute_kw")
        server.add_dispatcher("/xmlrpc/2/common", common)
        server.add_dispatcher("/xmlrpc/2/object", objects)
        self._port = server.server_address[1]
        self.url = f"http://127.0.0.1:{self._port}"
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, args=(0.05,), daemon=True, name="erp"
        )
        self._thread.start()
        return self.url

    def _close(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(10)

    def stop(self) -> None:
        self._close()


class _ChatHandler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.messages.append(json.loads(body))  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


class Chat:
    """The ops chat's incoming webhook (where the alerts go), on its own port."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _ChatHandler)
        self._server.daemon_threads = True
        self._server.messages = self.messages  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hooks/ops"
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True, name="chat"
        )

    def start(self) -> str:
        self._thread.start()
        return self.url

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)


def _validate(model: str, vals: Any, *, create: bool) -> None:
    fields = MODELS[model]
    if not isinstance(vals, dict):
        raise xmlrpc.client.Fault(2, f"ValueError: {model} values must be a dict")
    for name, value in vals.items():
        if name not in fields:
            raise xmlrpc.client.Fault(2, f"ValueError: Invalid field {name!r} on model {model!r}")
        kind, _ = fields[name]
        if value is not False and not isinstance(value, kind):
            raise xmlrpc.client.Fault(
                2, f"ValidationError: wrong value for {model}.{name}: {value!r}"
            )
    if create:
        for name, (_, required) in fields.items():
            if required and vals.get(name) in (None, False, ""):
                raise xmlrpc.client.Fault(
                    2, f"ValidationError: the field {name!r} of {model!r} is required"
                )


def _matches(record: dict[str, Any], domain: list[Any]) -> bool:
    for field, operator, value in domain:
        got = record.get(field)
        if (operator == "=" and got != value) or (operator == "in" and got not in value):
            return False
    return True


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m examples.pos_erp.remote")
    parser.add_argument("--port", type=int, default=8069)
    erp = Erp()
    print(f"ERP stand-in on {erp.start(parser.parse_args().port)}")
    threading.Event().wait()
