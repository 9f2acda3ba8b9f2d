"""Bearer tokens on every `/api/` route: 401 with `WWW-Authenticate: Bearer` without one, or with
one that is unknown or revoked."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from fastapi import Request
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

if TYPE_CHECKING:
    from ...ops import Operations

CHALLENGE = {"WWW-Authenticate": "Bearer"}


def bearer_token(ops: Operations) -> Callable[[Request], Awaitable[str]]:
    """The dependency: async, so a token this process remembers is checked on the event loop
    (a thread hop is a fifth of a small request's CPU); any other is read in a thread."""

    async def check(request: Request) -> str:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if not header:
            raise HTTPException(
                401, "missing bearer token (Authorization: Bearer <token>)", CHALLENGE
            )
        if scheme.lower() != "bearer" or not token.strip():
            raise HTTPException(401, "the Authorization header must be 'Bearer <token>'", CHALLENGE)
        token = token.strip()
        holder = ops.tokens.remembered_holder(token)
        if holder is None:
            holder = await run_in_threadpool(ops.tokens.check, token)
        if holder is None:
            raise HTTPException(401, "unknown or revoked token", CHALLENGE)
        request.state.token_name = holder
        return holder

    return check
