"""PostgreSQL backend: many worker processes on many machines share one database.

Claims use `FOR UPDATE SKIP LOCKED`; idle workers `LISTEN` and are woken by a `NOTIFY` sent on
insert (a statement trigger) and on promotion; ordering keys and breakers are serialised by advisory
locks (`connection.py` names them). One module per slice where PostgreSQL differs from SQLite:
`jobs.py`, `limits.py`, `wakeups.py`, `inbound.py`; the pool and its transactions are
`connection.py`; the rest is shared (`store/shared.py`, `store/records_sql.py`,
`store/accounts_sql.py`).
"""

from __future__ import annotations

from ..accounts_sql import SQLAccounts
from ..alerts_sql import SQLAlerts
from ..metrics_sql import SQLMetrics
from ..overview_sql import SQLOverview
from ..records_sql import SQLRecords
from ..schedules_sql import SQLSchedules
from ..tokens_sql import SQLTokens
from .inbound import PostgresInbound
from .jobs import PostgresJobs
from .limits import PostgresLimits
from .wakeups import PostgresWakeUps


class PostgresStore(
    PostgresInbound,
    PostgresJobs,
    PostgresLimits,
    PostgresWakeUps,
    SQLRecords,
    SQLAccounts,
    SQLTokens,
    SQLSchedules,
    SQLAlerts,
    SQLMetrics,
    SQLOverview,
):
    """Every slice, on one PostgreSQL database."""


__all__ = ["PostgresStore"]
