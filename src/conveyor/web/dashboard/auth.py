"""Log in with an API token (`conveyor tokens create NAME`), log out."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from .common import TEMPLATES, CheckedForm, root
from .session import COOKIE, MAX_AGE, open_session

if TYPE_CHECKING:
    from ...app import Conveyor


def _safe_next(request: Request, value: object) -> str:
    prefix = root(request)
    text = value if isinstance(value, str) else ""
    if text.startswith(prefix + "/") and not text.startswith("//") and "\\" not in text:
        return text
    return prefix + "/"


def auth_router(conveyor: Conveyor) -> APIRouter:
    router = APIRouter()

    def login_form(request: Request, error: str = "", status: int = 200) -> HTMLResponse:
        context: dict[str, Any] = {
            "root": root(request),
            "error": error,
            "next": _safe_next(request, request.query_params.get("next")),
        }
        return TEMPLATES.TemplateResponse(request, "login.html", context, status_code=status)

    @router.get("/login")
    def login_page(request: Request) -> HTMLResponse:
        return login_form(request)

    @router.post("/login")
    async def login(request: Request) -> Response:
        form = await request.form()
        token = form.get("token")
        session = None
        if isinstance(token, str) and token.strip():
            session = await run_in_threadpool(open_session, conveyor.ops, token)
        if session is None:
            return login_form(request, "Unknown or revoked token.", 401)
        answer = RedirectResponse(_safe_next(request, form.get("next")), 303)
        answer.set_cookie(
            COOKIE,
            session.cookie,
            max_age=MAX_AGE,
            path=root(request) + "/",
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
        )
        return answer

    @router.post("/logout")
    def logout(request: Request, posted: CheckedForm) -> Response:
        answer = RedirectResponse(root(request) + "/login", 303)
        answer.delete_cookie(COOKIE, path=root(request) + "/")
        return answer

    return router
