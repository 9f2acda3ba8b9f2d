"""The worker's progress writer: once a second, what its running jobs reported since the last
write, in one statement (a job's last report also goes with its outcome)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Protocol

from ..outage import StoreLink
from ..store import Store

PROGRESS_INTERVAL = 1.0


class ProgressHost(Protocol):
    store: Store
    link: StoreLink

    def progress_rows(self) -> list[tuple[int, int, int, int | None]]: ...


async def flush_progress(host: ProgressHost, interval: float = PROGRESS_INTERVAL) -> None:
    while True:
        await asyncio.sleep(interval)
        rows = host.progress_rows()
        if rows:
            with contextlib.suppress(Exception):  # a report lost to an outage: the next one
                await host.link.call(host.store.record_progress, rows, write=True)
