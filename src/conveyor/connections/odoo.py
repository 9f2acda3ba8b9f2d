"""Odoo's external API beyond `odoo_execute_kw`: the login, and `create` calls bundled.

`odoo_authenticate` calls `authenticate(db, login, password, {})` on `/xmlrpc/2/common` and
returns the uid. Odoo answers `False` to bad credentials: raised as `OdooLoginRefused`, a
PermanentRpcError (retrying does not fix a password).

`odoo_create` creates one record and returns its id. On a connection declared with
`bundle=Bundle(...)` the creates of one (database, user, model) made on one event loop within
`max_wait` (up to `max_size`) go as one `execute_kw(db, uid, password, model, "create",
[[vals, ...]])`: Odoo's `create` takes a list and answers the ids in order, and each caller gets
its own. Odoo runs a call in one transaction, so one bad record (a validation fault) refuses the
whole bundle: each member is then sent alone, and only the faulty ones fail. Any other failure
(the ERP down, a 429, a malformed answer) is every member's, as for delivery bundles
(`bundling`). The password is a `Secret` in the params: masked in whatever a call raises.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

from .bundling import Bundle, Collector
from .client import RemoteClient
from .rpc import ODOO_OBJECT_PATH, PermanentRpcError, RpcProtocolError, call_xmlrpc
from .secrets import Secret

ODOO_COMMON_PATH = "/xmlrpc/2/common"


class OdooLoginRefused(PermanentRpcError):
    """`authenticate` answered False: the database, login or password is wrong."""


async def odoo_authenticate(
    client: RemoteClient,
    connection: str,
    db: str,
    login: str,
    password: str | Secret,
    *,
    path: str = ODOO_COMMON_PATH,
) -> int:
    """The uid of `login` on `db` (Odoo's `common.authenticate`). Raises OdooLoginRefused."""
    params = [db, login, Secret(password), {}]
    uid = await call_xmlrpc(client, connection, "authenticate", params, path=path)
    if isinstance(uid, bool) or not isinstance(uid, int):
        raise OdooLoginRefused(
            f"Odoo refused the login {login!r} on database {db!r} (authenticate answered {uid!r})",
            {"rpc_protocol": "xmlrpc", "rpc_method": "authenticate", "code": None},
        )
    return uid


async def odoo_create(
    client: RemoteClient,
    connection: str,
    db: str,
    uid: int,
    password: str | Secret,
    model: str,
    vals: dict[str, Any],
    *,
    path: str = ODOO_OBJECT_PATH,
) -> int:
    """Create one `model` record; its id. Bundled with other creates when the connection
    accepts bundles (see the module doc)."""
    secret = Secret(password)
    call = _Create(client, connection, path, db, uid, secret, model)
    bundle = client.connections.get_connection(connection).bundle
    if bundle is None:
        return (await call.send([vals]))[0]
    slots = _bundlers.setdefault(client, {})
    slot = (connection, path, db, str(uid), secret.reveal_raw(), model)
    bundler = slots.get(slot)
    if bundler is None:
        bundler = slots[slot] = _CreateBundler(call, bundle)
    return await bundler.submit(vals)


class _Create:
    """One `execute_kw(..., model, "create", [vals_list])` and the check of its answer."""

    def __init__(
        self,
        client: RemoteClient,
        connection: str,
        path: str,
        db: str,
        uid: int,
        password: Secret,
        model: str,
    ) -> None:
        self.client, self.connection, self.path = client, connection, path
        self.login = [db, uid, password]
        self.model = model

    async def send(self, vals_list: list[dict[str, Any]]) -> list[int]:
        params = [*self.login, self.model, "create", [vals_list], {}]
        ids = await call_xmlrpc(self.client, self.connection, "execute_kw", params, path=self.path)
        if (
            not isinstance(ids, list)
            or len(ids) != len(vals_list)
            or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids)
        ):
            raise RpcProtocolError(
                f"create of {len(vals_list)} {self.model} record(s) answered {ids!r:.200}, not"
                " one id per record",
                {"rpc_protocol": "xmlrpc", "rpc_method": "execute_kw"},
            )
        return ids


class _CreateBundler(Collector[dict[str, Any], int]):
    """Collects the creates of one slot on one event loop (`bundling.Collector`)."""

    def __init__(self, call: _Create, bundle: Bundle) -> None:
        super().__init__(bundle)
        self.call = call

    async def submit(self, vals: dict[str, Any]) -> int:
        return await self.collect(vals)

    async def _send(self, items: list[tuple[dict[str, Any], asyncio.Future[int]]]) -> None:
        items = [item for item in items if not item[1].done()]  # a cancelled caller: not sent
        if not items:
            return
        try:
            ids = await self.call.send([vals for vals, _ in items])
        except PermanentRpcError as error:
            if len(items) == 1:
                _fail(items, error)
            else:  # one bad record refused them all: find it, let the others through
                await asyncio.gather(*(self._send([item]) for item in items))
            return
        except Exception as error:
            _fail(items, error)
            return
        for (_, future), new_id in zip(items, ids, strict=True):
            if not future.done():
                future.set_result(new_id)


def _fail(items: list[tuple[dict[str, Any], asyncio.Future[int]]], error: Exception) -> None:
    for _, future in items:
        if not future.done():
            future.set_exception(error)


# One set of bundlers per client (one client per event loop), gone with it.
_bundlers: weakref.WeakKeyDictionary[RemoteClient, dict[tuple[str, ...], _CreateBundler]] = (
    weakref.WeakKeyDictionary()
)
