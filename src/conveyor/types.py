"""The shapes the parts of Conveyor depend on, named once (as starlette names its own).

A feature takes one of these, never the `Conveyor` object: it states what it uses (a connection
lookup, the limits slice of the store, a place to publish events, a host that enqueues), the app
passes itself or one of its registries, and no feature module imports `app.py`. They name only
plain value types, so that any module may import this one without closing a circle of imports.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, TypedDict, Unpack

from .breaker import BreakerRecord
from .events import EventSink as EventSink  # where parts report what happened
from .job import NewJob
from .politeness import Hold
from .ratelimit import RateLimit

if TYPE_CHECKING:
    from .connections.connection import Connection
    from .connections.http import HttpClient, HttpResponse
    from .inbound.records import NewEvent
    from .options import Delay

# `change(current, now)`: the record to store, or None to leave it as it is.
BreakerChange = Callable[[BreakerRecord | None, float], BreakerRecord | None]
HoldChange = Callable[[Hold | None, float], Hold | None]


class ConnectionLookup(Protocol):
    """The declared connections, by name (raises UnknownConnection)."""

    def get_connection(self, name: str) -> Connection: ...


class OwnerCredentials(Protocol):
    """Per-owner credentials (`app.accounts`): the headers of a call made on behalf of `owner`.
    `stale` is the bearer token the remote just refused: refresh it, unless that was done."""

    async def owner_headers(
        self, connection: Connection, owner: str, *, stale: str | None = None
    ) -> dict[str, str]: ...


class RemoteCaller(Protocol):
    """The connection client of the running loop, as the accounts use it: calls on behalf of
    an owner, and the pooled HTTP client (token endpoints)."""

    http: HttpClient

    async def request(
        self, connection: str, method: str, path: str, *, owner: str | None = None
    ) -> HttpResponse: ...


class LimitStore(Protocol):
    """The store slice of rate limits, circuit breakers and connection holds, shared by every
    worker."""

    def clock(self) -> float: ...

    def take_token(self, name: str, limit: RateLimit) -> float: ...

    def breaker(self, name: str) -> BreakerRecord | None: ...

    def change_breaker(
        self, name: str, change: BreakerChange
    ) -> tuple[BreakerRecord | None, BreakerRecord | None]: ...

    def breakers(self) -> list[BreakerRecord]: ...

    def held(self, name: str) -> tuple[Hold, float | None] | None: ...

    def change_hold(
        self, name: str, change: HoldChange, bucket: tuple[str, RateLimit] | None = None
    ) -> tuple[Hold | None, Hold | None]: ...

    def clear_spent_hold(self, name: str) -> None: ...


class JobWriter(Protocol):
    """The store slice that stores new jobs (in the caller's transaction with `connection`)."""

    def enqueue(self, jobs: Sequence[NewJob], connection: Any = None) -> list[int]: ...


class PayloadSpec(Protocol):
    """A task as seen from outside the worker: its name, and how it validates a payload."""

    name: str

    def serialize(self, payload: Any) -> tuple[str, Any]: ...


class JobOptions(TypedDict, total=False):
    """The options of one job, on every way in (`enqueue`, `build_job`, `deliver`...)."""

    key: str | None
    idempotency_key: str | None
    queue: str | None
    delay: Delay | None
    run_at: datetime | None
    priority: int | None


class JobBuilder(Protocol):
    """Validates and serialises a job of a task by name, without storing it (the task registry)."""

    def build_job(
        self, task: str, payload: Any = None, **options: Unpack[JobOptions]
    ) -> NewJob: ...


class Enqueuer(Protocol):
    """Stores jobs of a task by name: the app, or its task registry."""

    def enqueue(
        self,
        task: str,
        payload: Any = None,
        *,
        db: Any = None,
        **options: Unpack[JobOptions],
    ) -> int: ...

    def enqueue_many(
        self,
        task: str,
        payloads: Sequence[Any],
        *,
        idempotency_keys: Sequence[str | None] | None = None,
        db: Any = None,
        **options: Any,
    ) -> list[int]: ...


class TaskHost(Enqueuer, Protocol):
    """Looks tasks up by name (raises TaskNotFound) and enqueues their jobs."""

    def get_task(self, name: str) -> PayloadSpec: ...


class TaskCatalog(JobBuilder, Protocol):
    """Looks tasks up by name (raises TaskNotFound) and builds their jobs without storing them."""

    def get_task(self, name: str) -> PayloadSpec: ...


class InboundWriter(Protocol):
    """The store slice that stores received webhook events with their jobs, in one transaction:
    per event (stored now, its job ids), a known event id storing nothing."""

    def receive_events(
        self, batch: Sequence[tuple[NewEvent, Sequence[NewJob]]]
    ) -> list[tuple[bool, list[int]]]: ...
