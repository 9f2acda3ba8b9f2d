"""Log in with an API token (`conveyor tokens create NAME`), log out."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from .common import TEMPLATES, CheckedForm, root
from .session import (
    COOKIE,
    LOGIN_COOKIE,
    LOGIN_MAX_AGE,
    MAX_AGE,
    login_token,
    login_token_matches,
    open_session,
)

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

    def login_form(
        request: Request, error: str = "", status: int = 200, after: object = None
    ) -> HTMLResponse:
        """The form, with a fresh login token in it and in its pre-session cookie."""
        csrf = login_token()
        context: dict[str, Any] = {
            "root": root(request),
            "error": error,
            "next": _safe_next(request, after or request.query_params.get("next")),
            "csrf": csrf,
        }
        answer = TEMPLATES.TemplateResponse(request, "login.html", context, status_code=status)
        answer.set_cookie(
            LOGIN_COOKIE,
            csrf,
            max_age=LOGIN_MAX_AGE,
            path=root(request) + "/login",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return answer

    @router.get("/login")
    def login_page(request: Request) -> HTMLResponse:
        return login_form(request)

    @router.post("/login")
    async def login(request: Request) -> Response:
        form = await request.form()
        after = form.get("next")
        if not login_token_matches(request.cookies.get(LOGIN_COOKIE), form.get("csrf")):
            # Login CSRF: a form posted from another site (or one older than LOGIN_MAX_AGE).
            problem = "The login form expired or was sent from another site: log in again."
            return login_form(request, problem, 403, after)
        token = form.get("token")
        session = None
        if isinstance(token, str) and token.strip():
            session = await run_in_threadpool(open_session, conveyor.ops, token)
        if session is None:
            return login_form(request, "Unknown or revoked token.", 401, after)
        answer = RedirectResponse(_safe_next(request, after), 303)
        answer.delete_cookie(LOGIN_COOKIE, path=root(request) + "/login")
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
