"""`/api/` reads and actions beside the jobs: stats, workers, blocked keys, schedules,
connections (pause, resume, test), sync runs and records."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from . import models as m

if TYPE_CHECKING:
    from ...ops import Operations


class PauseBody(BaseModel):
    reason: str = "paused by an operator"


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def operators_router(ops: Operations) -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/stats", response_model=m.Stats)
    def stats() -> dict[str, Any]:
        return {"queues": ops.shared.counts()}

    @router.get("/workers", response_model=m.Workers)
    def workers() -> dict[str, Any]:
        return {"workers": [w.to_dict() for w in ops.workers()]}

    @router.get("/blocked-keys", response_model=m.BlockedKeys)
    def blocked_keys(
        limit: int = Query(100, ge=1, le=1000),
        after: int = Query(0, ge=0, le=2**63 - 1, description="the previous page's `next`"),
    ) -> dict[str, Any]:
        """Oldest head first, a page at a time (keyset: pass `next` as `after`)."""
        found = ops.blocked_keys(limit, after)
        more = len(found) == limit
        return {
            "blocked_keys": [asdict(b) for b in found],
            "next": found[-1].job_id if more else None,
        }

    @router.get("/schedules", response_model=m.Schedules)
    def schedules() -> dict[str, Any]:
        return {"schedules": [_plain(asdict(v)) for v in ops.schedules.views()]}

    @router.post("/schedules/{name}/run", status_code=201, response_model=m.ScheduleRun)
    def run_schedule(name: str) -> dict[str, Any]:
        """Fire a schedule now, outside its cron: `job_id` is the job of its task (null for a
        built-in maintenance schedule, which ran here)."""
        fired = ops.schedules.run_now(name)
        return {"schedule": fired.schedule, "job_id": fired.job_id, "ran_at": _plain(fired.fire_at)}

    @router.get("/connections", response_model=m.Connections)
    def connections() -> dict[str, Any]:
        return {
            "breakers": [_plain(asdict(b)) for b in ops.breakers()],
            "holds": [_plain(asdict(h)) for h in ops.holds()],
        }

    @router.post("/connections/{name}/pause", response_model=m.Paused)
    def pause(name: str, body: PauseBody | None = None) -> dict[str, Any]:
        hold = ops.pause_connection(name, (body or PauseBody()).reason)
        return {"paused": name, "hold": _plain(asdict(hold))}

    @router.post("/connections/{name}/test", response_model=m.ConnectionTest)
    def test(name: str) -> dict[str, Any]:
        """Send the connection's check request now (breaker and rate limit bypassed): `ok`, the
        HTTP `status` (null if none came back), `latency_ms`, the `identity` it authenticated
        as, and `detail` (why it failed); no secret of the connection ever appears."""
        check = ops.test_connection(name)
        return {
            "name": check.name,
            "ok": check.ok,
            "status": check.status,
            "latency_ms": check.latency_ms,
            "identity": check.identity,
            "detail": check.message,
        }

    @router.post("/connections/{name}/resume", response_model=m.Resumed)
    def resume(name: str) -> dict[str, Any]:
        return {"resumed": name, "jobs_released": ops.resume_connection(name)}

    return router
