"""Writing a worker's outcomes: collected for a few milliseconds, then one transaction.

A job that finished but was not written yet simply runs again after a crash (at-least-once); a
write that fails keeps its outcomes for the next one (every write is fenced by its lease token,
so writing one twice is harmless).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from .errors import StoreError
from .event_bus import EventSink
from .events import FlushFailed
from .job import Outcome
from .outage import StoreLink
from .store import Store


class OutcomeWriter:
    """The outcomes not written yet, and the loop (`run`) that writes them in batches."""

    def __init__(
        self,
        store: Store,
        link: StoreLink,
        events: EventSink,
        worker_id: str,
        *,
        batch: int,
        interval: float,
        written: Callable[[], None],
    ) -> None:
        self.store = store
        self.link = link
        self.events = events
        self.worker_id = worker_id
        self.batch = batch  # this many pending are written at once, without waiting `interval`
        self.interval = interval
        self.written = written  # a write that may have made jobs due (a key's next, children)
        self.pending: list[Outcome] = []
        # Bound to the worker's loop on first use.
        self._needed = asyncio.Event()
        self._lock = asyncio.Lock()

    def add(self, outcome: Outcome) -> None:
        self.pending.append(outcome)
        self._needed.set()

    def leases(self) -> list[tuple[int, int]]:
        """The leases (job id, token) of the outcomes not written yet: still to renew."""
        return [(o.job_id, o.token) for o in self.pending]

    async def run(self) -> None:
        while True:
            await self._needed.wait()
            if len(self.pending) < self.batch:
                await asyncio.sleep(self.interval)
            await self.flush()

    async def flush(self) -> None:
        """Write the pending outcomes. Holding the lock, a caller also waits for a write already
        in flight on the writes thread: after `await flush()` every outcome is stored."""
        async with self._lock:
            self._needed.clear()
            if not self.pending:
                return
            batch, self.pending = self.pending, []
            try:
                await self.link.tracked(self.store.complete, batch, write=True)
            except asyncio.CancelledError:
                # Cancelled at shutdown, maybe before the database thread even started the
                # write (a queued executor call is dropped). Keep the batch for the final flush:
                # writing it twice is harmless, every write is fenced by its lease token.
                self.pending[:0] = batch
                raise
            except Exception as error:  # the database hiccuped: keep the outcomes, try again
                self.pending[:0] = batch
                if not isinstance(error, StoreError):  # a store error is logged as an outage
                    self.events.publish(FlushFailed(self.worker_id, str(error), len(batch)))
                await asyncio.sleep(0.5)
                self._needed.set()
                return
        if any(o.key or o.extra for o in batch):
            self.written()
