"""`/api/jobs`: enqueue, list, show, retry, cancel and delete jobs: one, many, or by filter."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from ...ops import CANCEL, DELETE, RETRY, Action
from . import models as m

if TYPE_CHECKING:
    from ...ops import Operations


class NewJobBody(BaseModel):
    task: str
    payload: Any = None
    queue: str | None = None
    key: str | None = None
    priority: int | None = None
    idempotency_key: str | None = None
    delay: float | None = Field(default=None, ge=0)


class Selection(BaseModel):
    """Jobs to act on: their ids, or a filter (state, task, queue, key, connection, error,
    batch_id, since: an ISO-8601 time)."""

    ids: list[int] | None = None
    filter: dict[str, Any] | None = None


class RetryBody(BaseModel):
    payload: Any = None


def jobs_router(ops: Operations) -> APIRouter:
    router = APIRouter(prefix="/jobs", tags=["jobs"])

    @router.post("", status_code=201, response_model=m.Created)
    def enqueue(body: NewJobBody) -> dict[str, Any]:
        options = body.model_dump(exclude={"task", "payload"}, exclude_none=True)
        job_id = ops.enqueue(body.task, body.payload, **options)
        return {"id": job_id}

    @router.get("", response_model=m.JobPage)
    def list_jobs(
        state: str | None = None,
        task: str | None = None,
        queue: str | None = None,
        key: str | None = None,
        connection: Annotated[
            str | None, Query(description="the connection a delivery, call or bound task is for")
        ] = None,
        error: Annotated[
            str | None, Query(description="text in the last error, any case (not a pattern)")
        ] = None,
        since: Annotated[datetime | None, Query(description="finished (or created) since")] = None,
        batch_id: Annotated[
            int | None, Query(ge=1, description="a batch's members (and their children)")
        ] = None,
        before: Annotated[int | None, Query(ge=1, description="the previous `next`")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    ) -> Any:
        """Newest first, a page at a time: pass the answer's `next` as `before` (keyset
        pagination: each job is listed once however many are added meanwhile)."""
        jobs = ops.list_jobs(
            state=state,
            task=task,
            queue=queue,
            key=key,
            connection=connection,
            error=error,
            since=None if since is None else _epoch(since),
            batch_id=batch_id,
            before_id=before,
            limit=limit,
        )
        more = len(jobs) == limit
        page = {"jobs": [job.to_dict() for job in jobs], "next": jobs[-1].id if more else None}
        return m.trusted_json(page)

    @router.get("/{job_id}", response_model=m.JobOut)
    def show(job_id: int) -> Any:
        return m.trusted_json(ops.get_job(job_id).to_dict())

    @router.post("/{job_id}/retry", response_model=m.Retried)
    def retry_one(job_id: int, body: RetryBody | None = None) -> dict[str, Any]:
        payload = None if body is None else body.payload
        return _acted(ops, RETRY, ops.retry([job_id], payload=payload), job_id)

    @router.post("/{job_id}/cancel", response_model=m.Cancelled)
    def cancel_one(job_id: int) -> dict[str, Any]:
        return _acted(ops, CANCEL, ops.cancel([job_id]), job_id)

    @router.delete("/{job_id}", response_model=m.Deleted)
    def delete_one(job_id: int) -> dict[str, Any]:
        return _acted(ops, DELETE, ops.delete([job_id]), job_id)

    @router.post("/retry", response_model=m.Retried)
    def retry_many(selection: Selection) -> dict[str, Any]:
        ids, chosen = _select(ops, selection)
        return {"retried": ops.retry(ids, filter=chosen)}

    @router.post("/cancel", response_model=m.Cancelled)
    def cancel_many(selection: Selection) -> dict[str, Any]:
        ids, chosen = _select(ops, selection)
        return {"cancelled": ops.cancel(ids, filter=chosen)}

    @router.post("/delete", response_model=m.Deleted)
    def delete_many(selection: Selection) -> dict[str, Any]:
        ids, chosen = _select(ops, selection)
        return {"deleted": ops.delete(ids, filter=chosen)}

    return router


def _select(ops: Operations, selection: Selection) -> tuple[Any, Any]:
    if (selection.ids is None) == (selection.filter is None):
        raise HTTPException(422, "give either 'ids' or 'filter'")
    fields = dict(selection.filter or {})
    if isinstance(fields.get("since"), str):  # "everything dead for X since 10:00"
        try:
            fields["since"] = _epoch(datetime.fromisoformat(fields["since"]))
        except ValueError:
            problem = f"filter.since: not an ISO-8601 time: {fields['since']!r}"
            raise HTTPException(422, problem) from None
    chosen = None if selection.filter is None else ops.job_filter(**fields)
    return selection.ids, chosen


def _epoch(value: datetime) -> float:
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


def _acted(ops: Operations, action: Action, done: list[int], job_id: int) -> dict[str, Any]:
    if not done:
        ops.get_job(job_id)  # an unknown job: JobNotFound, answered 404
        raise HTTPException(409, ops.why_not(action, job_id))
    return {action.past: done}
