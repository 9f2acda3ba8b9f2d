"""`create_app(conveyor_app)`: the ASGI application, one router per area.

Every error answer is JSON `{"error": "<what is wrong>"}`, FastAPI's own 404 and 405 included, so
a sender's delivery log shows the reason. Only the webhook routes exist yet; the operator API and
the dashboard are routers to come beside them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from .hooks import hooks_router

if TYPE_CHECKING:
    from ..app import Conveyor


def create_app(conveyor_app: Conveyor) -> FastAPI:
    web = FastAPI(title="Conveyor", openapi_url=None, docs_url=None, redoc_url=None)
    web.include_router(hooks_router(conveyor_app.webhooks))
    web.add_exception_handler(HTTPException, _http_error)  # type: ignore[arg-type]
    web.state.conveyor = conveyor_app
    return web


async def _http_error(request: Request, error: HTTPException) -> JSONResponse:
    return JSONResponse({"error": str(error.detail)}, error.status_code, headers=error.headers)
