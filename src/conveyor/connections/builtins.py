"""The built-in tasks, on a blueprint every app includes: `conveyor.deliver` and `conveyor.rpc`.

They take their client from the running attempt (`current_remote()`), never from the app, and
the app checks at enqueue that their payload names a declared connection
(`app.tasks.include(builtin_tasks, check=app.connections.check_named)`).
"""

from __future__ import annotations

from typing import Any

from ..tasks import Blueprint
from .client import current_remote
from .deliver import DELIVER_TASK, Delivery, attempt_key
from .rpc_jobs import RPC_TASK, RpcCall, run_call

builtin_tasks = Blueprint()


@builtin_tasks.task(name=DELIVER_TASK, max_attempts=10)
async def deliver(payload: Delivery) -> dict[str, Any]:
    key = await attempt_key(payload)
    response = await current_remote().deliver(
        payload.connection,
        payload.method,
        payload.path,
        payload.body,
        headers=payload.headers,
        idempotency_key=key,
    )
    return response.details()


@builtin_tasks.task(name=RPC_TASK, max_attempts=10)
async def rpc(payload: RpcCall) -> Any:
    key = await attempt_key(payload)
    return await run_call(current_remote(), payload, idempotency_key=key)
