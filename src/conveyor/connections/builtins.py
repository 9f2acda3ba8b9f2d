"""The built-in tasks, on a blueprint every app includes: `conveyor.deliver` and `conveyor.rpc`.

They take their client from the running attempt (`current_remote()`), never from the app, and
the app checks at enqueue that their payload names a declared connection
(`app.tasks.include(builtin_tasks, check=app.connections.check_named)`).
"""

from __future__ import annotations

from typing import Any

from ..errors import Postpone, UnknownConnection
from ..politeness import ON_HOLD
from ..tasks import Blueprint
from .client import RemoteClient, current_remote
from .deliver import DELIVER_TASK, Delivery, attempt_key
from .rpc_jobs import RPC_TASK, RpcCall, run_call

builtin_tasks = Blueprint()
UNDECLARED_RECHECK = 60.0


def _client(connection: str) -> RemoteClient:
    """The running attempt's client, once the connection is known here. A connection this
    worker does not declare may be another worker's: the job waits (its attempt not counted)."""
    client = current_remote()
    try:
        client.connections.get_connection(connection)
    except UnknownConnection as error:
        raise Postpone(
            UNDECLARED_RECHECK,
            f"{ON_HOLD}connection {connection!r} is not declared in this worker ({error}); a"
            " worker that declares it will run the job (or cancel it)",
        ) from None
    return client


def _named(payload: Delivery | RpcCall) -> str:
    """The connection a delivery or a call is for: stored with its job (`jobs --connection`)."""
    return payload.connection


@builtin_tasks.task(name=DELIVER_TASK, max_attempts=10, connection=_named)
async def deliver(payload: Delivery) -> dict[str, Any]:
    client = _client(payload.connection)
    key = await attempt_key(payload)
    response = await client.deliver(
        payload.connection,
        payload.method,
        payload.path,
        payload.body,
        headers=payload.headers,
        idempotency_key=key,
    )
    return response.details()


@builtin_tasks.task(name=RPC_TASK, max_attempts=10, connection=_named)
async def rpc(payload: RpcCall) -> Any:
    client = _client(payload.connection)
    key = await attempt_key(payload)
    with client.mask(client.connections.get_connection(payload.connection)).raised():
        return await run_call(client, payload, idempotency_key=key)
