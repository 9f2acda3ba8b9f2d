"""The worker's store traffic: two database threads, and riding out outages.

Claims and reads get one thread and outcome writes another, so a claim never waits for a write
(on PostgreSQL each thread holds its own pooled connection) and the event loop never blocks on
the database. While the store is unreachable (a restart, a SQLite lock past the busy timeout, a
disk error) the claim loop's calls are repeated with capped backoff, and the outage is published
once each way (`StoreOutageStarted`, `StoreOutageEnded`), however many calls fail meanwhile.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from .errors import StoreError
from .events import EventSink, StoreOutageEnded, StoreOutageStarted

T = TypeVar("T")
# Backoff between store calls while the store is unreachable, doubling up to the cap: the cap
# (plus the store's own short wait for a connection) bounds how long after the database answers
# again the worker claims again.
STORE_RETRY_FIRST = 0.05
STORE_RETRY_MAX = 1.0


class StoreLink:
    """Runs store calls off the event loop and keeps the outage state of one worker."""

    def __init__(self, events: EventSink, worker_id: str) -> None:
        self.events = events
        self.worker_id = worker_id
        self.reads = ThreadPoolExecutor(1, thread_name_prefix="conveyor-db")
        self.writes = ThreadPoolExecutor(1, thread_name_prefix="conveyor-db-writes")
        # The outage being waited out: when it was noticed (None: the store answers), and when
        # the last one ended. Calls that began before a change of state do not count.
        self.down_since: float | None = None
        self.back_since = float("-inf")

    async def call(self, fn: Callable[..., T], *args: Any, write: bool = False) -> T:
        """`fn(*args)` on a database thread (the writes thread for outcome writes)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.writes if write else self.reads, fn, *args)

    async def tracked(self, fn: Callable[..., T], *args: Any, write: bool = False) -> T:
        """`call` for the worker's own store traffic, telling the outage log how it went."""
        began = time.monotonic()
        try:
            result = await self.call(fn, *args, write=write)
        except StoreError as error:
            if self.down_since is None and began >= self.back_since:
                self.down_since = time.monotonic()
                self.events.publish(StoreOutageStarted(self.worker_id, str(error)))
            raise
        if self.down_since is not None and began >= self.down_since:
            now = time.monotonic()
            outage, self.down_since, self.back_since = now - self.down_since, None, now
            self.events.publish(StoreOutageEnded(self.worker_id, round(outage, 3)))
        return result

    async def until_answered(
        self, stopping: Callable[[], bool], fn: Callable[..., T], *args: Any
    ) -> T | None:
        """A store call of the claim loop, repeated with capped backoff until the store answers.
        None when `stopping()` turns true meanwhile."""
        delay = STORE_RETRY_FIRST
        while True:
            try:
                return await self.tracked(fn, *args)
            except StoreError:
                await asyncio.sleep(delay)
                delay = min(delay * 2, STORE_RETRY_MAX)
                if stopping():
                    return None

    def settled(self, seconds: float) -> bool:
        """True when the store answers and has for at least `seconds`."""
        return self.down_since is None and time.monotonic() - self.back_since >= seconds

    def close(self) -> None:
        self.reads.shutdown(wait=True)
        self.writes.shutdown(wait=True)
