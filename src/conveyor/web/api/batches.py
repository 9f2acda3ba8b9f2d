"""`/api/batches`: batches with their progress (done / failed / cancelled / pending of total),
newest first a page at a time, or one by id (404 for an unknown one)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Query

if TYPE_CHECKING:
    from ...ops import Operations


def batches_router(ops: Operations) -> APIRouter:
    router = APIRouter(prefix="/batches", tags=["batches"])

    @router.get("")
    def list_batches(
        state: Literal["running", "succeeded", "failed"] | None = None,
        before: Annotated[int | None, Query(ge=1, description="the previous `next`")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    ) -> dict[str, Any]:
        """Newest first: pass the answer's `next` as `before` for the next page (keyset)."""
        batches = ops.batches.list(limit=limit, before=before, state=state)
        more = len(batches) == limit
        return {
            "batches": [batch.to_dict() for batch in batches],
            "next": batches[-1].id if more else None,
        }

    @router.get("/{batch_id}")
    def show(batch_id: int) -> dict[str, Any]:
        return ops.batches.get(batch_id).to_dict()  # an unknown batch: BatchNotFound, 404

    return router
