"""The tasks Conveyor runs in the benchmarks (`conveyor --app bench.conveyor_app:app`).

`noop` is the core benchmark's async no-op; `append_def` and `append_async` are the task-kinds
benchmark's plain `def` and `async def` tasks, with the same small body every peer runs
(`bench.peers.common.append_line`: one short line appended to a file).
"""

from __future__ import annotations

from bench.peers.common import append_line, report_start
from conveyor import Conveyor

app = Conveyor()  # the URL comes from CONVEYOR_DATABASE_URL


@app.task
async def noop(payload: dict[str, str]) -> None:
    tag = payload.get("tag")
    if tag:
        report_start(tag)


@app.task
def append_def(payload: dict[str, str]) -> None:
    append_line()


@app.task
async def append_async(payload: dict[str, str]) -> None:
    append_line()
