"""RPC calls as jobs: the payload of the built-in `conveyor.rpc` task (declared in `builtins`),
how it is made, and how a queued Odoo call keeps its password out of the database.
"""

from __future__ import annotations

import xmlrpc.client
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationInfo, field_validator, model_validator

from ..errors import ConfigurationError
from ..options import Delay
from .client import RemoteClient
from .deliver import DeliveryHost, made_once
from .rpc import ODOO_OBJECT_PATH, call_jsonrpc, call_xmlrpc
from .secrets import Secret

RPC_TASK = "conveyor.rpc"
DEFAULT_PATHS = {"jsonrpc": "/", "xmlrpc": "/RPC2"}


class OdooLogin(BaseModel):
    """Odoo credentials prepended to a queued call's params at run time: `[db, uid, password,
    *params]`. The password is an `env:NAME` reference, since the payload is stored."""

    db: str
    uid: int
    password: str

    @field_validator("password")
    @classmethod
    def _reference(cls, value: str) -> str:
        if not value.startswith("env:") or len(value) <= len("env:"):
            raise ValueError(
                "give the password as an env:NAME reference (a job's payload is stored)"
            )
        return value


class RpcCall(BaseModel):
    protocol: Literal["jsonrpc", "xmlrpc"] = "jsonrpc"
    connection: str
    method: str = Field(min_length=1)
    params: list[Any] | dict[str, Any] = Field(default_factory=list)
    path: str | None = None
    idempotency_key: str | None = Field(default=None, validate_default=True)
    odoo: OdooLogin | None = None

    @field_validator("idempotency_key")
    @classmethod
    def _made_once(cls, value: str | None, info: ValidationInfo) -> str | None:
        return made_once(value, info)

    @model_validator(mode="after")
    def _protocol_rules(self) -> RpcCall:
        if self.protocol == "xmlrpc":
            if not isinstance(self.params, list):
                raise ValueError("XML-RPC params must be a list")
            try:  # refused at enqueue rather than dead at run time
                xmlrpc.client.dumps(tuple(self.params), methodname=self.method, allow_none=True)
            except (TypeError, OverflowError) as error:
                raise ValueError(f"params cannot be sent over XML-RPC: {error}") from None
        elif self.odoo is not None:
            raise ValueError("odoo credentials need protocol 'xmlrpc'")
        return self


async def run_call(
    client: RemoteClient, call: RpcCall, *, idempotency_key: str | None = None
) -> Any:
    """Make the call an `RpcCall` payload describes."""
    if call.protocol == "jsonrpc":
        return await call_jsonrpc(
            client,
            call.connection,
            call.method,
            call.params,
            path=call.path or DEFAULT_PATHS["jsonrpc"],
            idempotency_key=idempotency_key,
        )
    params = list(call.params)
    path = call.path or (ODOO_OBJECT_PATH if call.odoo else DEFAULT_PATHS["xmlrpc"])
    if call.odoo is not None:
        params = [call.odoo.db, call.odoo.uid, Secret(call.odoo.password), *params]
    return await call_xmlrpc(
        client, call.connection, call.method, params, path=path, idempotency_key=idempotency_key
    )


def enqueue_rpc(
    host: DeliveryHost,
    connection: str,
    method: str,
    params: list[Any] | dict[str, Any] | None = None,
    *,
    protocol: Literal["jsonrpc", "xmlrpc"] = "jsonrpc",
    path: str | None = None,
    key: str | None = None,
    idempotency_key: str | None = None,
    odoo: OdooLogin | dict[str, Any] | None = None,
    db: Any = None,
    queue: str | None = None,
    delay: Delay | None = None,
    run_at: datetime | None = None,
    priority: int | None = None,
) -> int:
    """Enqueue an RPC call to a connection; returns the job id. `db`: the
    application's own database connection (transactional enqueue).
    The `Idempotency-Key` header is `idempotency_key`, or one made as the call is enqueued and
    stored with it (`conveyor-<random hex>`), the same on every attempt."""
    host.get_connection(connection)
    call = {
        "protocol": protocol,
        "connection": connection,
        "method": method,
        "params": [] if params is None else params,
        "path": path,
        "idempotency_key": idempotency_key,
        "odoo": odoo.model_dump() if isinstance(odoo, OdooLogin) else odoo,
    }
    return host.enqueue(
        RPC_TASK,
        call,
        key=key,
        idempotency_key=idempotency_key,
        db=db,
        queue=queue,
        delay=delay,
        run_at=run_at,
        priority=priority,
    )


def enqueue_odoo(
    host: DeliveryHost,
    connection: str,
    db: str,
    uid: int,
    password: str | Secret,
    model: str,
    method: str,
    args: list[Any],
    kwargs: dict[str, Any] | None = None,
    **options: Any,
) -> int:
    """Enqueue an Odoo `execute_kw`. `password` must be an `env:NAME` reference (or a Secret
    holding one): the job stores the reference, the worker resolves it for each attempt."""
    reference = password.reveal_raw() if isinstance(password, Secret) else password
    if not reference.startswith("env:"):
        raise ConfigurationError(
            "a queued Odoo call stores its payload: give the password as an env:NAME reference"
        )
    login = {"db": db, "uid": uid, "password": reference}
    params = [model, method, list(args), kwargs or {}]
    return enqueue_rpc(
        host, connection, "execute_kw", params, protocol="xmlrpc", odoo=login, **options
    )
