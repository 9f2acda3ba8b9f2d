"""`/api/sync/...`: pull-sync runs with their stats, and the records a source holds."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Query

from . import models as m

if TYPE_CHECKING:
    from ...ops import Operations


def syncs_router(ops: Operations) -> APIRouter:
    router = APIRouter(prefix="/sync", tags=["sync"])

    @router.get("/runs", response_model=m.SyncRuns)
    def runs(
        source: str | None = None,
        owner: str | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    ) -> dict[str, Any]:
        return {"runs": [asdict(run) for run in ops.sync.runs(source, owner, limit)]}

    @router.get("/{source}/records", response_model=m.Records)
    def records(
        source: str,
        owner: str | None = None,
        deleted: bool | None = False,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> dict[str, Any]:
        found = ops.sync.records(source, owner=owner, deleted=deleted, limit=limit)
        return {"records": [asdict(record) for record in found]}

    return router
