"""SQLite backend: the embedded default. WAL mode, one connection per process.

SQLite serialises writers, so every write is one short `BEGIN IMMEDIATE` transaction and the worker
batches its claims and outcomes. One module per slice where SQLite differs from PostgreSQL:
`jobs.py`, `limits.py`, `inbound.py`; the connection, its transactions and its change counter (the
wake-ups slice) are in `connection.py`; the rest is shared (`store/shared.py`,
`store/records_sql.py`, `store/accounts_sql.py`).
"""

from __future__ import annotations

from ..accounts_sql import SQLAccounts
from ..alerts_sql import SQLAlerts
from ..metrics_sql import SQLMetrics
from ..overview_sql import SQLOverview
from ..records_sql import SQLRecords
from ..schedules_sql import SQLSchedules
from ..tokens_sql import SQLTokens
from .connection import sqlite_path
from .inbound import SQLiteInbound
from .jobs import SQLiteJobs
from .limits import SQLiteLimits


class SQLiteStore(
    SQLiteInbound,
    SQLiteJobs,
    SQLiteLimits,
    SQLRecords,
    SQLAccounts,
    SQLTokens,
    SQLSchedules,
    SQLAlerts,
    SQLMetrics,
    SQLOverview,
):
    """Every slice, on one SQLite file."""


__all__ = ["SQLiteStore", "sqlite_path"]
