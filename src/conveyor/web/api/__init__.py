"""The operator HTTP API under `/api/`: thin routes over the operator service (`ops.py`), one
module per resource, every route behind a bearer token (`conveyor tokens create NAME`).

Routes are plain `def`s: FastAPI runs them in its thread pool, so a store call never blocks the
event loop that also serves webhook intake.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter, Depends

from .auth import bearer_token
from .batches import batches_router
from .jobs import jobs_router
from .operators import operators_router
from .syncs import syncs_router

if TYPE_CHECKING:
    from ...ops import Operations


def api_router(ops: Operations) -> APIRouter:
    router = APIRouter(prefix="/api", dependencies=[Depends(bearer_token(ops))])
    router.include_router(jobs_router(ops))
    router.include_router(operators_router(ops))
    router.include_router(syncs_router(ops))
    router.include_router(batches_router(ops))
    return router


__all__ = ["api_router"]
