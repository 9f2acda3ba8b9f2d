"""`/healthz` (the process answers), `/readyz` (the store answers, workers heartbeat, breakers
closed) and `/metrics` (Prometheus text, `conveyor.metrics`), open like the webhooks: a load
balancer or an orchestrator probes them without a token. `/metrics` asks for
`Authorization: Bearer <token>` when `app.metrics.token` (CONVEYOR_METRICS_TOKEN) is set.

`/readyz` answers 200 `healthy` or `degraded` (with the reasons: no live worker, an open breaker),
503 `unhealthy` when the store cannot be reached.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from ..errors import StoreError

if TYPE_CHECKING:
    from ..metrics import Metrics
    from ..ops import Operations


def readiness(ops: Operations) -> tuple[str, list[dict[str, str]]]:
    checks: list[dict[str, str]] = []
    try:
        workers = ops.workers()
        breakers = ops.breakers()
    except StoreError as error:
        return "unhealthy", [{"name": "store", "status": "fail", "reason": str(error)}]
    checks.append({"name": "store", "status": "ok", "reason": "reachable"})
    if workers:
        checks.append({"name": "workers", "status": "ok", "reason": f"{len(workers)} live"})
    else:
        checks.append({"name": "workers", "status": "warn", "reason": "no worker heartbeating"})
    opened = [b.name for b in breakers if b.state != "closed"]
    if opened:
        reason = "breaker not closed: " + ", ".join(sorted(opened))
        checks.append({"name": "breakers", "status": "warn", "reason": reason})
    else:
        checks.append({"name": "breakers", "status": "ok", "reason": "all closed"})
    status = "degraded" if any(c["status"] == "warn" for c in checks) else "healthy"
    return status, checks


def health_router(ops: Operations, metrics: Metrics) -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz")
    def readyz() -> Any:
        status, checks = readiness(ops)
        body = {"status": status, "checks": checks}
        return JSONResponse(body, 503 if status == "unhealthy" else 200)

    @router.get("/metrics")
    def scrape(request: Request) -> Response:
        from ..metrics import CONTENT_TYPE

        if not metrics.allows(request.headers.get("authorization")):
            error = {"error": "missing or wrong metrics token (Authorization: Bearer <token>)"}
            return JSONResponse(error, 401, headers={"WWW-Authenticate": "Bearer"})
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    return router
