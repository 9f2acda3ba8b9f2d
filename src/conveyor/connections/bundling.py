"""Bundling: many deliveries to one connection and path sent as one JSON-array request.

A connection that says it accepts bundles (`bundle=Bundle(max_size=50, max_wait=0.05)`) gets up to
`max_size` payloads in one request, or fewer after `max_wait` seconds. Each payload keeps its own
job: the bundle's response (or failure, or postponement) becomes every member's outcome. The
request's `Idempotency-Key` is derived from the members' keys, so a retried bundle with the same
members carries the same key.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from ..errors import ConfigurationError
from .http import HttpResponse


class Requester(Protocol):
    """What a bundler sends through: `RemoteClient.request`, breaker and rate limit included."""

    async def request(
        self,
        connection: str,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> HttpResponse: ...


@dataclass(frozen=True)
class Bundle:
    max_size: int = 50
    max_wait: float = 0.05

    def __post_init__(self) -> None:
        if self.max_size < 1 or self.max_wait < 0:
            raise ConfigurationError("Bundle needs max_size >= 1 and max_wait >= 0 seconds")


Item = TypeVar("Item")
Answer = TypeVar("Answer")


class Collector(Generic[Item, Answer]):
    """Gathers items on one event loop into groups of up to `max_size`, each sent `max_wait`
    seconds after its first item at the latest; `_send` answers every item's future."""

    def __init__(self, bundle: Bundle) -> None:
        self.bundle = bundle
        self._items: list[tuple[Item, asyncio.Future[Answer]]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._sending: set[asyncio.Task[None]] = set()

    async def collect(self, item: Item) -> Answer:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Answer] = loop.create_future()
        self._items.append((item, future))
        if len(self._items) >= self.bundle.max_size:
            self._flush()
        elif self._timer is None:
            self._timer = loop.call_later(self.bundle.max_wait, self._flush)
        return await future

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        items, self._items = self._items, []
        if items:
            task = asyncio.get_running_loop().create_task(self._send(items))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)

    async def _send(self, items: list[tuple[Item, asyncio.Future[Answer]]]) -> None:
        raise NotImplementedError


class Bundler(Collector[tuple[Any, str], HttpResponse]):
    """Collects the deliveries of one (connection, method, path) on one event loop."""

    def __init__(
        self, client: Requester, connection: str, method: str, path: str, bundle: Bundle
    ) -> None:
        super().__init__(bundle)
        self.client = client
        self.connection = connection
        self.method = method
        self.path = path

    async def submit(self, body: Any, idempotency_key: str) -> HttpResponse:
        return await self.collect((body, idempotency_key))

    async def _send(
        self, items: list[tuple[tuple[Any, str], asyncio.Future[HttpResponse]]]
    ) -> None:
        keys = sorted(key for (_, key), _ in items)
        bundle_key = "bundle-" + hashlib.sha256("\n".join(keys).encode()).hexdigest()[:32]
        try:
            response = await self.client.request(
                self.connection,
                self.method,
                self.path,
                json_body=[body for (body, _), _ in items],
                idempotency_key=bundle_key,
                headers={"Conveyor-Bundle-Size": str(len(items))},
            )
        except Exception as error:
            for _, future in items:
                if not future.done():
                    future.set_exception(error)
            return
        for _, future in items:
            if not future.done():
                future.set_result(response)
