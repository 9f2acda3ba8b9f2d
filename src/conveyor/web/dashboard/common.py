"""What every dashboard page shares: the templates, the login and CSRF checks, times and texts
made readable, and the redirect after an action.

Pages are plain `def`s (FastAPI runs them in its thread pool: a store call never blocks the loop
that also serves webhooks); only the form reading is async.
"""

from __future__ import annotations

import functools
import json
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlencode

import jinja2
from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from ...cli.connections_view import Redactor
from .session import COOKIE, Session, csrf_matches, read_session

if TYPE_CHECKING:
    from ...app import Conveyor

HERE = Path(__file__).parent
STATES = ("waiting", "queued", "running", "retrying", "succeeded", "dead", "cancelled")
UNFINISHED = ("waiting", "queued", "running", "retrying")


class LoginNeeded(Exception):
    """A page asked for without a valid session: answered by a redirect to the login form."""

    def __init__(self, path: str) -> None:
        self.path = path


class Refused(Exception):
    """An action refused before anything changed (no session, no or a wrong CSRF token)."""

    def __init__(self, message: str, status: int = 403) -> None:
        self.message = message
        self.status = status


def root(request: Request) -> str:
    """The dashboard's own path prefix (where create_app mounted it)."""
    return str(request.scope.get("root_path", "")).rstrip("/")


def clean(value: object, limit: int = 500) -> str | None:
    """A text field as the store can take it (no NUL: PostgreSQL refuses one), or None."""
    if not isinstance(value, str):
        return None
    text = value.replace("\x00", "").strip()[:limit]
    return text or None


def keyset_id(value: str | None) -> int | None:
    """A keyset page's id from the query string (`before`, `after`), or None if it is not one."""
    if value is None or not value.isdigit() or len(value) >= 19:
        return None
    return int(value)


def when(value: datetime | float | None) -> str:
    if value is None:
        return "—"
    return _second(int(value.timestamp() if isinstance(value, datetime) else value))


@functools.lru_cache(maxsize=4096)
def _second(at: int) -> str:
    """A page polled each second shows the same times again: formatted once."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(at))


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f}s" if seconds >= 10 else f"{seconds:.1f}s"
    if seconds < 3600:
        return f"{seconds // 60:.0f}m {seconds % 60:02.0f}s"
    if seconds < 86400:
        return f"{seconds // 3600:.0f}h {seconds % 3600 // 60:02.0f}m"
    return f"{seconds // 86400:.0f}d {seconds % 86400 // 3600:.0f}h"


def ago(value: datetime | float | None) -> str:
    if value is None:
        return "—"
    at = value.timestamp() if isinstance(value, datetime) else value
    return duration(time.time() - at) + " ago"


def pretty(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


def first_line(text: str | None, limit: int = 160) -> str:
    if not text:
        return ""
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,  # every value a remote or a payload sent is escaped
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(when=when, ago=ago, duration=duration, pretty=pretty, first_line=first_line)
    env.globals.update(STATES=STATES)
    return env


TEMPLATES = Jinja2Templates(env=_environment())


def page(
    request: Request, template: str, session: Session, status: int = 200, **context: Any
) -> HTMLResponse:
    """A page: its template with the session's CSRF token, the prefix and the flash note."""
    context.update(
        root=root(request),
        csrf=session.csrf,
        holder=session.holder,
        note=request.query_params.get("note", "")[:300],
        path=request.url.path,
        redact=redactor(conveyor_of(request)),
    )
    return TEMPLATES.TemplateResponse(request, template, context, status_code=status)


def conveyor_of(request: Request) -> Conveyor:
    conveyor: Conveyor = request.app.state.conveyor  # the dashboard app's own state
    return conveyor


async def current_session(request: Request) -> Session:
    """For pages: the session, or a redirect to the login form. Async: a session whose token
    digest this process remembers is read on the event loop; any other in a thread."""
    ops, cookie = conveyor_of(request).ops, request.cookies.get(COOKIE)
    found = read_session(ops, cookie, digest_of=ops.tokens.remembered_digest)
    if found is None:
        found = await run_in_threadpool(read_session, ops, cookie)
    if found is None:
        query = request.url.query
        raise LoginNeeded(request.url.path + (f"?{query}" if query else ""))
    return found


@dataclass(frozen=True)
class Posted:
    session: Session
    form: FormData


async def checked_form(request: Request) -> Posted:
    """For actions: the session and the posted form, refused (403) before anything is done
    without a valid session or without the session's CSRF token."""
    ops = conveyor_of(request).ops
    found = await run_in_threadpool(read_session, ops, request.cookies.get(COOKIE), None)
    if found is None:
        raise Refused("not logged in (or the session ended): log in again")
    form = await request.form()
    if not csrf_matches(found, form.get("csrf")):
        raise Refused("missing or wrong CSRF token: reload the page and try again")
    return Posted(found, form)


CurrentSession = Annotated[Session, Depends(current_session)]
CheckedForm = Annotated[Posted, Depends(checked_form)]


def back(request: Request, form: FormData, default: str, note: str = "") -> RedirectResponse:
    """303 to the page the form came from (a path of the dashboard only), with a note."""
    prefix = root(request)
    target = str(form.get("back") or "")
    if not target.startswith(prefix + "/") or target.startswith("//") or "\\" in target:
        target = prefix + default
    if note:
        target += ("&" if "?" in target else "?") + urlencode({"note": note})
    return RedirectResponse(target, 303)


def redactor(conveyor: Conveyor) -> Redactor:
    """Masks every secret value the declared connections resolve to, in texts shown."""
    return Redactor(conveyor.connections[name] for name in conveyor.connections)


def refused_page(request: Request, error: Refused) -> Response:
    return TEMPLATES.TemplateResponse(
        request,
        "refused.html",
        {"root": root(request), "message": error.message},
        status_code=error.status,
    )
