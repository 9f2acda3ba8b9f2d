"""The operator dashboard under `/dashboard`: server-rendered pages (Jinja2), one small
hand-written script for live updates over SSE, no front-end build. Thin over the operator
service (`app.ops`); see docs/dashboard.md.

Its own ASGI app, mounted by `create_app`: its errors are pages, not the API's JSON.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from ...errors import ConveyorError, InvalidStateError, JobNotFound, StoreError, UnknownConnection
from .auth import auth_router
from .common import HERE, LoginNeeded, Refused, refused_page, root
from .dead import dead_router
from .headers import SafeHeaders
from .jobs import jobs_router
from .operators import operators_router
from .overview import overview_router

if TYPE_CHECKING:
    from ...app import Conveyor

_STATUS: list[tuple[type[ConveyorError], int]] = [
    (JobNotFound, 404),
    (UnknownConnection, 404),
    (InvalidStateError, 409),
    (StoreError, 503),
]


def dashboard_app(conveyor: Conveyor) -> FastAPI:
    web = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    web.state.conveyor = conveyor
    web.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    for router in (
        auth_router(conveyor),
        overview_router(conveyor),
        jobs_router(conveyor),
        dead_router(conveyor),
        operators_router(conveyor),
    ):
        web.include_router(router)
    web.add_exception_handler(LoginNeeded, _login_needed)  # type: ignore[arg-type]
    web.add_exception_handler(Refused, _refused)  # type: ignore[arg-type]
    web.add_exception_handler(ConveyorError, _conveyor_error)  # type: ignore[arg-type]
    web.add_exception_handler(HTTPException, _http_error)  # type: ignore[arg-type]
    web.add_middleware(SafeHeaders)
    return web


async def _login_needed(request: Request, error: LoginNeeded) -> Response:
    return RedirectResponse(f"{root(request)}/login?{urlencode({'next': error.path})}", 303)


async def _refused(request: Request, error: Refused) -> Response:
    return refused_page(request, error)


async def _conveyor_error(request: Request, error: ConveyorError) -> Response:
    status = next((code for kind, code in _STATUS if isinstance(error, kind)), 400)
    return refused_page(request, Refused(str(error), status))


async def _http_error(request: Request, error: HTTPException) -> Response:
    return refused_page(request, Refused(str(error.detail), error.status_code))


__all__ = ["dashboard_app"]
