"""SQLite, the limits slice: the application's clock, and the write lock as the lock of breakers
and holds."""

from __future__ import annotations

import time
from dataclasses import asdict

from ...breaker import BreakerRecord
from ...politeness import Hold
from ...ratelimit import RateLimit, wait_after_denial
from ..limits import (
    BreakerChange,
    Bucket,
    HoldChange,
    breaker_record,
    held_bucket_tat,
    hold_record,
)
from .connection import SQLiteConnection


class SQLiteLimits(SQLiteConnection):
    def clock(self) -> float:
        return time.time()

    def take_token(self, name: str, limit: RateLimit) -> float:
        now = time.time()
        params = {"name": name, "now": now, "interval": limit.interval, "burst": limit.burst}
        with self._write() as cur:
            if cur.execute(self._q["rate_take"], params).fetchone() is not None:
                return 0.0
            row = cur.execute(self._q["rate_peek"], params).fetchone()
        return wait_after_denial(float(row[0]), now, limit)

    def change_breaker(
        self, name: str, change: BreakerChange
    ) -> tuple[BreakerRecord | None, BreakerRecord | None]:
        with self._write() as cur:  # BEGIN IMMEDIATE: no other writer until the change is stored
            row = cur.execute(self._q["breaker_get"], {"name": name}).fetchone()
            before = None if row is None else breaker_record(row)
            after = change(before, time.time())
            if after is not None:
                cur.execute(self._q["breaker_put"], asdict(after))
        return before, after

    def change_hold(
        self, name: str, change: HoldChange, bucket: Bucket | None = None
    ) -> tuple[Hold | None, Hold | None]:
        with self._write() as cur:
            row = cur.execute(self._q["hold_get"], {"name": name}).fetchone()
            before = None if row is None else hold_record(row)
            now = time.time()
            after = change(before, now)
            if after is not None:
                cur.execute(self._q["hold_put"], asdict(after))
                if bucket is not None:
                    tat = held_bucket_tat(after, now, bucket[1])
                    cur.execute(self._q["rate_hold"], {"name": bucket[0], "tat": tat})
        return before, after
