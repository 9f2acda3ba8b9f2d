"""Group commit for the intake: requests that arrive while a batch is being stored wait for the
next batch, which stores all of them in one transaction (`WebhookRegistry.receive_many`).

With nothing in flight a request is stored at once (no added wait, one request per batch); under
load each commit carries as many requests as arrived during the previous one, so the commits
per second (PostgreSQL's WAL flush, SQLite's write lock) stop being the limit. Each request
still gets its own answer, and each event is stored with its own jobs or not at all.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import anyio.to_thread

from ..errors import ConveyorError
from ..inbound import Receipt, WebhookRegistry

MAX_BATCH = 200  # requests per transaction


class IntakeBatcher:
    def __init__(self, webhooks: WebhookRegistry, max_batch: int = MAX_BATCH) -> None:
        self.webhooks = webhooks
        self.max_batch = max_batch
        self._pending: list[tuple[tuple[str, Mapping[str, str], bytes], asyncio.Future[Receipt]]]
        self._pending = []
        self._draining: asyncio.Task[None] | None = None

    async def receive(self, name: str, headers: Mapping[str, str], body: bytes) -> Receipt:
        """The request's receipt, or what `WebhookRegistry.receive` would raise."""
        answer: asyncio.Future[Receipt] = asyncio.get_running_loop().create_future()
        self._pending.append(((name, headers, body), answer))
        if self._draining is None:
            self._draining = asyncio.create_task(self._drain(), name="conveyor-intake")
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
            self._draining = None


def _as_error(error: Exception) -> ConveyorError:
    return error if isinstance(error, ConveyorError) else ConveyorError(str(error))
