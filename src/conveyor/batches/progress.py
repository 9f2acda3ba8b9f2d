"""The worker's progress writer: once a second, what its running jobs reported since the last
write, in one statement (a job's last report also goes with its outcome)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import Any, Protocol

from ..job import ClaimedJob
from ..outage import StoreLink
from ..store import Store
from ..store.batches import ProgressRow
from .fanout import AttemptExtras

PROGRESS_INTERVAL = 1.0


class ProgressHost(Protocol):
    store: Store
    link: StoreLink

    def progress_rows(self) -> list[ProgressRow]: ...


def unwritten_progress(
    extras: AttemptExtras, running: Mapping[int, tuple[ClaimedJob, Any]]
) -> list[ProgressRow]:
    """What running jobs reported since it was last written (with each one's lease token),
    marked written."""
    rows = []
    for job_id, fanout in list(extras.live.items()):
        report = fanout.unwritten()
        entry = running.get(job_id)
        if report is not None and entry is not None:
            fanout.written = report
            rows.append((job_id, entry[0].token, *report))
    return rows


async def flush_progress(host: ProgressHost, interval: float = PROGRESS_INTERVAL) -> None:
    while True:
        await asyncio.sleep(interval)
        rows = host.progress_rows()
        if rows:
            with contextlib.suppress(Exception):  # a report lost to an outage: the next one
                await host.link.call(host.store.record_progress, rows, write=True)
