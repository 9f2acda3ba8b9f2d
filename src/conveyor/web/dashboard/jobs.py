"""Jobs: the filtered listing (state, task, queue, key, connection, error text, batch; keyset
pages), one job with its attempts, and the actions on one job or many (retry, with an edited
payload for one; cancel; delete)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import FormData

from ...errors import ConfigurationError, PayloadError, TaskNotFound
from ...job import Job
from ...ops import CANCEL, DELETE, RETRY, Action
from .common import STATES, CheckedForm, CurrentSession, back, clean, keyset_id, page, redactor

if TYPE_CHECKING:
    from ...app import Conveyor
    from ...cli.connections_view import Redactor
    from ...ops import Operations

PAGE_SIZE = 50
FILTERS = ("state", "task", "queue", "key", "connection", "error", "batch_id")
ACTIONS = {"retry": RETRY, "cancel": CANCEL, "delete": DELETE}


def chosen_filters(values: Any) -> dict[str, Any]:
    """The filters given (blank fields left out), each cut to a sane length; a batch id as a
    number (anything else is refused by the filter's check, naming it)."""
    found: dict[str, Any] = {}
    for name in FILTERS:
        value = clean(values.get(name))
        if value is not None:
            number = name == "batch_id" and value.isdigit() and len(value) < 19
            found[name] = int(value) if number else value
    return found


def attempts(job: Job, redact: Redactor) -> list[dict[str, Any]]:
    """Each attempt's record as shown: texts scrubbed of the connections' secrets."""
    shown = []
    for record in job.errors:
        item = dict(record)
        for field in ("message", "traceback", "response", "url"):
            if isinstance(item.get(field), str):
                item[field] = redact(item[field])
        shown.append(item)
    return shown


def act(ops: Operations, action: Action, ids: list[int], filters: dict[str, Any] | None) -> str:
    """Run an action on ids (or on every job a filter matches); a note saying what happened."""
    run = {"retry": ops.retry, "cancel": ops.cancel, "delete": ops.delete}[action.name]
    if filters is not None:
        done = run(filter=ops.job_filter(**filters))
    elif not ids:
        return "No job selected."
    else:
        done = run(ids)
    if len(ids) == 1 and not done:
        return ops.why_not(action, ids[0])
    noun = "job" if len(done) == 1 else "jobs"
    return f"{len(done)} {noun} {action.past}."


def retry_note(ops: Operations, job_id: int, form: FormData) -> str:
    """Retry one job, with the form's payload when it was edited; what happened."""
    text = form.get("payload")
    payload = None
    if isinstance(text, str) and text.strip() and form.get("edit"):
        try:
            payload = json.loads(text)
        except ValueError as error:
            return f"The payload is not JSON: {error}; nothing retried."
    try:
        done = ops.retry([job_id], payload=payload)
    except (ConfigurationError, PayloadError, TaskNotFound) as error:  # its task refused it
        return f"{error}; nothing retried."
    return f"Job {job_id} retried." if done else ops.why_not(RETRY, job_id)


def form_ids(form: FormData) -> list[int]:
    ids = []
    for value in form.getlist("ids"):
        if isinstance(value, str) and value.isdigit() and len(value) < 19:
            ids.append(int(value))
    return ids


def jobs_router(conveyor: Conveyor) -> APIRouter:
    router = APIRouter()
    ops = conveyor.ops

    @router.get("/jobs")
    def jobs(request: Request, session: CurrentSession) -> HTMLResponse:
        filters = chosen_filters(request.query_params)
        before_id = keyset_id(request.query_params.get("before"))
        found = ops.list_jobs(ops.job_filter(**filters, before_id=before_id, limit=PAGE_SIZE))
        older = found[-1].id if len(found) == PAGE_SIZE else None
        return page(
            request,
            "jobs.html",
            session,
            jobs=found,
            filters=filters,
            states=STATES,
            older=older,
            first_page=before_id is None,
        )

    @router.get("/jobs/{job_id}")
    def job(request: Request, job_id: int, session: CurrentSession) -> HTMLResponse:
        found = ops.get_job(job_id)
        redact = redactor(conveyor)
        return page(
            request,
            "job.html",
            session,
            job=found,
            attempts=attempts(found, redact),
            last_error=redact(found.last_error),
            waits_for=ops.no_worker_reason(found),
        )

    @router.post("/jobs/{job_id}/retry")
    def retry_one(request: Request, job_id: int, posted: CheckedForm) -> Response:
        form: FormData = posted.form
        return back(request, form, f"/jobs/{job_id}", retry_note(ops, job_id, form))

    @router.post("/jobs/{job_id}/cancel")
    def cancel_one(request: Request, job_id: int, posted: CheckedForm) -> Response:
        note = act(ops, CANCEL, [job_id], None)
        return back(request, posted.form, f"/jobs/{job_id}", note)

    @router.post("/jobs/{job_id}/delete")
    def delete_one(request: Request, job_id: int, posted: CheckedForm) -> Response:
        note = act(ops, DELETE, [job_id], None)
        form = posted.form
        if note.startswith("1 job"):  # its own page is gone
            return back(request, FormData(), "/jobs", f"Job {job_id} deleted.")
        return back(request, form, f"/jobs/{job_id}", note)

    @router.post("/jobs/bulk")
    def bulk(request: Request, posted: CheckedForm) -> Response:
        """The selected jobs, or (`retry-matching`, `cancel-matching`) every job the listing's
        filter matches."""
        form: FormData = posted.form
        name, _, scope = str(form.get("action", "")).partition("-")
        action = ACTIONS.get(name)
        if action is None or scope not in ("", "matching"):
            return back(request, form, "/jobs", "Unknown action.")
        filters = chosen_filters(form) if scope == "matching" else None
        if filters is not None and not filters:
            return back(request, form, "/jobs", "Choose a filter first: nothing done.")
        return back(request, form, "/jobs", act(ops, action, form_ids(form), filters))

    return router
