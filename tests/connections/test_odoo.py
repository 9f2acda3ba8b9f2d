"""Odoo's login and bundled creates (`conveyor.connections.odoo`) against a real XML-RPC server."""

from __future__ import annotations

import asyncio
import socketserver
import threading
import xmlrpc.client
from collections.abc import Iterator
from typing import Any
from xmlrpc.server import (
    MultiPathXMLRPCServer,
    SimpleXMLRPCDispatcher,
    SimpleXMLRPCRequestHandler,
)

import pytest

from conveyor import Bundle, Conveyor
from conveyor.connections import (
    OdooLoginRefused,
    PermanentRpcError,
    RpcProtocolError,
    odoo_authenticate,
    odoo_create,
)
from tests.connections.conftest import sqlite_only

DB, LOGIN, PASSWORD, UID = "pos", "bot", "pw<&>secret", 7


class Paths(SimpleXMLRPCRequestHandler):
    rpc_paths = ()  # any path: the server's dispatchers pick by path


class Odoo(socketserver.ThreadingMixIn, MultiPathXMLRPCServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), requestHandler=Paths, logRequests=False, allow_none=True)
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        common = SimpleXMLRPCDispatcher(allow_none=True)
        common.register_function(self.authenticate, "authenticate")
        obj = SimpleXMLRPCDispatcher(allow_none=True)
        obj.register_function(self.execute_kw, "execute_kw")
        self.add_dispatcher("/xmlrpc/2/common", common)
        self.add_dispatcher("/xmlrpc/2/object", obj)
        self.creates: list[list[dict[str, Any]]] = []
        self.wrong_answer = False

    def authenticate(self, db: str, login: str, password: str, env: dict[str, Any]) -> Any:
        return UID if (db, login, password) == (DB, LOGIN, PASSWORD) else False

    def execute_kw(
        self, db: str, uid: int, pw: str, model: str, method: str, args: list, kw: dict
    ) -> Any:
        assert (db, uid, pw, model, method) == (DB, UID, PASSWORD, "pos.order", "create")
        vals_list = args[0]
        self.creates.append(vals_list)
        if any("bogus" in vals for vals in vals_list):
            raise xmlrpc.client.Fault(2, "ValueError: Invalid field 'bogus' on model 'pos.order'")
        if self.wrong_answer:
            return 1
        first = sum(len(c) for c in self.creates) * 100
        return [first + n for n in range(len(vals_list))]


@pytest.fixture
def odoo() -> Iterator[Odoo]:
    server = Odoo()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


def _run(app: Conveyor, coroutine: Any) -> Any:
    async def run() -> Any:
        try:
            return await coroutine(app.remote())
        finally:
            await app.close_remote()

    return asyncio.run(run())


@sqlite_only
def test_authenticate_answers_the_uid_or_refuses(app: Conveyor, odoo: Odoo) -> None:
    app.connection("erp", base_url=odoo.url)
    assert _run(app, lambda c: odoo_authenticate(c, "erp", DB, LOGIN, PASSWORD)) == UID
    with pytest.raises(OdooLoginRefused) as refused:
        _run(app, lambda c: odoo_authenticate(c, "erp", DB, LOGIN, "wrong"))
    assert "refused the login 'bot'" in str(refused.value)
    assert isinstance(refused.value, PermanentRpcError)


@sqlite_only
def test_creates_made_together_go_in_one_call(app: Conveyor, odoo: Odoo) -> None:
    app.connection("erp", base_url=odoo.url, bundle=Bundle(max_size=3, max_wait=0.05))

    async def five(client: Any) -> list[int]:
        calls = [
            odoo_create(client, "erp", DB, UID, PASSWORD, "pos.order", {"name": f"o{n}"})
            for n in range(5)
        ]
        return list(await asyncio.gather(*calls))

    ids = _run(app, five)
    assert [len(c) for c in odoo.creates] == [3, 2]  # max_size, then the rest after max_wait
    assert ids == [300, 301, 302, 500, 501]  # each caller its own id, in order
    assert [v["name"] for c in odoo.creates for v in c] == [f"o{n}" for n in range(5)]


@sqlite_only
def test_a_bad_record_fails_alone(app: Conveyor, odoo: Odoo) -> None:
    app.connection("erp", base_url=odoo.url, bundle=Bundle(max_size=10, max_wait=0.05))

    async def three(client: Any) -> list[Any]:
        calls = [
            odoo_create(client, "erp", DB, UID, PASSWORD, "pos.order", vals)
            for vals in ({"name": "a"}, {"name": "b", "bogus": 1}, {"name": "c"})
        ]
        return list(await asyncio.gather(*calls, return_exceptions=True))

    first, bad, last = _run(app, three)
    assert [len(c) for c in odoo.creates] == [3, 1, 1, 1]  # the bundle, then each alone
    assert isinstance(first, int) and isinstance(last, int)
    assert isinstance(bad, PermanentRpcError) and "Invalid field 'bogus'" in str(bad)
    assert PASSWORD not in str(bad)


@sqlite_only
def test_without_bundle_each_create_is_a_call(app: Conveyor, odoo: Odoo) -> None:
    app.connection("erp", base_url=odoo.url)

    async def two(client: Any) -> list[int]:
        calls = [
            odoo_create(client, "erp", DB, UID, PASSWORD, "pos.order", {"name": n})
            for n in ("x", "y")
        ]
        return list(await asyncio.gather(*calls))

    assert len(_run(app, two)) == 2 and [len(c) for c in odoo.creates] == [1, 1]
    odoo.wrong_answer = True
    with pytest.raises(RpcProtocolError, match="not one id per record"):
        _run(app, lambda c: odoo_create(c, "erp", DB, UID, PASSWORD, "pos.order", {"name": "z"}))


@sqlite_only
def test_a_caller_cancelled_before_the_bundle_leaves_is_not_sent(app: Conveyor, odoo: Odoo) -> None:
    app.connection("erp", base_url=odoo.url, bundle=Bundle(max_size=10, max_wait=0.1))

    async def one_cancelled(client: Any) -> int:
        def create(name: str) -> Any:
            return odoo_create(client, "erp", DB, UID, PASSWORD, "pos.order", {"name": name})

        gone = asyncio.ensure_future(create("gone"))
        kept = asyncio.ensure_future(create("kept"))
        await asyncio.sleep(0)  # both submitted, the bundle not sent yet
        gone.cancel()
        return await kept

    assert isinstance(_run(app, one_cancelled), int)
    assert odoo.creates == [[{"name": "kept"}]]
