"""The limits slice: rate-limit buckets and circuit breakers, shared by every worker.

Its SQL is `sql/<dialect>/limits.sql`; its contract tests `tests/store/test_limits.py`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

from ..breaker import BreakerRecord
from ..ratelimit import RateLimit

BreakerChange = Callable[[BreakerRecord | None, float], BreakerRecord | None]
BREAKER_FIELDS = (
    "name",
    "state",
    "failures",
    "cool_off",
    "open_until",
    "probe_until",
    "updated_at",
    "last_error",
)


def breaker_record(row: Any) -> BreakerRecord:
    return BreakerRecord(**{field: row[field] for field in BREAKER_FIELDS})


class LimitStore(ABC):
    """Shared state of the connections' rate limits and breakers, by the store's clock."""

    @abstractmethod
    def clock(self) -> float:
        """Now, in epoch seconds, by the store's clock (the database's, on PostgreSQL)."""

    @abstractmethod
    def take_token(self, name: str, limit: RateLimit) -> float:
        """Take one token from the bucket `name`: 0.0 when taken, else seconds until one is due."""

    @abstractmethod
    def breaker(self, name: str) -> BreakerRecord | None: ...

    @abstractmethod
    def change_breaker(
        self, name: str, change: BreakerChange
    ) -> tuple[BreakerRecord | None, BreakerRecord | None]:
        """Apply `change(current, now)` under a lock and store its result unless it is None.

        Returns (the record before, the record written or None when nothing changed).
        """

    @abstractmethod
    def breakers(self) -> list[BreakerRecord]:
        """Every breaker, by name."""
