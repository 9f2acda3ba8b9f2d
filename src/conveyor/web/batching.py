"""Group commit for the intake: requests that arrive while a batch is being stored wait for the
next batch, which stores all of them in one transaction (`WebhookRegistry.receive_many`).

With a batch slot free a request is stored at once (no added wait, no timer); while `IN_FLIGHT`
batches are being stored, arriving requests queue and the next free slot takes all of them, so
the commits per second (PostgreSQL's WAL flush, SQLite's write lock) stop being the limit.
Each request still gets its own answer, and each event is stored with its own jobs or not at
all.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import anyio.to_thread

from ..errors import ConveyorError
from ..inbound import Receipt, WebhookRegistry

MAX_BATCH = 200  # requests per transaction
# Batches stored at once. Measured with bench/webhooks.py (50 clients, PostgreSQL): 1 in flight
# 577-593 requests/s, p99 30-36 ms; 3 in flight 1,169-1,212, p99 14-16 ms (4 no better, and the
# pool has 4 connections for the worker too). On SQLite the write lock serialises the writes, but
# a batch is verified and built while another is written.
IN_FLIGHT = 3


class IntakeBatcher:
    def __init__(
        self, webhooks: WebhookRegistry, max_batch: int = MAX_BATCH, in_flight: int = IN_FLIGHT
    ) -> None:
        self.webhooks = webhooks
        self.max_batch = max_batch
        self.in_flight = in_flight
        self._pending: list[tuple[tuple[str, Mapping[str, str], bytes], asyncio.Future[Receipt]]]
        self._pending = []
        self._drains = 0
        self._tasks: set[asyncio.Task[None]] = set()  # referenced until done

    async def receive(self, name: str, headers: Mapping[str, str], body: bytes) -> Receipt:
        """The request's receipt, or what `WebhookRegistry.receive` would raise."""
        answer: asyncio.Future[Receipt] = asyncio.get_running_loop().create_future()
        self._pending.append(((name, headers, body), answer))
        if self._drains < self.in_flight:
            self._drains += 1  # counted now, uncounted by the drain itself: no gap between
            drain = asyncio.create_task(self._drain(), name="conveyor-intake")
            self._tasks.add(drain)
            drain.add_done_callback(self._tasks.discard)
        return await answer

    async def _drain(self) -> None:
        try:
            while self._pending:
                batch = self._pending[: self.max_batch]
                del self._pending[: self.max_batch]
                requests = [request for request, _ in batch]
                try:
                    results = await anyio.to_thread.run_sync(self.webhooks.receive_many, requests)
                except Exception as error:  # not a per-request answer: every request gets it
                    results = [_as_error(error)] * len(batch)
                for (_, answer), result in zip(batch, results, strict=True):
                    if answer.done():  # the client went away: the event is stored all the same
                        continue
                    if isinstance(result, Exception):
                        answer.set_exception(result)
                    else:
                        answer.set_result(result)
        finally:
            self._drains -= 1  # no await since the loop saw nothing pending: none is left behind


def _as_error(error: Exception) -> ConveyorError:
    return error if isinstance(error, ConveyorError) else ConveyorError(str(error))
