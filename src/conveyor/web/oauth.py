"""`GET /oauth/{connection}/start?owner=X` and `GET /oauth/{connection}/callback`: an owner
authorises a connection (OAuth2 authorization code with PKCE), its tokens are stored sealed.

The routes only translate HTTP to `app.accounts` (start_authorization, finish_authorization)
and its errors to statuses: a bad callback (unknown, expired or replayed state, a refused code,
the provider's own `error=`) is a 400 with a JSON `{"error": ...}`, an unknown connection 404,
a token endpoint that failed 502, a server without CONVEYOR_SECRET_KEY 500.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse

from ..errors import (
    AuthorizationError,
    ConfigurationError,
    DeliveryError,
    SecretKeyError,
    UnknownConnection,
)

if TYPE_CHECKING:
    from ..app import Conveyor

CALLBACK_ROUTE = "oauth_callback"


def oauth_router(app: Conveyor, *, dependencies: Sequence[Any] = ()) -> APIRouter:
    """`dependencies`: FastAPI dependencies of both routes (`[Depends(require_login)]`). The
    start route stores the tokens it leads to under the `owner` it is given, so an application
    should let only that owner (or its operators) start it: see docs/accounts.md."""
    router = APIRouter(dependencies=list(dependencies))

    @router.get("/oauth/{connection}/start", response_model=None)
    async def start(
        connection: str, owner: str, request: Request
    ) -> RedirectResponse | JSONResponse:
        callback = str(request.url_for(CALLBACK_ROUTE, connection=connection))
        try:
            url = await app.accounts.start_authorization(connection, owner, callback)
        except UnknownConnection as error:
            return _error(404, str(error))
        except SecretKeyError as error:  # the server's configuration, not the request
            return _error(500, str(error))
        except ConfigurationError as error:
            return _error(400, str(error))
        return RedirectResponse(url, status_code=302)

    @router.get("/oauth/{connection}/callback", name=CALLBACK_ROUTE, response_model=None)
    async def callback(
        connection: str,
        code: str | None = None,
        state: str | None = None,
        error: str | None = None,
        error_description: str | None = None,
    ) -> JSONResponse:
        if error is not None:
            detail = f": {error_description}" if error_description else ""
            return _error(400, f"the provider did not authorise ({error}{detail})")
        if not code or not state:
            return _error(400, "the callback needs code= and state=")
        try:
            account = await app.accounts.finish_authorization(connection, code, state)
        except UnknownConnection as failure:
            return _error(404, str(failure))
        except SecretKeyError as failure:
            return _error(500, str(failure))
        except DeliveryError as failure:  # the provider's token endpoint failed
            return _error(502, str(failure))
        except (AuthorizationError, ConfigurationError) as failure:
            return _error(400, str(failure))
        return JSONResponse(
            {"connected": True, "connection": account.connection, "owner": account.owner}
        )

    return router


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)
