"""The overview page (depth and oldest wait per queue and state, the last hour's throughput and
failure rate, breakers, workers) and `/events`, the live stream every page listens to.

The stream polls the store (two cheap reads a second: the counts per queue and state, and the
states of the jobs on the page) instead of subscribing to this process's events: a job finished
by a worker in another process, or on another machine, shows up all the same.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sse_starlette.sse import EventSourceResponse
from starlette.concurrency import run_in_threadpool

from ...cli.connections_view import breaker_state, hold_state
from ...finish_tally import Minute
from .common import STATES, UNFINISHED, CurrentSession, page, redactor
from .session import read_session

if TYPE_CHECKING:
    from ...app import Conveyor
    from ...ops import Operations

TICK = 1.0  # seconds between two updates
STREAM_FOR = 300.0  # seconds: then the stream ends and the browser reconnects (a fresh check)
MAX_WATCHED = 200  # job ids one stream follows
CHART_HEIGHT = 120
NO_WORKER_SHOWN = 20  # task and queue pairs no worker serves listed (the largest), then a total


@dataclass(frozen=True)
class Bar:
    x: float
    ok_height: float
    dead_height: float
    minute: Minute


def chart(minutes: Sequence[Minute], width: float = 6.0) -> dict[str, Any]:
    """Bars (succeeded below, dead above) scaled to the busiest minute, and the hour's totals."""
    top = max((m.total for m in minutes), default=0) or 1
    scale = (CHART_HEIGHT - 4) / top
    bars = [
        Bar(i * (width + 2), m.succeeded * scale, m.dead * scale, m) for i, m in enumerate(minutes)
    ]
    done = sum(m.total for m in minutes)
    failed = sum(m.dead for m in minutes)
    ended = sum(m.succeeded + m.dead for m in minutes)
    return {
        "bars": bars,
        "width": len(minutes) * (width + 2),
        "height": CHART_HEIGHT,
        "bar_width": width,
        "top": top,
        "finished": done,
        "failed": failed,
        "failure_rate": (failed / ended) if ended else 0.0,
        "per_minute": done / len(minutes) if minutes else 0.0,
    }


def totals(counts: dict[str, dict[str, int]]) -> dict[str, int]:
    found = dict.fromkeys(STATES, 0)
    for states in counts.values():
        for state, n in states.items():
            found[state] = found.get(state, 0) + n
    return found


def snapshot(ops: Operations, watched: Sequence[int]) -> dict[str, Any]:
    """What one update carries: counts per queue and state, their totals, the watched jobs'
    states."""
    counts = ops.shared.counts()
    states = ops.states(watched) if watched else {}
    return {
        "counts": counts,
        "totals": totals(counts),
        "jobs": {str(job_id): state for job_id, state in states.items()},
    }


def watched_ids(text: str) -> list[int]:
    ids: list[int] = []
    for part in text.split(",")[:MAX_WATCHED]:
        if part.strip().isdigit() and len(part.strip()) < 19:
            ids.append(int(part.strip()))
    return ids


def overview_router(conveyor: Conveyor) -> APIRouter:
    router = APIRouter()
    ops = conveyor.ops

    @router.get("/")
    def overview(request: Request, session: CurrentSession) -> HTMLResponse:
        counts = ops.shared.counts()
        waits = ops.shared.oldest_waits()
        queues = sorted(set(counts) | set(waits))
        redact = redactor(conveyor)
        return page(
            request,
            "overview.html",
            session,
            counts=counts,
            waits=waits,
            queues=queues,
            totals=totals(counts),
            unfinished=UNFINISHED,
            chart=chart(ops.shared.throughput(60)),
            breakers=[breaker_state(b, redact) for b in ops.breakers()],
            holds=[hold_state(h, redact) for h in ops.holds()],
            workers=ops.workers(),
            no_worker=sorted(ops.shared.jobs_without_worker(), key=lambda item: -item.jobs),
            no_worker_shown=NO_WORKER_SHOWN,
        )

    @router.get("/events")
    async def events(
        request: Request, session: CurrentSession, ids: str = ""
    ) -> EventSourceResponse:
        watched = watched_ids(ids)
        cookie = session.cookie

        async def stream() -> AsyncIterator[dict[str, str]]:
            loop = asyncio.get_running_loop()
            ends = loop.time() + STREAM_FOR
            while loop.time() < ends and not await request.is_disconnected():
                still = await run_in_threadpool(read_session, ops, cookie, None)
                if still is None:  # the token was revoked, or the session expired
                    yield {"event": "logout", "data": "{}"}
                    return
                data = await run_in_threadpool(snapshot, ops, watched)
                yield {"event": "update", "data": json.dumps(data, separators=(",", ":"))}
                await asyncio.sleep(TICK)

        return EventSourceResponse(stream(), ping=15)

    return router
