"""Storage backends behind one interface; `open_store` picks one from a URL.

The interface is split by area into slices, each a few methods in its own module with its own SQL
file per dialect (`sql/<dialect>/<slice>.sql`) and its own contract tests (`tests/store/`), run on
both backends: `jobs`, `limits` (rate limits and breakers), `workers` (the registry), `schema`
(migrations), `wakeups`, `records` (pull syncs), `accounts` (per-owner credentials) and
`inbound` (received webhook events). `Store` (base.py) composes them, so callers keep
`app.store.<method>`. A coming area (schedules, batches) adds its slice the same way: an
interface module here, one SQL file and one numbered migration per dialect, the dialect code in
`sqlite/` and `postgres/` (or once in `shared.py` when only the driver differs), and a
contract-test module.
"""

from __future__ import annotations

from ..errors import ConfigurationError
from .accounts import AccountStore
from .base import Store
from .inbound import InboundStore
from .jobs import JobStore
from .limits import LimitStore
from .schema import SchemaStore
from .wakeups import WakeUps
from .workers import WorkerStore


def open_store(url: str) -> Store:
    if url.startswith("sqlite:"):
        from .sqlite import SQLiteStore

        return SQLiteStore(url)
    if url.startswith(("postgresql:", "postgres:")):
        from .postgres import PostgresStore

        return PostgresStore(url)
    raise ConfigurationError(
        f"unsupported database URL {url!r}: use sqlite:///path.db or postgresql://..."
    )


__all__ = [
    "AccountStore",
    "InboundStore",
    "JobStore",
    "LimitStore",
    "SchemaStore",
    "Store",
    "WakeUps",
    "WorkerStore",
    "open_store",
]
