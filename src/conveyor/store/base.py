"""`Store`: every slice of the storage interface, composed; what each backend implements.

The store is synchronous: SQLite's driver is, and `app.enqueue` is mostly called from synchronous
web code. The worker calls it from dedicated threads, in batches, so the event loop never blocks
on the database.
"""

from __future__ import annotations

import traceback
from abc import abstractmethod
from typing import Any

from .accounts import AccountStore
from .alerts import AlertStore
from .batches import BatchStore
from .inbound import InboundStore
from .jobs import JobStore
from .limits import LimitStore
from .metrics import MetricsStore
from .overview import OverviewStore
from .records import RecordStore
from .schedules import ScheduleStore
from .schema import SchemaStore
from .tokens import TokenStore
from .wakeups import WakeUps
from .workers import WorkerStore


class Store(
    JobStore,
    LimitStore,
    WorkerStore,
    RecordStore,
    AccountStore,
    InboundStore,
    SchemaStore,
    WakeUps,
    TokenStore,
    ScheduleStore,
    AlertStore,
    BatchStore,
    MetricsStore,
    OverviewStore,
):
    """Durable job storage: callers reach every slice's methods as `app.store.<method>`."""

    url: str
    dialect: str

    @abstractmethod
    def close(self) -> None: ...


def error_record(error: BaseException, attempt: int, at: float) -> dict[str, Any]:
    """What is kept of a failed attempt."""
    record: dict[str, Any] = {
        "attempt": attempt,
        "at": at,
        "type": type(error).__name__,
        "message": str(error) or type(error).__name__,
        "traceback": "".join(traceback.format_exception(error))[-8000:],
    }
    details = getattr(error, "details", None)  # a DeliveryError's status, latency, excerpt
    if isinstance(details, dict):
        record.update({k: v for k, v in details.items() if k not in record})
    return record


def with_schema_hint(message: str) -> str:
    """A driver's "no such table" about our tables means the database was never migrated:
    say how to fix it (the schema is never created implicitly)."""
    missing = "no such table: conveyor_" in message or (
        'relation "conveyor_' in message and "does not exist" in message
    )
    if missing:
        return f"{message} (no Conveyor schema here: run app.migrate() or `conveyor migrate`)"
    return message
