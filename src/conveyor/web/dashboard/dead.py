"""The dead-letter page (dead jobs grouped by task, connection and error class, all of them or
one connection's: retry or cancel one, the ticked ones, or every dead job of a group since a
time) and the blocked keys (each with the dead job that holds it: retry it, with an edited
payload if need be, or cancel it)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import FormData

from ...ops import BULK_LIMIT, CANCEL, RETRY, SHARED_DEAD_GROUPS
from .common import CheckedForm, CurrentSession, back, clean, keyset_id, page, redactor
from .jobs import act, form_ids

if TYPE_CHECKING:
    from ...app import Conveyor
    from ...ops import Operations
    from ...store.overview import DeadGroup

GROUPS = 20  # groups shown, the largest (the others: narrow by connection or time)
PER_GROUP = 5  # newest jobs shown under each group (the rest: a link to the jobs listing)
GROUP_ACTIONS = {"retry": RETRY, "cancel": CANCEL}
BLOCKED_PAGE = 20  # blocked keys a page shows, each with its head's payload to edit


def parse_since(value: object) -> float | None:
    """A `datetime-local` field (UTC, as the page says) or an ISO-8601 time; None if blank or
    unreadable."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def since_field(since: float | None) -> str:
    if since is None:
        return ""
    return datetime.fromtimestamp(since, UTC).strftime("%Y-%m-%dT%H:%M")


def connection_groups(
    shared: list[DeadGroup], connection: str, page: int = GROUPS, cut: int = SHARED_DEAD_GROUPS
) -> list[DeadGroup] | None:
    """One connection's largest groups (and one more) from the shared read, when it surely
    holds them: the read's order is total (count, then names), so the connection's groups in it
    come in their own order, and any it left out sort after all it kept. Sure when that gives
    a full page (and one more), or when the read was not cut at `cut`; otherwise None."""
    mine = [group for group in shared if group.connection == connection][: page + 1]
    if len(mine) > page or len(shared) < cut:
        return mine
    return None


def largest_groups(ops: Operations, since: float | None, connection: str | None) -> list[DeadGroup]:
    """The page's groups and one more (are there others?): the page as first opened, or one
    connection's, from the shared read (at most a second old) when it holds them."""
    if since is None:
        shared = ops.shared.dead_groups()
        if connection is None:
            return shared[: GROUPS + 1]
        found = connection_groups(shared, connection)
        if found is not None:
            return found
    return ops.dead_groups(since, GROUPS + 1, connection)


def dead_router(conveyor: Conveyor) -> APIRouter:
    router = APIRouter()
    ops = conveyor.ops

    @router.get("/dead")
    def dead(request: Request, session: CurrentSession) -> HTMLResponse:
        since = parse_since(request.query_params.get("since"))
        connection = clean(request.query_params.get("connection"))
        redact = redactor(conveyor)
        groups: list[dict[str, Any]] = []
        found = largest_groups(ops, since, connection)
        more, found = len(found) > GROUPS, found[:GROUPS]
        for group, jobs in zip(found, ops.dead_in_groups(found, since, PER_GROUP), strict=True):
            groups.append({"group": group, "sample": redact(group.sample), "jobs": jobs})
        kept = {"since": since_field(since), "connection": connection or ""}
        return page(
            request,
            "dead.html",
            session,
            groups=groups,
            since=since_field(since),
            connection=connection or "",
            connections=sorted(conveyor.connections),
            query=urlencode({k: v for k, v in kept.items() if v}),  # the page's filters
            dead_total=sum(group.count for group in found),
            more=more,
        )

    @router.post("/dead/selected")
    def selected(request: Request, posted: CheckedForm) -> Response:
        form: FormData = posted.form
        action = GROUP_ACTIONS.get(str(form.get("action", "")))
        if action is None:
            return back(request, form, "/dead", "Unknown action.")
        return back(request, form, "/dead", act(ops, action, form_ids(form), None))

    @router.post("/dead/group")
    def group(request: Request, posted: CheckedForm) -> Response:
        """Every dead job of one task, connection (blank: none) and error class (dead since
        `since`, if given)."""
        form: FormData = posted.form
        action = GROUP_ACTIONS.get(str(form.get("action", "")))
        task, error_class = clean(form.get("task")), clean(form.get("error_class")) or ""
        connection = clean(form.get("connection"))
        if action is None or task is None:
            return back(request, form, "/dead", "Unknown action or group.")
        since = parse_since(form.get("since"))
        if isinstance(form.get("since"), str) and str(form.get("since")).strip() and since is None:
            return back(request, form, "/dead", "Unreadable time: nothing done.")
        jobs = ops.dead_in_group(task, connection, error_class, since, BULK_LIMIT)
        ids = [job.id for job in jobs]
        done = ops.retry(ids) if action is RETRY else ops.cancel(ids)
        noun = "job" if len(done) == 1 else "jobs"
        what = f"{task} ({connection})" if connection else task
        return back(request, form, "/dead", f"{len(done)} dead {what} {noun} {action.past}.")

    @router.get("/blocked")
    def blocked(request: Request, session: CurrentSession) -> HTMLResponse:
        redact = redactor(conveyor)
        rows = []
        after = keyset_id(request.query_params.get("after")) or 0
        found = ops.blocked_keys(BLOCKED_PAGE, after)
        jobs = ops.get_jobs([item.job_id for item in found])  # one read, not one per key
        for item in found:
            job = jobs.get(item.job_id)
            if job is None:  # deleted since the keys were read
                continue
            rows.append({"blocked": item, "job": job, "error": redact(item.last_error)})
        more = len(found) == BLOCKED_PAGE
        return page(
            request,
            "blocked.html",
            session,
            rows=rows,
            first_page=not after,
            later=found[-1].job_id if more else None,
        )

    return router
