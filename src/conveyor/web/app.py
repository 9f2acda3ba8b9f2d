"""`create_app(conveyor_app)`: the ASGI application, one router per area.

Every error answer is JSON `{"error": "<what is wrong>"}`, FastAPI's own 404 and 405 included, so
a sender's delivery log shows the reason. The routers: webhook intake (`hooks.py`, open: a
signature authenticates each request) and the owners' OAuth authorisation (`oauth.py`, behind
`dependencies`, the application's own login check); the operator API and the dashboard are
routers to come beside them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from .hooks import hooks_router
from .oauth import oauth_router

if TYPE_CHECKING:
    from ..app import Conveyor


def create_app(conveyor_app: Conveyor, *, dependencies: Sequence[Any] = ()) -> FastAPI:
    """The server loop's connection client (OAuth token requests) is closed when it stops."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await conveyor_app.close_remote()

    web = FastAPI(
        title="Conveyor", openapi_url=None, docs_url=None, redoc_url=None, lifespan=lifespan
    )
    web.include_router(hooks_router(conveyor_app.webhooks))
    web.include_router(oauth_router(conveyor_app, dependencies=dependencies))
    web.add_exception_handler(HTTPException, _http_error)  # type: ignore[arg-type]
    web.state.conveyor = conveyor_app
    return web


async def _http_error(request: Request, error: HTTPException) -> JSONResponse:
    return JSONResponse({"error": str(error.detail)}, error.status_code, headers=error.headers)
