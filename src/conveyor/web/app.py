"""`create_app(conveyor_app)`: the ASGI application, one router per area.

Every error answer is JSON `{"error": "<what is wrong>"}`, FastAPI's own 404 and 405 included, so
a sender's delivery log shows the reason. The routers: webhook intake (`hooks.py`, open: a
signature authenticates each request) and the owners' OAuth authorisation (`oauth.py`, behind
`dependencies`, the application's own login check), the operator API (`api/`), and the
dashboard (`dashboard/`, its own app mounted at `/dashboard`: its errors are pages, not JSON).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from ..errors import (
    ConfigurationError,
    ConveyorError,
    InvalidStateError,
    JobNotFound,
    PayloadError,
    StoreError,
    TaskNotFound,
    UnknownConnection,
)
from ..schedule.registry import UnknownSchedule
from .api import api_router
from .dashboard import dashboard_app
from .health import health_router
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
        title="Conveyor",
        openapi_url="/api/openapi.json",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    web.include_router(hooks_router(conveyor_app.webhooks))
    web.include_router(oauth_router(conveyor_app, dependencies=dependencies))
    web.include_router(health_router(conveyor_app.ops, conveyor_app.metrics))
    web.include_router(api_router(conveyor_app.ops))
    web.mount("/dashboard", dashboard_app(conveyor_app))
    web.add_exception_handler(HTTPException, _http_error)  # type: ignore[arg-type]
    web.add_exception_handler(RequestValidationError, _invalid)  # type: ignore[arg-type]
    web.add_exception_handler(ConveyorError, _conveyor_error)  # type: ignore[arg-type]
    web.state.conveyor = conveyor_app
    return web


# A Conveyor error raised by the operator service, as an HTTP status (the rest: 400).
_STATUS: list[tuple[type[ConveyorError], int]] = [
    (JobNotFound, 404),
    (UnknownConnection, 404),
    (UnknownSchedule, 404),
    (TaskNotFound, 422),
    (PayloadError, 422),
    (InvalidStateError, 409),
    (StoreError, 503),
    (ConfigurationError, 400),
]


async def _conveyor_error(request: Request, error: ConveyorError) -> JSONResponse:
    status = next((code for kind, code in _STATUS if isinstance(error, kind)), 400)
    return JSONResponse({"error": str(error)}, status)


async def _invalid(request: Request, error: RequestValidationError) -> JSONResponse:
    problems = [
        f"{'.'.join(str(part) for part in e.get('loc', ()))}: {e.get('msg', 'invalid')}"
        for e in error.errors()
    ]
    return JSONResponse({"error": "; ".join(problems) or "invalid request"}, 422)


async def _http_error(request: Request, error: HTTPException) -> JSONResponse:
    return JSONResponse({"error": str(error.detail)}, error.status_code, headers=error.headers)
