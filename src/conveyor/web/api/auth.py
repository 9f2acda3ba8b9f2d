"""Bearer tokens on every `/api/` route: 401 with `WWW-Authenticate: Bearer` without one, or with
one that is unknown or revoked."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from fastapi import Request
from starlette.exceptions import HTTPException

if TYPE_CHECKING:
    from ...ops import Operations

CHALLENGE = {"WWW-Authenticate": "Bearer"}


def bearer_token(ops: Operations) -> Callable[[Request], str]:
    def check(request: Request) -> str:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if not header:
            raise HTTPException(
                401, "missing bearer token (Authorization: Bearer <token>)", CHALLENGE
            )
        if scheme.lower() != "bearer" or not token.strip():
            raise HTTPException(401, "the Authorization header must be 'Bearer <token>'", CHALLENGE)
        holder = ops.tokens.check(token.strip())
        if holder is None:
            raise HTTPException(401, "unknown or revoked token", CHALLENGE)
        request.state.token_name = holder
        return holder

    return check
