"""The limits slice: rate-limit buckets, circuit breakers and connection holds, shared by every
worker.

Its SQL is `sql/<dialect>/limits.sql`; its contract tests `tests/store/test_limits.py`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

from ..breaker import BreakerRecord
from ..politeness import Hold
from ..ratelimit import RateLimit

BreakerChange = Callable[[BreakerRecord | None, float], BreakerRecord | None]
HoldChange = Callable[[Hold | None, float], Hold | None]
Bucket = tuple[str, RateLimit]  # a rate-limited connection's bucket: (name, limit)
HOLD_FIELDS = ("name", "kind", "until", "reason", "strikes", "updated_at")
# A paused rate-limited connection's bucket is moved this far on (until a resume resets it).
PAUSED_BUCKET_SECONDS = 10 * 365 * 24 * 3600.0
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


def hold_record(row: Any) -> Hold:
    return Hold(**{field: row[field] for field in HOLD_FIELDS})


def held_bucket_tat(hold: Hold, now: float, limit: RateLimit) -> float:
    """The bucket's arrival time that refuses every token until the hold ends."""
    end = hold.until if hold.until is not None else now + PAUSED_BUCKET_SECONDS
    return end + (limit.burst - 1) * limit.interval


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

    @abstractmethod
    def held(self, name: str) -> tuple[Hold, float | None] | None:
        """The connection's hold, with the seconds it has left (None: paused; <= 0: a slow-down
        whose quiet has passed, kept for its strikes until a success clears it)."""

    @abstractmethod
    def holds(self) -> list[Hold]:
        """Every hold, by name (a slow-down whose quiet has passed included, until cleared)."""

    @abstractmethod
    def change_hold(
        self, name: str, change: HoldChange, bucket: Bucket | None = None
    ) -> tuple[Hold | None, Hold | None]:
        """Apply `change(current, now)` under a lock and store its result unless it is None; a
        rate-limited connection's `bucket` is moved on so that no token is given until the hold
        ends. Returns (the hold before, the hold written or None)."""

    @abstractmethod
    def release_hold(self, name: str, bucket: str | None = None) -> tuple[Hold | None, int]:
        """Remove the hold (a resume): the bucket gives tokens again and the jobs its pause
        postponed are due at once. Returns (the hold removed, the jobs woken)."""

    @abstractmethod
    def clear_spent_hold(self, name: str) -> None:
        """A success: drop a slow-down whose quiet has passed, so the back-off starts over."""
