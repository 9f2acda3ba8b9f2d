"""Connections (breaker and hold, pause/resume, a live check), schedules (next and last run),
sync runs with their stats, and batches when the application has them.

Connections are shown through the CLI's masking views (`cli/connections_view.py`): secrets as
their `env:NAME` reference or `***`, texts that came back from a remote scrubbed of every
resolved secret value.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import FormData

from ...cli.connections_view import check_record, connection_record
from .common import CheckedForm, CurrentSession, back, clean, page, redactor
from .session import Session

if TYPE_CHECKING:
    from ...app import Conveyor


def connections_router_parts(conveyor: Conveyor) -> list[dict[str, Any]]:
    """Every declared connection as `connections list --json` shows it (no secret)."""
    ops = conveyor.ops
    states = {record.name: record for record in ops.breakers()}
    holds = {hold.name: hold for hold in ops.holds()}
    redact = redactor(conveyor)
    return [
        connection_record(conveyor.connections[name], states.get(name), redact, holds.get(name))
        for name in sorted(conveyor.connections)
    ]


def operators_router(conveyor: Conveyor) -> APIRouter:
    router = APIRouter()
    ops = conveyor.ops

    def connections_page(
        request: Request, session: Session, check: dict[str, Any] | None = None
    ) -> HTMLResponse:
        records = connections_router_parts(conveyor)
        return page(request, "connections.html", session, connections=records, check=check)

    @router.get("/connections")
    def connections(request: Request, session: CurrentSession) -> HTMLResponse:
        return connections_page(request, session)

    @router.post("/connections/{name}/pause")
    def pause(request: Request, name: str, posted: CheckedForm) -> Response:
        form: FormData = posted.form
        reason = str(form.get("reason") or "").strip()[:200] or "paused from the dashboard"
        ops.pause_connection(name, f"{reason} ({posted.session.holder})")
        return back(request, form, "/connections", f"{name} paused.")

    @router.post("/connections/{name}/resume")
    def resume(request: Request, name: str, posted: CheckedForm) -> Response:
        woken = ops.resume_connection(name)
        noun = "job" if woken == 1 else "jobs"
        return back(
            request, posted.form, "/connections", f"{name} resumed: {woken} {noun} due now."
        )

    @router.post("/connections/{name}/test")
    async def test(request: Request, name: str, posted: CheckedForm) -> HTMLResponse:
        """The check request (breaker and rate limit bypassed), its answer shown on the page."""
        conveyor.get_connection(name)  # an unknown name: 404 before any request
        result = await conveyor.test_connection_async(name)
        record = check_record(result, redactor(conveyor))
        return connections_page(request, posted.session, record)

    @router.get("/schedules")
    def schedules(request: Request, session: CurrentSession) -> HTMLResponse:
        return page(request, "schedules.html", session, schedules=ops.schedules.views())

    @router.get("/sync")
    def sync(request: Request, session: CurrentSession) -> HTMLResponse:
        source = clean(request.query_params.get("source"))
        runs = ops.sync.runs(source=source, limit=100)
        keys = sorted({key for run in runs for key in run.stats})
        return page(request, "sync.html", session, runs=runs, stat_keys=keys, source=source)

    @router.get("/batches")
    def batches(request: Request, session: CurrentSession) -> HTMLResponse:
        """Batches are another area's (being built beside this): shown once `ops` has them."""
        found = getattr(ops, "batches", None)
        listed: list[Any] = []
        if found is not None:
            lister = getattr(found, "list", None) or getattr(found, "views", None)
            listed = list(lister()) if callable(lister) else []
        return page(request, "batches.html", session, available=found is not None, batches=listed)

    return router
