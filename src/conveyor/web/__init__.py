"""Conveyor's HTTP side (the `web` extra: FastAPI and uvicorn): `create_app(app)` is an ASGI
application to serve with uvicorn (`uvicorn 'module:web' --factory` or in code). Importing
`conveyor` never imports this package, so FastAPI stays optional."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI

from .oauth import oauth_router

if TYPE_CHECKING:
    from ..app import Conveyor


def create_app(app: Conveyor, *, dependencies: Sequence[Any] = ()) -> FastAPI:
    """The routes of every web feature of `app`: today the OAuth authorisation of owners. The
    server loop's connection client (token requests) is closed when the server stops.
    `dependencies` guard every route (the application's own login check)."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await app.close_remote()

    web = FastAPI(
        title="Conveyor", openapi_url=None, docs_url=None, redoc_url=None, lifespan=lifespan
    )
    web.include_router(oauth_router(app, dependencies=dependencies))
    return web


__all__ = ["create_app", "oauth_router"]
