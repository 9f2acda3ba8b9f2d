"""The no-op tasks Conveyor runs in the benchmark (`conveyor --app bench.conveyor_app:app`)."""

from __future__ import annotations

from bench.peers.common import report_start
from conveyor import Conveyor

app = Conveyor()  # the URL comes from CONVEYOR_DATABASE_URL


@app.task
async def noop(payload: dict[str, str]) -> None:
    tag = payload.get("tag")
    if tag:
        report_start(tag)
